import Foundation
import XCTest
@testable import StafettCLI
import StafettDaemon

/// Follow-up as an agency sees it, against running daemons: two municipalities' children with the
/// same intake id, deadlines from the event's time, `followup --check`, and `queue delete`.
final class DaemonFollowupTests: XCTestCase {
    let A = Members.a.0, B = Members.b.0, C = Members.c.0
    let agency = Members.b.2

    /// An intake CSV with one record for intake id `id`, sent to Migrationsverket.
    private func csv(id: String, event: String, at time: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "Europe/Stockholm")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return "Ärendenummer;Förnamn;Efternamn;Födelsedatum;Händelse;Händelsetid;Plats;Mottagare\r\n"
            + "\(id);Ali;Nouri;2005-01-01;\(event);\(f.string(from: time));Trelleborg;\(agency)\r\n"
    }

    private func followup(_ h: DaemonHarness, _ args: [String] = []) throws -> (code: Int32, out: String, err: String) {
        try h.cli.run(["followup", "--config", h.b.configPath] + args)
    }

    /// Trelleborg and Stockholm each report their `2015-17` missing to Migrationsverket; Trelleborg's
    /// child is found. Stockholm's child is still listed, `case 2015-17` asks which issuer, and
    /// `followup --check` says 1 until Stockholm's child is found too.
    func testTwoMunicipalitiesSameIntakeIdAreTwoChildren() throws {
        let h = try DaemonHarness()
        try h.start(B)
        try h.start(A)
        try h.start(C)
        let now = Date()
        try h.drop(csv(id: "2015-17", event: "avviken", at: now.addingTimeInterval(-10 * 86_400)), as: "tre-missing.csv", into: A)
        try h.drop(csv(id: "2015-17", event: "avviken", at: now.addingTimeInterval(-3600)), as: "sto-missing.csv", into: C)
        XCTAssertTrue(h.wait(30) { h.inbox(B).count == 2 }, h.log(A) + h.log(C))

        var check = try followup(h, ["--check", "-o", "json"])
        XCTAssertEqual(check.code, 1, check.out + check.err)
        var items = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(check.out.utf8)) as? [[String: Any]])
        var missing = items.filter { $0["rule"] as? String == "missing" }
        XCTAssertEqual(missing.count, 2, check.out)
        // Trelleborg's child went missing ten days ago, reported today: ten days overdue today.
        let tre = try XCTUnwrap(missing.first { ($0["organisations"] as? [String])?.contains(Members.a.2) == true })
        let overdue = try XCTUnwrap(tre["overdueSeconds"] as? Int)
        XCTAssertTrue((10 * 86_400 - 120)...(10 * 86_400 + 600) ~= overdue, "overdue \(overdue) s")
        XCTAssertNotNil(tre["eventTime"], "\(tre)")
        XCTAssertNotNil(tre["recorded"], "\(tre)")

        try h.drop(csv(id: "2015-17", event: "återfunnen", at: now), as: "tre-found.csv", into: A)
        XCTAssertTrue(h.wait(30) { h.inbox(B).count == 3 }, h.log(A))
        check = try followup(h, ["--check", "-o", "json"])
        XCTAssertEqual(check.code, 1, "Stockholm's child is still missing: " + check.out)
        items = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(check.out.utf8)) as? [[String: Any]])
        missing = items.filter { $0["rule"] as? String == "missing" }
        XCTAssertEqual(missing.map { $0["organisations"] as? [String] ?? [] }, [[Members.c.2, agency]], check.out)

        let ask = try h.cli.run(["case", "2015-17", "--config", h.b.configPath])
        XCTAssertEqual(ask.code, ExitCode.usage, ask.out + ask.err)
        XCTAssertTrue(ask.err.contains("stafett case \(Members.a.2):2015-17") && ask.err.contains("stafett case \(Members.c.2):2015-17"), ask.err)
        XCTAssertTrue(ask.err.contains(A) && ask.err.contains(C), "the issuers' names from the config: " + ask.err)
        let one = try h.cli.run(["case", "212000-1165:2015-17", "--config", h.b.configPath])
        XCTAssertEqual(one.code, 0, one.err)
        XCTAssertTrue(one.out.contains("ReportedMissing") && one.out.contains("Found"), one.out)
        XCTAssertTrue(one.out.contains("EVENT TIME") && one.out.contains("RECORDED"), one.out)

        try h.drop(csv(id: "2015-17", event: "återfunnen", at: now), as: "sto-found.csv", into: C)
        XCTAssertTrue(h.wait(30) { h.inbox(B).count == 4 }, h.log(C))
        check = try followup(h, ["--check"])
        XCTAssertEqual(check.code, 0, check.out + check.err)
    }

    /// `queue delete` withdraws a waiting message: it never reaches the peer, the journal holds
    /// `withdrawn` with the reason code and none of the operator's words, the words are in the
    /// archive, and follow-up lists the child until a new message for it is queued.
    func testQueueDeleteWithdrawsAMessage() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let tag = try h.queueWhilePeersDown(A, prefix: "WD", count: 2)  // B is down: the messages wait
        let victim = try XCTUnwrap(h.queue(A).first { $0.caseRef == "\(tag)-1" })
        let marker = "meant for Malmö, not MV \(UUID().uuidString.prefix(8))"

        let missingReason = try h.cli.run(["queue", "delete", victim.messageId.rawValue, "--config", h.a.configPath])
        XCTAssertEqual(missingReason.code, ExitCode.usage, missingReason.err)
        let delete = try h.cli.run(["queue", "delete", victim.messageId.rawValue, "--reason", "wrong-recipient: \(marker)",
                                    "--config", h.a.configPath])
        XCTAssertEqual(delete.code, 0, delete.err)
        XCTAssertTrue(delete.out.contains("withdrawn (wrong-recipient)") && delete.out.contains("told stafettd"), delete.out)
        XCTAssertTrue(try h.wait(10) { try h.journaled(A, kind: "withdrawn") == [victim.messageId.rawValue] }, h.log(A))
        let record = try XCTUnwrap(try h.journal(A).first { $0["kind"] as? String == "withdrawn" })
        XCTAssertEqual(record["reason"] as? String, "wrong-recipient")
        XCTAssertNotNil(record["intake"], "the record names the child: \(record)")
        let journalBytes = try FileManager.default.contentsOfDirectory(atPath: h.a.layout.journal.path)
            .filter { $0.hasSuffix(".log") }
            .map { try Data(contentsOf: h.a.layout.journal.appendingPathComponent($0)) }
            .reduce(Data(), +)
        XCTAssertNil(journalBytes.range(of: Data(marker.utf8)), "the operator's words must not enter the journal")
        let dir = h.a.layout.archive.appendingPathComponent("withdrawn/\(B)")
        let kept = try String(contentsOf: dir.appendingPathComponent("\(victim.messageId.rawValue).withdrawal.json"), encoding: .utf8)
        XCTAssertTrue(kept.contains("wrong-recipient") && kept.contains("Malm"), kept)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("\(victim.messageId.rawValue).xml").path))

        try h.start(B)
        XCTAssertTrue(h.wait(20) { h.inbox(B).count == 1 && h.queueCount(A) == 0 }, h.log(A))
        usleep(500_000)
        XCTAssertEqual(h.inbox(B).count, 1, "the withdrawn message must not be delivered")
        let report = try h.cli.run(["followup", "--config", h.a.configPath])
        XCTAssertTrue(report.out.contains("withdrawn") && report.out.contains("\(tag)-1"), report.out)
        XCTAssertFalse(report.out.contains("no-receipt"), "withdrawn closes no-receipt: " + report.out)
    }
}
