import Foundation
import StafettJournal
import XCTest
@testable import StafettReports

/// Issue 12's report side: intake ids by issuer, deadlines from the event's time, failed intake
/// files and withdrawn messages in the report. Real journals in temp directories.
final class FollowupTruthTests: XCTestCase {
    let trelleborg = "2120001165", malmo = "2120001124", migrationsverket = "2021002163"
    let day: Int64 = 86_400_000
    var parent = ""
    var dir = ""

    override func setUpWithError() throws {
        parent = try makeTempDirectory("truth")
        dir = parent + "/journal"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: parent) }

    private func write(_ entries: [JournalEntry]) throws {
        let j = try Journal(directory: dir)
        for e in entries { try j.append(e) }
        j.close()
    }

    private func at(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }

    /// Two municipalities' `2015-17` are two children at the agency that receives both: a `Found`
    /// from one closes only its own child's `ReportedMissing`, and a bare look-up asks which.
    func testIntakeIdsOfTwoIssuersAreTwoChildren() throws {
        let t0: Int64 = 1_764_900_000_000
        try write([
            JournalEntry(kind: .received, time: at(t0), messageId: "tre-missing", intakeId: "2015-17",
                         eventType: "ReportedMissing", eventTime: at(t0), sender: trelleborg, recipient: migrationsverket),
            JournalEntry(kind: .received, time: at(t0 + 60_000), messageId: "mal-missing", intakeId: "2015-17",
                         eventType: "ReportedMissing", eventTime: at(t0), sender: malmo, recipient: migrationsverket),
            JournalEntry(kind: .received, time: at(t0 + day), messageId: "mal-found", intakeId: "2015-17",
                         eventType: "Found", eventTime: at(t0 + day), sender: malmo, recipient: migrationsverket),
        ])
        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
        let items = p.report(now: t0 + 2 * day)
        let missing = items.filter { $0.rule == "missing" }
        XCTAssertEqual(missing.count, 1, "\(items)")
        XCTAssertEqual(missing.first?.organisations, [trelleborg, migrationsverket], "Trelleborg's child is still missing")
        XCTAssertEqual(p.stats.cases, 2)

        XCTAssertEqual(try CaseHistory.lookup(directory: dir, ref: "2015-17", personKey: nil),
                       .ambiguous(issuers: [malmo, trelleborg]))
        guard case let .found(records) = try CaseHistory.lookup(directory: dir, ref: "2015-17", issuer: malmo, personKey: nil) else {
            return XCTFail("Malmö's 2015-17 not found")
        }
        XCTAssertEqual(records.compactMap(\.messageId), ["mal-missing", "mal-found"])
    }

    /// A record naming another organisation as the intake id's issuer joins that organisation's
    /// child: Migrationsverket's `Found` about Trelleborg's `2015-17` closes Trelleborg's case.
    func testANamedIssuerJoinsThatIssuersChild() throws {
        let t0: Int64 = 1_764_900_000_000
        try write([
            JournalEntry(kind: .queued, time: at(t0), messageId: "m1", intakeId: "2015-17", eventType: "ReportedMissing",
                         eventTime: at(t0), sender: trelleborg, recipient: migrationsverket),
            JournalEntry(kind: .queued, time: at(t0), messageId: "m2", intakeId: "2015-17", eventType: "ReportedMissing",
                         eventTime: at(t0), sender: trelleborg, recipient: malmo),
            JournalEntry(kind: .received, time: at(t0 + day), messageId: "m3", intakeId: "2015-17", intakeIdIssuer: trelleborg,
                         eventType: "Found", eventTime: at(t0 + day), sender: migrationsverket, recipient: trelleborg),
        ])
        let items = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults).report(now: t0 + 2 * day)
        XCTAssertNil(items.first { $0.rule == "missing" }, "\(items)")
        guard case let .found(records) = try CaseHistory.lookup(directory: dir, ref: "2015-17", personKey: nil) else {
            return XCTFail("one issuer: no question to ask")
        }
        XCTAssertEqual(records.count, 3)
    }

    /// A child missing since ten days ago, reported today, is ten days overdue today; the item
    /// carries both times. The no-receipt rule still counts from the record.
    func testDeadlinesCountFromTheEventsTime() throws {
        let sent: Int64 = 1_764_900_000_000
        let missingSince = sent - 10 * day
        try write([
            JournalEntry(kind: .queued, time: at(sent), messageId: "m1", intakeId: "2015-17", eventType: "ReportedMissing",
                         eventTime: at(missingSince), sender: trelleborg, recipient: migrationsverket),
        ])
        let items = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults).report(now: sent + 2 * 3_600_000)
        let missing = try XCTUnwrap(items.first { $0.rule == "missing" })
        XCTAssertEqual(missing.overdueMillis, 10 * day + 2 * 3_600_000)
        XCTAssertEqual(missing.sinceMillis, missingSince)
        XCTAssertEqual(missing.eventMillis, missingSince)
        XCTAssertEqual(missing.recordedMillis, sent)
        let noReceipt = try XCTUnwrap(items.first { $0.rule == "no-receipt" })
        XCTAssertEqual(noReceipt.overdueMillis, 3_600_000, "a message's own journey counts from its record")
        XCTAssertEqual(noReceipt.eventMillis, missingSince)
    }

    /// A failed intake file is listed with its name and reason until a file of that name is
    /// accepted; another failed file stays listed.
    func testFailedIntakeFilesAreListedUntilDroppedAgain() throws {
        let t0: Int64 = 1_764_900_000_000
        try write([
            JournalEntry.intake(accepted: false, file: "monday.csv", digest: String(repeating: "a", count: 64), keyer: nil,
                                reason: "2 error(s): monday.csv line 3: Födelsedatum 2015-13-01 is not a date", time: at(t0)),
            JournalEntry.intake(accepted: false, file: "tuesday.csv", digest: String(repeating: "b", count: 64), keyer: nil,
                                reason: "1 error(s): tuesday.csv line 2: no recipient", time: at(t0 + 60_000)),
            JournalEntry.intake(accepted: true, file: "monday.csv", digest: String(repeating: "c", count: 64), keyer: nil,
                                reason: "1 message(s)", time: at(t0 + 120_000)),
        ])
        let items = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults).report(now: t0 + day)
        let failed = items.filter { $0.rule == "intake-failed" }
        XCTAssertEqual(failed.map(\.file), ["tuesday.csv"], "\(items)")
        XCTAssertEqual(failed.first?.reason, "1 error(s): tuesday.csv line 2: no recipient")
        XCTAssertNil(failed.first?.messageId)
    }

    /// A withdrawn message closes its no-receipt item and is listed until a later message for the
    /// same child is queued.
    func testWithdrawnMessagesAreListedUntilANewOneIsQueued() throws {
        let t0: Int64 = 1_764_900_000_000
        func queued(_ id: String, _ intake: String, _ t: Int64) -> JournalEntry {
            JournalEntry(kind: .queued, time: at(t), messageId: id, intakeId: intake, eventType: "Placed",
                         eventTime: at(t0), sender: trelleborg, recipient: migrationsverket)
        }
        try write([
            queued("w1", "2015-20", t0), queued("w2", "2015-21", t0),
            JournalEntry(kind: .withdrawn, time: at(t0 + 60_000), messageId: "w1", intakeId: "2015-20", eventType: "Placed",
                         eventTime: at(t0), sender: trelleborg, recipient: migrationsverket, reason: "wrong-recipient"),
            JournalEntry(kind: .withdrawn, time: at(t0 + 60_000), messageId: "w2", intakeId: "2015-21", eventType: "Placed",
                         eventTime: at(t0), sender: trelleborg, recipient: migrationsverket, reason: "duplicate"),
            queued("w3", "2015-21", t0 + 120_000),
            JournalEntry(kind: .delivered, time: at(t0 + 180_000), messageId: "w3", intakeId: "2015-21",
                         sender: trelleborg, recipient: migrationsverket),
        ])
        let items = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults).report(now: t0 + day)
        XCTAssertEqual(items.map { "\($0.rule) \($0.identifiers)" }, ["withdrawn [\"2015-20\"]"])
    }

    /// Intake records written before records named their sender hold the node's own intake ids:
    /// they join the messages the node queued from them.
    func testOldIntakeRecordsJoinTheNodesOwnIds() throws {
        let t0: Int64 = 1_764_900_000_000
        var old = JournalEntry.intake(accepted: true, file: "a.csv", digest: String(repeating: "a", count: 64), keyer: nil,
                                      eventType: .reportedMissing, time: at(t0))
        old.intakeId = "2015-17"
        try write([
            old,
            JournalEntry(kind: .queued, time: at(t0), messageId: "m1", intakeId: "2015-17", eventType: "ReportedMissing",
                         sender: trelleborg, recipient: migrationsverket),
        ])
        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
        _ = p.report(now: t0)
        XCTAssertEqual(p.stats.cases, 1)
        let told = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults, organisation: malmo)
        _ = told.report(now: t0)
        XCTAssertEqual(told.stats.cases, 2, "told it is Malmö's journal, the old intake ids are Malmö's")
    }
}
