import Foundation
import StafettJournal
import StafettReports
import XCTest
@testable import StafettDaemon

/// `stafett_followup_overdue` follows the journal as records are appended.
final class FollowupMonitorTests: XCTestCase {
    func testOverdueCountsFollowTheJournal() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-monitor-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(directory: dir)
        defer { journal.close() }
        let metrics = Metrics()
        let monitor = FollowupMonitor(journal: dir, organisation: "2120001165", rules: [
            FollowupRule(name: "missing", scope: .case, start: [.event("ReportedMissing")], stop: [.event("Found")],
                         afterMillis: 0, why: "missing"),
            FollowupRule(name: "no-asylum-application", scope: .case, start: [.event("Registered")],
                         stop: [.event("AsylumApplicationLodged")], afterMillis: 7 * 86_400_000, why: "asylum"),
        ], metrics: metrics, log: Logger())
        monitor.start()
        defer { monitor.stop() }
        func overdue(_ rule: String) -> Double? { metrics.value("stafett_followup_overdue", labels: ["rule": rule]) }

        let t0 = Date().addingTimeInterval(-3600)
        try journal.append(JournalEntry(kind: .queued, time: t0, messageId: "m1", intakeId: "2015-17", eventType: "ReportedMissing",
                                        eventTime: t0, sender: "2120001165", recipient: "2021002163"))
        try journal.append(JournalEntry(kind: .queued, time: t0, messageId: "m2", intakeId: "2015-18", eventType: "Registered",
                                        eventTime: t0, sender: "2120001165", recipient: "2021002163"))
        monitor.refreshNow()
        XCTAssertEqual(overdue("missing"), 1)
        XCTAssertEqual(overdue("no-asylum-application"), 0, "registered an hour ago: not yet past its 7 days")
        XCTAssertTrue(metrics.render().contains(#"stafett_followup_overdue{rule="missing"} 1"#), metrics.render())

        try journal.append(JournalEntry(kind: .received, messageId: "m3", intakeId: "2015-17", intakeIdIssuer: "2120001165",
                                        eventType: "Found", eventTime: Date(), sender: "2021002163", recipient: "2120001165"))
        monitor.refreshNow()
        XCTAssertEqual(overdue("missing"), 0)
        monitor.refreshNow(Date().addingTimeInterval(8 * 86_400))
        XCTAssertEqual(overdue("no-asylum-application"), 1, "eight days on, the registration is overdue")
    }
}
