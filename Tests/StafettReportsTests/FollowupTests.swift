import Foundation
import XCTest
import StafettJournal
@testable import StafettReports

final class FollowupTests: XCTestCase {
    func testGeneratedJournalProjects() throws {
        let parent = try makeTempDirectory("fu")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let s = try JournalGenerator(records: 5_000, activeCases: 100).write(to: dir)
        XCTAssertEqual(s.records, 5_000)
        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
        let items = p.report(now: Int64(Date().timeIntervalSince1970 * 1000))
        XCTAssertEqual(p.stats.records, 5_000)
        XCTAssertGreaterThan(items.count, 0)
        let p0 = try FollowupProjection.replay(directory: dir, rules: [])
        XCTAssertEqual(p0.stats.records, 5_000)
    }

    /// The two-thread replay recycles its parsed chunks; with tiny chunks (hundreds of recycles)
    /// it must still agree with applying the same records one by one on one thread.
    func testReplayWithRecycledChunksAgreesWithRecordByRecord() throws {
        let parent = try makeTempDirectory("fu-chunks")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        _ = try JournalGenerator(records: 6_000, activeCases: 300).write(to: dir)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let chunked = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults, chunkSize: 4_096)
        let single = FollowupProjection(rules: FollowupRules.defaults)
        try JournalStream(directory: dir).readAvailable { single.add($0) }
        XCTAssertEqual(chunked.stats.records, single.stats.records)
        XCTAssertEqual(chunked.stats.cases, single.stats.cases)
        let a = chunked.report(now: now), b = single.report(now: now)
        XCTAssertGreaterThan(a.count, 10)
        XCTAssertEqual(a.count, b.count)
        guard a.count == b.count else { return }
        XCTAssertEqual(a.map { "\($0.rule) \($0.messageId ?? "") \($0.identifiers.sorted()) \($0.sinceMillis)" },
                       b.map { "\($0.rule) \($0.messageId ?? "") \($0.identifiers.sorted()) \($0.sinceMillis)" })
    }
}

final class FollowupRulesAndSemanticsTests: XCTestCase {
    func testShippedRulesFileParsesAndMatchesDefaults() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/followup.rules").path
        let rules = try FollowupRules.load(path: path)
        XCTAssertEqual(rules.map(\.name), FollowupRules.defaults.map(\.name))
        for (a, b) in zip(rules, FollowupRules.defaults) {
            XCTAssertEqual(a.start, b.start)
            XCTAssertEqual(a.stop, b.stop)
            XCTAssertEqual(a.afterMillis, b.afterMillis)
            XCTAssertFalse(a.why.isEmpty)
            XCTAssertEqual(a.why, b.why, "a node without the rules file reports the same as one with it")
        }
    }

    /// An event name is checked against the event types: any case is read as the canonical name
    /// (which is what the journal holds), a misspelt one is an error at its line with a suggestion.
    func testEventNamesAreCheckedAndNormalised() throws {
        let parent = try makeTempDirectory("fu-rules")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let path = parent + "/followup.rules"
        func write(_ start: String) throws {
            try "# test\n[rule missing]\nscope = case\nstart = \(start)\nstop  = event:Found\nafter = 0\nwhy   = w\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
        }
        try write("event:reportedMISSING kind:Rejected")
        let rules = try FollowupRules.load(path: path)
        XCTAssertEqual(rules[0].start, [.event("ReportedMissing"), .kind(.rejected)])
        XCTAssertEqual(rules[0].stop, [.event("Found")])

        try write("event:ReportedMising")
        XCTAssertThrowsError(try FollowupRules.load(path: path)) { e in
            XCTAssertTrue("\(e)".hasPrefix(path + ":4: rule missing: `event:ReportedMising` is not an event type"), "\(e)")
            XCTAssertTrue("\(e)".contains("(did you mean event:ReportedMissing?)"), "\(e)")
        }
        try write("event:avviken")
        XCTAssertThrowsError(try FollowupRules.load(path: path)) { e in
            XCTAssertTrue("\(e)".contains("did you mean event:ReportedMissing?"), "\(e)")
        }
        try write("event:Nonsense")
        XCTAssertThrowsError(try FollowupRules.load(path: path)) { e in
            XCTAssertFalse("\(e)".contains("did you mean"), "nothing is near: \(e)")
            XCTAssertTrue("\(e)".contains("event types: Registered,"), "\(e)")
        }
        try write("kind:deliverd")
        XCTAssertThrowsError(try FollowupRules.load(path: path)) { e in
            XCTAssertTrue("\(e)".hasPrefix(path + ":4:") && "\(e)".contains("did you mean kind:delivered?"), "\(e)")
        }
    }

    /// A rule written with another case fires on the journal's canonical event names.
    func testRuleWithLowercaseEventFires() throws {
        let parent = try makeTempDirectory("fu-case")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: parent + "/j")
        let t0 = Date(timeIntervalSince1970: 1_448_000_000)
        try j.append(JournalEntry(kind: .queued, time: t0, messageId: "m1", intakeId: "TRE-1", eventType: "ReportedMissing"))
        j.close()
        let rules = try FollowupRules.parse("[rule gone]\nscope = case\nstart = event:reportedmissing\nafter = 0\nwhy = w\n")
        let p = try FollowupProjection.replay(directory: parent + "/j", rules: rules)
        XCTAssertEqual(p.report(now: Int64(t0.timeIntervalSince1970 * 1000) + 1).map(\.rule), ["gone"])
    }

    /// A refused or expired message is a hand-off that never happened: it stays listed.
    func testRejectedAndExpiredMessagesAreListed() throws {
        let parent = try makeTempDirectory("fu3")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: parent + "/j")
        let t0 = Date(timeIntervalSince1970: 1_448_000_000)
        for (id, outcome) in [("m-ok", JournalKind.delivered), ("m-bad", .rejected), ("m-old", .expired)] {
            try j.append(JournalEntry(kind: .queued, time: t0, messageId: id, intakeId: "TRE-\(id)", eventType: "Registered",
                                      sender: "2120001124", recipient: "2021005489"))
            try j.append(JournalEntry(kind: outcome, time: t0.addingTimeInterval(60), messageId: id, intakeId: "TRE-\(id)",
                                      eventType: "Registered", sender: "2120001124", recipient: "2021005489",
                                      reason: outcome == .rejected ? "duplicate-id" : nil))
        }
        j.close()
        let p = try FollowupProjection.replay(directory: parent + "/j", rules: FollowupRules.defaults)
        let items = p.report(now: Int64(t0.addingTimeInterval(3 * 3600).timeIntervalSince1970 * 1000))
        let byMessage = Dictionary(grouping: items.filter { $0.messageId != nil }, by: { $0.messageId! }).mapValues { $0.map(\.rule) }
        XCTAssertEqual(byMessage["m-bad"], ["message-rejected"])
        XCTAssertEqual(byMessage["m-old"], ["message-expired"])
        XCTAssertNil(byMessage["m-ok"], "a delivered message needs nobody")
        XCTAssertEqual(items.first { $0.messageId == "m-bad" }?.reason, "duplicate-id", "the rejection says why")
        XCTAssertNil(items.first { $0.messageId == "m-old" }?.reason)
    }

    /// A message item carries the reason of the record that opened or last kept it, on both
    /// replay paths; a closed item's reason does not outlive it (slots are reused).
    func testMessageItemsCarryTheirRecordsReason() throws {
        let parent = try makeTempDirectory("fu-reason")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let j = try Journal(directory: dir)
        let t0 = Date(timeIntervalSince1970: 1_448_000_000)
        func add(_ kind: JournalKind, _ id: String, reason: String? = nil, at minutes: Double = 0) throws {
            try j.append(JournalEntry(kind: kind, time: t0.addingTimeInterval(minutes * 60), messageId: id, intakeId: "TRE-\(id)",
                                      eventType: "Registered", reason: reason))
        }
        // Rejected, then rejected again after a resend: the latest reason.
        try add(.queued, "a")
        try add(.rejected, "a", reason: "schema: element Child, line 3")
        try add(.queued, "a", at: 1)
        try add(.rejected, "a", reason: "signature: \"wrong key\"\nsecond line", at: 2)
        // Rejected, then corrected and delivered: closed, and its slot free for the next message.
        try add(.queued, "b")
        try add(.rejected, "b", reason: "unknown-sender")
        try add(.delivered, "b", at: 1)
        try add(.queued, "c", at: 3)
        try add(.rejected, "c", at: 4)
        // Expired: the last delivery error.
        try add(.queued, "d")
        try add(.expired, "d", reason: "HTTP 503 Service Unavailable", at: 5)
        j.close()
        let now = Int64(t0.addingTimeInterval(86_400).timeIntervalSince1970 * 1000)
        let parallel = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults, chunkSize: 4_096)
        let single = FollowupProjection(rules: FollowupRules.defaults)
        try JournalStream(directory: dir).readAvailable { single.add($0) }
        for p in [parallel, single] {
            let items = p.report(now: now).filter { $0.messageId != nil }
            let got = Dictionary(uniqueKeysWithValues: items.map { ("\($0.messageId!) \($0.rule)", $0.reason ?? "-") })
            XCTAssertEqual(got, [
                "a message-rejected": "signature: \"wrong key\"\nsecond line",
                "c message-rejected": "-",
                "d message-expired": "HTTP 503 Service Unavailable",
            ])
        }
    }

    /// A message id the journal holds as "" is still a hand-off: an unanswered one is listed, and
    /// a slot freed by a delivered message is not mistaken for it.
    func testEmptyMessageIdIsListedLikeAnyOther() throws {
        let parent = try makeTempDirectory("fu4")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: parent + "/j")
        let t0 = Date(timeIntervalSince1970: 1_448_000_000)
        try j.append(JournalEntry(kind: .queued, time: t0, messageId: "m-done", intakeId: "TRE-1", eventType: "Registered"))
        try j.append(JournalEntry(kind: .delivered, time: t0, messageId: "m-done", intakeId: "TRE-1"))
        try j.append(JournalEntry(kind: .queued, time: t0, messageId: "", intakeId: "TRE-2", eventType: "Registered"))
        j.close()
        let p = try FollowupProjection.replay(directory: parent + "/j", rules: FollowupRules.defaults)
        let items = p.report(now: Int64(t0.addingTimeInterval(2 * 3600).timeIntervalSince1970 * 1000))
        let noReceipt = items.filter { $0.rule == "no-receipt" }
        XCTAssertEqual(noReceipt.map(\.messageId), [""])
        XCTAssertEqual(noReceipt.first?.identifiers, ["TRE-2"])
    }

    func testRulesErrorsNameTheLine() {
        let bad = "[rule x]\nscope = case\nstart = event:Registered\nafter = soon\nwhy = w\n"
        XCTAssertThrowsError(try FollowupRules.parse(bad, file: "r")) { e in
            XCTAssertEqual("\(e)", "r:1: rule x: `after` is a duration like 1h or 7d")
        }
        XCTAssertThrowsError(try FollowupRules.parse("[rule y]\nscope = case\nstart = kind:nope\nafter = 1h\nwhy = w\n", file: "r")) { e in
            XCTAssertTrue("\(e)".contains("kind:nope"), "\(e)")
        }
        XCTAssertThrowsError(try FollowupRules.parse("scope = case\n", file: "r")) { e in
            XCTAssertTrue("\(e)".hasPrefix("r:1:"), "\(e)")
        }
        XCTAssertThrowsError(try FollowupRules.parse("[rule z]\nscope = case\ncolour = red\n", file: "r")) { e in
            XCTAssertTrue("\(e)".hasPrefix("r:3: unknown key"), "\(e)")
        }
    }

    /// Cases join across organisations and identifiers; rules open and close as the day goes.
    func testProjectionJoinsIdentifiersAndAppliesRules() throws {
        let parent = try makeTempDirectory("fu2")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let h: TimeInterval = 3600
        let t0 = Date(timeIntervalSince1970: 1_448_000_000)
        let j = try Journal(directory: dir)
        // Child A: registered, message delivered, asylum application arrives from MV with a dossier
        // number; transfer sent to Malmö, never confirmed.
        try j.append(JournalEntry(kind: .queued, time: t0, messageId: "a1", intakeId: "TRE-1", eventType: "Registered",
                                  sender: "2120001124", recipient: "2021005489"))
        try j.append(JournalEntry(kind: .delivered, time: t0 + 60, messageId: "a1", intakeId: "TRE-1", sender: "2120001124"))
        // Migrationsverket's message names Trelleborg's intake id as Trelleborg's.
        try j.append(JournalEntry(kind: .received, time: t0 + 2 * h, messageId: "a2", intakeId: "TRE-1",
                                  intakeIdIssuer: "2120001124", dossierNumber: "15-1", eventType: "AsylumApplicationLodged",
                                  sender: "2021005489"))
        try j.append(JournalEntry(kind: .queued, time: t0 + 3 * h, messageId: "a3", dossierNumber: "15-1",
                                  eventType: "TransferSent", recipient: "2120001355"))
        try j.append(JournalEntry(kind: .delivered, time: t0 + 3 * h, messageId: "a3"))
        // Child B: registered; message never acknowledged; reported missing, found, missing again.
        try j.append(JournalEntry(kind: .queued, time: t0 + h, messageId: "b1", intakeId: "TRE-2", eventType: "Registered"))
        try j.append(JournalEntry(kind: .queued, time: t0 + h, messageId: "b2", intakeId: "TRE-2", eventType: "ReportedMissing"))
        try j.append(JournalEntry(kind: .delivered, time: t0 + h, messageId: "b2"))
        try j.append(JournalEntry(kind: .received, time: t0 + 5 * h, messageId: "b3", caseRef: "POL-9",
                                  intakeId: "TRE-2", eventType: "Found"))
        try j.append(JournalEntry(kind: .queued, time: t0 + 9 * h, messageId: "b4", caseRef: "POL-9", eventType: "ReportedMissing"))
        try j.append(JournalEntry(kind: .delivered, time: t0 + 9 * h, messageId: "b4"))
        j.close()

        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
        let now = Int64((t0.timeIntervalSince1970 + 10 * 86_400) * 1000)
        let items = p.report(now: now)
        XCTAssertEqual(p.stats.cases, 2)
        let summary = Set(items.map { "\($0.rule) \($0.messageId ?? "-") \($0.identifiers.sorted().joined(separator: ","))" })
        XCTAssertEqual(summary, [
            "transfer-unconfirmed - 15-1,TRE-1",
            "no-receipt b1 POL-9,TRE-2",
            "no-asylum-application - POL-9,TRE-2",
            "missing - POL-9,TRE-2",
        ])
        let missing = try XCTUnwrap(items.first { $0.rule == "missing" })
        XCTAssertEqual(missing.sinceMillis, Int64((t0.timeIntervalSince1970 + 9 * h) * 1000), "opened again after Found")
        // Only what is at least 9 days past its limit.
        XCTAssertEqual(Set(p.report(now: now, overdueBy: 9 * 86_400_000).map(\.rule)), ["no-receipt", "missing"])
        // Case history by any identifier.
        guard case let .found(history) = try CaseHistory.lookup(directory: dir, ref: "POL-9", personKey: nil) else {
            return XCTFail("POL-9 not found")
        }
        XCTAssertEqual(history.compactMap(\.messageId), ["b1", "b2", "b2", "b3", "b4", "b4"])
    }
}

final class HashIndexTests: XCTestCase {
    /// Random inserts, overwrites and deletions agree with a Dictionary, through growth and
    /// wrap-around probe runs (keys chosen to collide in the low bits).
    func testAgreesWithDictionary() {
        var index = HashIndex(capacity: 8)
        var model: [UInt64: Int32] = [:]
        var rng = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            let key = UInt64.random(in: 0..<512, using: &rng) << (step % 3 == 0 ? 0 : 40) | 1
            if Bool.random(using: &rng) {
                index[key] = Int32(step)
                model[key] = Int32(step)
            } else {
                index[key] = nil
                model[key] = nil
            }
            if step % 1000 == 0 {
                for (k, v) in model { XCTAssertEqual(index[k], v) }
                XCTAssertEqual(index.count, model.count)
            }
        }
        for k in 0..<512 as Range<UInt64> {
            XCTAssertEqual(index[k | 1], model[k | 1])
            XCTAssertEqual(index[k << 40 | 1], model[k << 40 | 1])
        }
    }
}
