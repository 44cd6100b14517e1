import Foundation
import XCTest
@testable import StafettModel

/// Issue 14: a pathological file is refused by what it is, early, without a cell or an error kept
/// per field. (`IntakeCommandTests` measures the memory of a `stafett validate` child.)
final class IntakeMemoryTests: XCTestCase {
    private let header = "Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid;Anteckning\r\n"

    func testOneLongLineOfSeparatorsIsRefusedOnceForTooManyValues() {
        let line = String(repeating: "a;", count: 2 << 20)  // 4 MiB, two million values
        let errors = parseErrors(line, file: "outbox/line.csv").map(\.description)
        XCTAssertEqual(errors, ["outbox/line.csv row 1: this row has more than \(CSVReader.maxFieldsPerRow) values: "
            + "check the separator, or whether the file is CSV at all"])
    }

    /// Like any syntax error, it is what the report says: the records are checked once it is fixed.
    func testARecordWithTooManyValuesIsRefusedAtItsLine() {
        let good = "A-1;Åsa;Öberg;registrerad;2015-10-23 06:40;ok\r\n"
        let wide = "A-2;Ali;Khan;registrerad;2015-10-23 06:40;" + String(repeating: ";", count: 5000) + "x\r\n"
        let bad = "A-3;Ali;Khan;registrerad;igår;ok\r\n"
        let errors = parseErrors(header + good + wide + bad)
        XCTAssertEqual(errors.map(\.location), [.row(3, line: 3)])
        XCTAssertTrue(errors.first?.reason.hasPrefix("this row has more than \(CSVReader.maxFieldsPerRow) values") == true,
                      "\(errors)")
    }

    func testACellLongerThanAnyFieldIsRefusedByItsColumn() {
        let long = String(repeating: "x", count: CSVIntake.maxCellBytes + 1)
        let errors = parseErrors(header + "A-1;Åsa;Öberg;registrerad;2015-10-23 06:40;\(long)\r\n")
        XCTAssertEqual(errors.map(\.description), ["outbox/test.csv row 2: column 6 holds more than \(CSVIntake.maxCellBytes) "
            + "bytes: no field is that long; check for a quote (\") that is never closed"])
        // The same length in a header cell: not a header.
        let headerErrors = parseErrors("\(long);Förnamn\r\nA-1;Åsa\r\n")
        XCTAssertEqual(headerErrors.map(\.location), [.row(1, line: 1)])
        XCTAssertTrue(headerErrors[0].reason.contains("cannot be the header row"), headerErrors[0].reason)
    }

    /// Text after a closing quote in each of 100 000 values: the report stops at the
    /// error cap instead of keeping a reason per value.
    func testSyntaxErrorsStopAtTheErrorCap() throws {
        let line = String(repeating: "\"a\"b\r\n", count: 100_000)
        let limits = IntakeLimits(maxErrors: 50)
        guard case .failure(let f) = IntakeParser.parse(data: Data((header + line).utf8), fileName: "q.csv",
                                                         referenceDate: intakeNow, limits: limits) else {
            return XCTFail("a file of broken quotes was accepted")
        }
        XCTAssertEqual(f.errors.count, 50)
        XCTAssertTrue(f.truncated)
    }

    /// One, two and three bytes of UTF-8 per byte: the text is sized before it is written.
    func testWindows1252OfEveryWidthIsTranscodedWhole() {
        let bytes: [UInt8] = [0x41, 0x80, 0xE5, 0x81, 0x9C]
        XCTAssertEqual(TextDecoder.windows1252ToUTF8(bytes), Array("A€å\u{81}œ".utf8))
    }
}
