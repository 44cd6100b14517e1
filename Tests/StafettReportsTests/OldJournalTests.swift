import Foundation
import StafettCrypto
import XCTest
@testable import StafettJournal
@testable import StafettReports

/// A journal written before records carried the event's time (`et`) and the intake id's issuer
/// (`iss`), kept as bytes in Tests/Fixtures/journal-v1: it must still decode, verify and report,
/// and a writer of this version must go on appending to it.
final class OldJournalTests: XCTestCase {
    private static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/journal-v1")

    /// A copy of the old journal in a temporary directory (the fixture itself is never opened for writing).
    private func copyOfOldJournal() throws -> (parent: String, journal: String) {
        let parent = try makeTempDirectory("old")
        let journal = parent + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let segment = "journal-0000000000000001.log"
        try FileManager.default.copyItem(atPath: Self.fixture.appendingPathComponent("journal/" + segment).path,
                                         toPath: journal + "/" + segment)
        return (parent, journal)
    }

    private func oldKey() throws -> Key {
        try Certificate.load(path: Self.fixture.appendingPathComponent("node.pem").path).publicKey()
    }

    /// CRC, hash chain and the checkpoint's signature over the old bytes, as they are.
    func testOldJournalVerifies() throws {
        let (parent, dir) = try copyOfOldJournal()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let walk = try JournalWalker(directory: dir, checkpointKey: try oldKey()).walk()
        XCTAssertNil(walk.damage)
        XCTAssertEqual(walk.tail, .clean)
        XCTAssertEqual(walk.records, 8)
        XCTAssertEqual(walk.checkpointsVerified, 1)
    }

    /// Every old record decodes, without event time or issuer, and the readers agree on it.
    func testOldRecordsDecodeWithoutTheNewFields() throws {
        let (parent, dir) = try copyOfOldJournal()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        var entries: [JournalEntry] = []
        _ = try JournalWalker(directory: dir).walk { r in
            let e = try EntryCodec.decode(r.payload)
            entries.append(e)
            // The old bytes are exactly what this version writes for the same entry: nothing in
            // the format moved for records that carry neither new field.
            XCTAssertEqual(EntryCodec.encode(e), Array(r.payload), "record \(r.sequence)")
            var events = EventNames()
            if e.kind != .checkpoint {
                let lite = try XCTUnwrap(LiteRecord.parseWritten(r.payload, events: &events), "record \(r.sequence)")
                XCTAssertNil(lite.eventTime)
                XCTAssertEqual(lite.intakeIdIssuer, e.sender.flatMap { UInt64($0) } ?? 0)
            }
        }
        XCTAssertEqual(entries.map(\.kind), [.intakeAccepted, .queued, .sent, .delivered, .queued, .received, .intakeFailed, .checkpoint])
        XCTAssertTrue(entries.allSatisfy { $0.eventTimeMillis == nil && $0.intakeIdIssuer == nil })
        XCTAssertEqual(entries[4].intakeIdIssuerOrSender, "2120001124", "an old record's intake id is its sender's")
        XCTAssertEqual(entries[5].intakeId, #"MAL-"7""#)
        XCTAssertEqual(entries[5].intakeIdIssuerOrSender, "2120001355")
        XCTAssertNil(entries[0].intakeIdIssuerOrSender, "an old intake record names no sender")
    }

    /// Follow-up over the old journal still lists the child reported missing and never found,
    /// counting from the record's time (old records have no event time).
    func testOldJournalStillReports() throws {
        let (parent, dir) = try copyOfOldJournal()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
        let queuedAt: Int64 = 1_764_900_060_000  // record 5, 2025-12-05T02:01:00Z
        let items = p.report(now: queuedAt + 3_600_000)
        let missing = try XCTUnwrap(items.first { $0.rule == "missing" }, "\(items)")
        XCTAssertEqual(missing.sinceMillis, queuedAt)
        XCTAssertTrue(missing.identifiers.contains("TRE-2015-17"), "\(missing.identifiers)")
        XCTAssertNil(items.first { $0.messageId == "old-m1" }, "the delivered message needs nobody")
    }

    /// A writer of this version appends records with the new fields after the old ones: the
    /// mixed journal verifies, and both kinds read back.
    func testNewRecordsAppendToAnOldJournal() throws {
        let (parent, dir) = try copyOfOldJournal()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: dir)
        let et = Date(timeIntervalSince1970: 1_764_800_000)
        try j.append(JournalEntry(kind: .received, messageId: "new-1", intakeId: "TRE-2015-17", intakeIdIssuer: "2120001124",
                                  eventType: "Found", eventTime: et, sender: "2120001355", recipient: "2120001124"))
        j.close()
        var entries: [JournalEntry] = []
        let walk = try JournalWalker(directory: dir, checkpointKey: try oldKey()).walk { r in
            entries.append(try EntryCodec.decode(r.payload))
        }
        XCTAssertNil(walk.damage)
        XCTAssertEqual(walk.records, 9, "no signing key here: the close adds no checkpoint")
        let new = try XCTUnwrap(entries.last)
        XCTAssertEqual(new.sequence, 9)
        XCTAssertEqual(new.eventTime, et)
        XCTAssertEqual(new.intakeIdIssuerOrSender, "2120001124", "Malmö's Found names Trelleborg's id")
        XCTAssertEqual(entries[4].intakeIdIssuerOrSender, "2120001124", "Trelleborg's own id, recorded before issuers were")
    }
}
