import Foundation
import StafettJournal
import XCTest
@testable import StafettCLI

/// `followup`, `case` and `journal tail` over a journal written in a temp directory, as an
/// operator runs them: issuers, both times, `--check`, failed intake files.
final class FollowupCLITests: XCTestCase {
    let trelleborg = "2120001165", stockholm = "2120000142", migrationsverket = "2021002163"
    let day: TimeInterval = 86_400
    var parent = ""
    var dir: String { parent + "/journal" }
    /// The clock of every command: a fixed "today".
    let today = Date(timeIntervalSince1970: 1_764_900_000)

    override func setUpWithError() throws {
        parent = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-fucli-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: parent) }

    private func write(_ entries: [JournalEntry]) throws {
        let j = try Journal(directory: dir)
        for e in entries { try j.append(e) }
        j.close()
    }

    private func run(_ f: ([String], JournalCLIContext, Console) -> Int32, _ args: [String]) -> (code: Int32, out: String, err: String) {
        var c = JournalCLIContext(journalDirectory: dir, now: { [today] in today })
        c.organisationNames = [trelleborg: "Trelleborgs kommun", stockholm: "Stockholms stad"]
        let console = Console.memory()
        let code = f(args, c, console)
        return (code, console.output, console.errors)
    }

    private func missing(_ id: String, from sender: String, since: Date, sentAt: Date, msg: String) -> JournalEntry {
        JournalEntry(kind: .received, time: sentAt, messageId: msg, caseRef: id, intakeId: id, eventType: "ReportedMissing",
                     eventTime: since, sender: sender, recipient: migrationsverket)
    }

    /// `--check` is 1 while a child is missing and 0 once found; without `--check` the report exits 0.
    func testCheckExitsOneWhileAnythingIsOverdue() throws {
        try write([missing("2015-17", from: trelleborg, since: today - 2 * day, sentAt: today - day, msg: "m1")])
        var r = run(FollowupCommand.run, ["--check"])
        XCTAssertEqual(r.code, ExitCode.invalid, r.out + r.err)
        XCTAssertTrue(r.out.contains("missing"), r.out)
        XCTAssertEqual(run(FollowupCommand.run, []).code, ExitCode.ok)
        XCTAssertEqual(run(FollowupCommand.run, ["--check", "--overdue", "3d"]).code, ExitCode.ok, "--check counts what --overdue keeps")
        let j = try Journal(directory: dir)
        try j.append(JournalEntry(kind: .received, time: today, messageId: "m2", caseRef: "2015-17", intakeId: "2015-17",
                                  eventType: "Found", eventTime: today, sender: trelleborg, recipient: migrationsverket))
        j.close()
        r = run(FollowupCommand.run, ["--check"])
        XCTAssertEqual(r.code, ExitCode.ok, r.out + r.err)
        XCTAssertTrue(r.out.hasPrefix("Nothing to follow up"), r.out)
    }

    /// Text, JSON and CSV show the event's time first, then when it was journaled.
    func testReportsShowTheEventsTimeThenTheRecordedTime() throws {
        let since = today - 10 * day, sent = today - 3600
        try write([missing("2015-17", from: trelleborg, since: since, sentAt: sent, msg: "m1")])
        let text = run(FollowupCommand.run, []).out
        let header = try XCTUnwrap(text.split(separator: "\n").first)
        let eventColumn = try XCTUnwrap(header.range(of: "EVENT TIME")), recordedColumn = try XCTUnwrap(header.range(of: "RECORDED"))
        XCTAssertLessThan(eventColumn.lowerBound, recordedColumn.lowerBound, text)
        let row = String(try XCTUnwrap(text.split(separator: "\n").dropFirst().first))
        XCTAssertTrue(row.hasPrefix("10d"), "ten days overdue on the day it was sent: \(row)")
        let shownEvent = try XCTUnwrap(row.range(of: TimeText(utc: false).text(millis: Int64(since.timeIntervalSince1970 * 1000))))
        let shownRecorded = try XCTUnwrap(row.range(of: TimeText(utc: false).text(millis: Int64(sent.timeIntervalSince1970 * 1000))))
        XCTAssertLessThan(shownEvent.lowerBound, shownRecorded.lowerBound, row)

        let json = run(FollowupCommand.run, ["-o", "json"]).out
        let item = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])?.first)
        XCTAssertEqual(item["eventTime"] as? String, ISOTime.format(millis: Int64(since.timeIntervalSince1970 * 1000)))
        XCTAssertEqual(item["recorded"] as? String, ISOTime.format(millis: Int64(sent.timeIntervalSince1970 * 1000)))
        XCTAssertEqual(item["overdueSeconds"] as? Int, Int(10 * day))
        let eventKey = try XCTUnwrap(json.range(of: "\"eventTime\"")), recordedKey = try XCTUnwrap(json.range(of: "\"recorded\""))
        XCTAssertLessThan(eventKey.lowerBound, recordedKey.lowerBound)

        let csv = String(decoding: Data(run(FollowupCommand.run, ["-o", "csv"]).out.utf8).dropFirst(3), as: UTF8.self)
        XCTAssertTrue(csv.hasPrefix("Försenad (timmar);Regel;Händelsetid;Journalförd;"), csv)
    }

    /// A bare intake id of two issuers asks which (exit 2, with the names the config gives);
    /// ISSUER:ID, in either spelling of the organisation number, answers; history by event time.
    func testCaseAsksWhichIssuerAndOrdersByEventTime() throws {
        try write([
            missing("2015-17", from: trelleborg, since: today - 2 * day, sentAt: today - day, msg: "tre-1"),
            missing("2015-17", from: stockholm, since: today - 2 * day, sentAt: today - day, msg: "sto-1"),
            // Journaled last, happened first: Trelleborg's registration, sent late.
            JournalEntry(kind: .received, time: today, messageId: "tre-0", caseRef: "2015-17", intakeId: "2015-17",
                         eventType: "Registered", eventTime: today - 30 * day, sender: trelleborg, recipient: migrationsverket),
        ])
        let ask = run(CaseCommand.run, ["2015-17"])
        XCTAssertEqual(ask.code, ExitCode.usage, ask.out + ask.err)
        XCTAssertTrue(ask.err.contains("stafett case \(stockholm):2015-17    (Stockholms stad)"), ask.err)
        XCTAssertTrue(ask.err.contains("stafett case \(trelleborg):2015-17    (Trelleborgs kommun)"), ask.err)

        for ref in ["\(trelleborg):2015-17", "212000-1165:2015-17"] {
            let one = run(CaseCommand.run, [ref, "-o", "json"])
            XCTAssertEqual(one.code, ExitCode.ok, one.err)
            let records = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(one.out.utf8)) as? [[String: Any]])
            XCTAssertEqual(records.map { $0["msg"] as? String }, ["tre-0", "tre-1"], "by event time: \(one.out)")
        }
        let text = run(CaseCommand.run, ["\(trelleborg):2015-17"]).out
        XCTAssertTrue(text.contains("Child: \(trelleborg):2015-17"), text)
        XCTAssertTrue(text.contains("EVENT TIME") && text.contains("RECORDED"), text)
        XCTAssertEqual(run(CaseCommand.run, ["\(migrationsverket):2015-17"]).code, ExitCode.notFound)
    }

    /// A failed intake file is in the report with its name and reason; `journal tail` shows
    /// event times.
    func testFailedIntakeFileIsReportedAndTailShowsEventTime() throws {
        try write([
            JournalEntry.intake(accepted: false, file: "monday.csv", digest: String(repeating: "a", count: 64), keyer: nil,
                                reason: "1 error(s): monday.csv line 3: Födelsedatum 2015-13-01 is not a date",
                                sender: nil, time: today - 3600),
            missing("2015-17", from: trelleborg, since: today - 2 * day, sentAt: today - day, msg: "m1"),
        ])
        let report = run(FollowupCommand.run, ["--check"])
        XCTAssertEqual(report.code, ExitCode.invalid)
        let row = try XCTUnwrap(report.out.split(separator: "\n").first { $0.contains("intake-failed") })
        XCTAssertTrue(row.contains("file monday.csv") && row.contains("line 3: Födelsedatum"), String(row))
        let tail = run(JournalCommand.run, ["tail", "--kind", "received"]).out
        XCTAssertTrue(tail.contains(" at=\(TimeText(utc: false).text(millis: Int64((today - 2 * day).timeIntervalSince1970 * 1000), .milliseconds))"), tail)
    }
}
