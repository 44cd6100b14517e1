import Foundation
import XCTest
@testable import StafettJournal

/// The payload encoder's string and number writers against Foundation's JSON reader.
final class EntryCodecTests: XCTestCase {
    func testStringsRoundTripThroughAJSONReader() throws {
        let receipt = #"<Receipt xmlns="urn:stafett:receipt:1"><Detail>a\b "c"</Detail></Receipt>"#
        var samples = ["", "plain", "\"", "\\", "\"\"\\\\", "line\nbreak\r\ttab", "\u{01}\u{1F}\u{00}x",
                       "Åsa Öberg-Ünal é", "🧒 emoji", receipt, String(repeating: receipt + "\n", count: 40)]
        samples.append(String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) }))
        for s in samples {
            var out: [UInt8] = Array("[".utf8)
            EntryCodec.appendString(s, &out)
            out.append(contentsOf: Array("]".utf8))
            let decoded = try JSONSerialization.jsonObject(with: Data(out)) as? [String]
            XCTAssertEqual(decoded, [s], String(decoding: out, as: UTF8.self))
            // No raw control character, quote or backslash leaks through unescaped.
            XCTAssertFalse(out.dropFirst(2).dropLast(2).contains { $0 < 0x20 })
        }
    }

    /// Every field at its longest escape (control characters become six bytes each), a seal
    /// included: the encoder's reserved room holds it, and the payload reads back as the entry.
    func testWorstCaseEscapesInEveryFieldRoundTrip() throws {
        let nasty = String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }) + "\"\\"
        var e = JournalEntry(kind: .checkpoint, messageId: nasty, caseRef: nasty, intakeId: nasty, dossierNumber: nasty,
                             personKey: nasty, eventType: nasty, sender: nasty, recipient: nasty, digest: nasty,
                             status: nasty, reason: nasty, file: nasty,
                             checkpoint: CheckpointSeal(upTo: UInt64.max, chainHash: nasty, algorithm: nasty, signature: nasty),
                             sequence: UInt64.max)
        e.receipt = String(repeating: nasty, count: 200)
        let bytes = EntryCodec.encode(e)
        let back = try bytes.withUnsafeBytes { try EntryCodec.decode($0) }
        XCTAssertEqual(back, e)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testIntegers() {
        for v: UInt64 in [0, 7, 9, 10, 11, 99, 100, 101, 1_000, 65_535, 1_000_000_007, UInt64(Int64.max), UInt64.max] {
            var out: [UInt8] = []
            EntryCodec.appendInt(v, &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), String(v))
        }
    }
}
