import Foundation
import StafettModel
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

    /// The event's time and the intake id's issuer go beside the fields they belong to (`et`
    /// after `event`, `iss` after `intake`) and read back exactly; without them the payload is
    /// byte for byte what the first format wrote.
    func testEventTimeAndIssuerRoundTripInTheirPlaces() throws {
        let et = Date(timeIntervalSince1970: 1_445_868_000.250)  // 2015-10-26T14:00:00.250Z
        let e = JournalEntry(kind: .queued, time: Date(timeIntervalSince1970: 1_764_900_000), messageId: "m1",
                             intakeId: "GBG-7731", intakeIdIssuer: "2120001355", eventType: "Found", eventTime: et,
                             sender: "2120000142", recipient: "2120001355", sequence: 9)
        let text = String(decoding: EntryCodec.encode(e), as: UTF8.self)
        XCTAssertEqual(text, #"{"seq":9,"t":"2025-12-05T02:00:00.000Z","kind":"queued","msg":"m1","intake":"GBG-7731","iss":"2120001355","#
                       + #""event":"Found","et":"2015-10-26T14:00:00.250Z","from":"2120000142","to":"2120001355"}"#)
        let back = try EntryCodec.encode(e).withUnsafeBytes { try EntryCodec.decode($0) }
        XCTAssertEqual(back, e)
        XCTAssertEqual(back.eventTime, et)
        XCTAssertEqual(back.intakeIdIssuerOrSender, "2120001355")

        var plain = e
        plain.eventTimeMillis = nil
        plain.intakeIdIssuer = nil
        XCTAssertEqual(String(decoding: EntryCodec.encode(plain), as: UTF8.self),
                       #"{"seq":9,"t":"2025-12-05T02:00:00.000Z","kind":"queued","msg":"m1","intake":"GBG-7731","#
                       + #""event":"Found","from":"2120000142","to":"2120001355"}"#)
        XCTAssertEqual(plain.intakeIdIssuerOrSender, "2120000142", "no issuer named: the sender's own id")
    }

    /// An event time the 24-byte form cannot hold (the schema allows year 10000) is left out, so
    /// the record stays readable; the record's own time is not affected.
    func testAnEventTimeBeyondYear9999IsLeftOut() throws {
        var e = JournalEntry(kind: .received, messageId: "m", eventType: "Found")
        for ms: Int64 in [253_402_300_800_000, -62_135_596_800_001] {
            e.eventTimeMillis = ms
            let back = try EntryCodec.encode(e).withUnsafeBytes { try EntryCodec.decode($0) }
            XCTAssertNil(back.eventTimeMillis)
            XCTAssertEqual(back.timeMillis, e.timeMillis)
        }
        e.eventTimeMillis = 253_402_300_799_999
        XCTAssertEqual(try EntryCodec.encode(e).withUnsafeBytes { try EntryCodec.decode($0) }.eventTimeMillis, 253_402_300_799_999)
    }

    /// A record about a case message takes its event's time and its intake id's issuer from the
    /// message; an issuer equal to the sender is not journaled.
    func testAboutAMessageCarriesItsEventTimeAndIssuer() throws {
        let found = try CaseMessage(
            header: MessageHeader(messageId: MessageID("sthlm-1"), createdAt: Date(timeIntervalSince1970: 1_764_900_000),
                                  sender: OrganisationNumber("2120000142"), recipient: OrganisationNumber("2120001355")),
            child: Child(givenName: "A", familyName: "B",
                         identifiers: ChildIdentifiers(intakeId: "GBG-7731", intakeIdIssuer: OrganisationNumber("2120001355"))),
            event: CaseEvent(type: .found, time: Date(timeIntervalSince1970: 1_445_868_000)))
        let e = JournalEntry.about(found, kind: .received, digest: nil, keyer: nil)
        XCTAssertEqual(e.eventTimeMillis, 1_445_868_000_000)
        XCTAssertEqual(e.intakeIdIssuer, "2120001355")
        var own = found
        own.child.identifiers.intakeIdIssuer = own.header.sender
        XCTAssertNil(JournalEntry.about(own, kind: .received, digest: nil, keyer: nil).intakeIdIssuer)
        own.child.identifiers.intakeIdIssuer = nil
        XCTAssertEqual(JournalEntry.about(own, kind: .received, digest: nil, keyer: nil).intakeIdIssuerOrSender, "2120000142")
        let intake = JournalEntry.intake(accepted: true, file: "a.csv", digest: "cd", identifiers: found.child.identifiers,
                                         keyer: nil, sender: found.header.sender)
        XCTAssertEqual(intake.intakeIdIssuer, "2120001355")
        XCTAssertEqual(intake.sender, "2120000142")
    }

    func testIntegers() {
        for v: UInt64 in [0, 7, 9, 10, 11, 99, 100, 101, 1_000, 65_535, 1_000_000_007, UInt64(Int64.max), UInt64.max] {
            var out: [UInt8] = []
            EntryCodec.appendInt(v, &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), String(v))
        }
    }
}
