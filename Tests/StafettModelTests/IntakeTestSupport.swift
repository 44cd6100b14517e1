import Foundation
import XCTest
@testable import StafettModel

/// 2015-11-05 12:00 UTC: "now" for every intake test.
let intakeNow = Date(timeIntervalSince1970: 1_446_724_800)

/// Parses text (as UTF-8) or bytes and returns the records, failing the test on errors.
func parseOK(_ text: String, file: String = "outbox/test.csv", line: UInt = #line,
             callerFile: StaticString = #filePath) -> [IntakeRecord] {
    parseOK(Data(text.utf8), file: file, line: line, callerFile: callerFile)
}

func parseOK(_ data: Data, file: String, line: UInt = #line, callerFile: StaticString = #filePath) -> [IntakeRecord] {
    switch IntakeParser.parse(data: data, fileName: file, referenceDate: intakeNow) {
    case .success(let r): return r
    case .failure(let f):
        XCTFail("unexpected errors:\n\(f.report)", file: callerFile, line: line)
        return []
    }
}

/// Parses text that must fail and returns the errors.
func parseErrors(_ text: String, file: String = "outbox/test.csv", line: UInt = #line,
                 callerFile: StaticString = #filePath) -> [IntakeError] {
    switch IntakeParser.parse(data: Data(text.utf8), fileName: file, referenceDate: intakeNow) {
    case .success(let r):
        XCTFail("expected errors, got \(r.count) records", file: callerFile, line: line)
        return []
    case .failure(let f): return f.errors
    }
}

/// The repository's `Schemas/examples/intake` folder, found from this source file.
let intakeExamples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Schemas/examples/intake")

/// Windows-1252 bytes for a string, from a table written here (independent of the parser's).
func windows1252(_ s: String) -> Data {
    let high: [Unicode.Scalar: UInt8] = ["€": 0x80, "š": 0x9A, "œ": 0x9C, "Š": 0x8A, "’": 0x92, "–": 0x96]
    var out = Data()
    for u in s.unicodeScalars {
        if u.value < 0x80 || (0xA0...0xFF).contains(u.value) { out.append(UInt8(u.value)) }
        else if let b = high[u] { out.append(b) }
        else { XCTFail("no 1252 byte for \(u)") }
    }
    return out
}

/// A minimal valid CSV header and row builder: Swedish headers, `;`.
let minimalHeader = "Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid"

/// The last four digits of a valid personnummer for a stem `YYYYMMDDNN`: the stem's NN, a 3, and
/// the Luhn check digit.
func luhnTail(_ twelveStem: String) -> String {
    let stem = twelveStem.dropFirst(2) + "3"
    for c in 0...9 where Luhn.isValid((stem + String(c)).utf8.map { $0 - 48 }) {
        return String(twelveStem.suffix(2)) + "3" + String(c)
    }
    return "0000"
}
