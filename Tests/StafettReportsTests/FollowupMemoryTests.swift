import Foundation
import XCTest
import StafettJournal
import StafettModel
@testable import StafettReports

/// What a follow-up replay keeps grows with the children in the journal and the items still
/// open, never with the records or with messages that were settled.
final class FollowupMemoryTests: XCTestCase {
    /// 3 000 children, each with one message queued, sent and delivered, 20 in flight at a time:
    /// the message table ends with no open item and never made more slots than were in flight,
    /// and each child's shown identifiers are its two, however many records name them.
    func testDeliveredMessagesLeaveNothingBehind() throws {
        let parent = try makeTempDirectory("fu-memory")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let children = 3_000, inFlight = 20
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        var entries: [JournalEntry] = []
        func record(_ kind: JournalKind, _ c: Int) -> JournalEntry {
            JournalEntry(kind: kind, time: start.addingTimeInterval(Double(entries.count)), messageId: "m-\(c)",
                         intakeId: "TRE-\(c)", dossierNumber: "15-\(100_000 + c)", eventType: "Registered",
                         sender: "2120001124", recipient: "2021005489", digest: String(repeating: "ab", count: 32))
        }
        for c in 0..<(children + inFlight) {
            if c < children { entries.append(record(.queued, c)) }
            if c >= inFlight / 2, c - inFlight / 2 < children { entries.append(record(.sent, c - inFlight / 2)) }
            if c >= inFlight { entries.append(record(.delivered, c - inFlight)) }
        }
        let journal = try Journal(directory: dir)
        _ = try journal.appendBatch(entries)
        journal.close()

        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults, organisation: "2120001124")
        let items = p.report(now: Int64(start.timeIntervalSince1970 * 1000) + 30 * 86_400_000)
        XCTAssertEqual(p.stats.records, UInt64(3 * children))
        XCTAssertEqual(p.stats.cases, children)
        XCTAssertEqual(items.filter { $0.messageId != nil }, [], "every message was delivered")
        XCTAssertEqual(p.openMessageSlots, 0)
        XCTAssertLessThanOrEqual(p.messageSlotsMade, inFlight + 1, "a delivered message's slot is used again")
        XCTAssertEqual(p.shownIdentifiers, 2 * children, "an identifier is kept once, not per record naming it")
        // The children are still there to report: none applied for asylum.
        XCTAssertEqual(items.filter { $0.rule == "no-asylum-application" }.count, children)
        XCTAssertEqual(Set(items.map(\.identifiers)).count, children)
    }
}

/// The identifiers a follow-up item shows, kept as links into the join's tables, are what the
/// projection showed when it kept them as strings: first seen first, a joined case's after the
/// winner's, no text twice (as text: an escaped or decomposed spelling is the same text), at most 8.
final class ShownIdentifierTests: XCTestCase {
    func testShownIdentifiersAgreeWithStrings() throws {
        let intakes = ["TRE-1", #"TRE\u002D1"#, "TRE-2", "pin:abcdef12", "pin:ab", "Malmö-7", "Malmo\u{0308}-7", "15-100001"]
        let dossiers = ["15-100001", "15-100002", "15-100003", "TRE-2", "15-10000\\u0034"]
        let refs = ["0118-SOC-1", "TRE-1", "0118-SOC-2", "pin:abcdef12"]
        let pins = ["abcdef12" + String(repeating: "0", count: 56), "abcdef12" + String(repeating: "1", count: 56),
                    "ab", String(repeating: "9", count: 64)]
        var rng = SplitMix64(seed: 15)
        var join = CaseJoin()
        join.keepsIdentifiers = true
        var events = EventNames()
        var model: [Int32: [String]] = [:]
        var sameText = 0
        func note(_ v: String, _ c: Int32) {
            if model[c, default: []].count < 8, model[c, default: []].contains(v) { sameText += 1 }
            if model[c, default: []].count < 8, !model[c, default: []].contains(v) { model[c, default: []].append(v) }
        }
        // First the same texts spelt apart: escaped, as a personnummer key's `pin:`, decomposed.
        let scripted = [[#""intake":"TRE-1""#], [#""intake":"TRE\u002D1""#, #""dossier":"15-100001""#],
                        [#""intake":"TRE-1""#, #""dossier":"15-100001""#],
                        [#""intake":"pin:abcdef12""#], [#""intake":"pin:abcdef12""#, "\"pin\":\"\(pins[0])\""],
                        ["\"intake\":\"Malmö-7\""], ["\"intake\":\"Malmö-7\"", "\"dossier\":\"Malmo\u{0308}-7\""]]
        for n in 0..<4_000 {
            var fields = [#""seq":\#(n + 1)"#, #""t":"2026-11-23T10:00:00.000Z""#, #""kind":"queued""#, #""from":"2120001124""#]
            func pick(_ key: String, _ pool: [String], _ percent: Int) {
                if rng.chance(percent) { fields.append("\"\(key)\":\"\(pool[rng.below(pool.count)])\"") }
            }
            if n < scripted.count { fields += scripted[n] } else {
            // Mostly a child's own numbered identifiers; now and then the tricky spellings, which
            // join the children that carry them into a few large cases.
            let child = rng.below(1_000)
            let tricky = rng.chance(4)
            if !tricky || rng.chance(50) { fields.append(#""intake":"K-\#(child)""#) } else { pick("intake", intakes, 100) }
            if !tricky { if rng.chance(60) { fields.append(#""dossier":"D-\#(child)""#) } } else { pick("dossier", dossiers, 60) }
            if tricky { pick("case", refs, 40); pick("pin", pins, 40) }
            }
            let json = "{" + fields.joined(separator: ",") + "}"
            try Array(json.utf8).withUnsafeBytes { p in
                let r = try XCTUnwrap(LiteRecord.parse(p, events: &events), json)
                guard let (node, _, newIds, merges) = join.caseOf(r) else { return }
                for m in merges {
                    for v in model[m.loser] ?? [] { note(v, m.winner) }
                    model[m.loser] = []
                }
                if newIds & 1 != 0, let v = r.intakeId { note(LiteRecord.text(v), node) }
                if newIds & 2 != 0, let v = r.dossierNumber { note(LiteRecord.text(v), node) }
                if newIds & 4 != 0, let v = r.caseRef { note(LiteRecord.text(v), node) }
                if newIds & 8 != 0, let k = r.personKey { note("pin:" + LiteRecord.text(k).prefix(8), node) }
                XCTAssertEqual(join.identifiers(of: node), model[node] ?? [], "record \(n): \(json)")
            }
        }
        var compared = 0, full = 0
        for node in 0..<Int32(join.parent.count) where join.find(node) == node {
            XCTAssertEqual(join.identifiers(of: node), model[node] ?? [], "case \(node)")
            compared += 1
            if model[node]?.count == 8 { full += 1 }
        }
        XCTAssertGreaterThan(compared, 10)
        XCTAssertGreaterThan(full, 0, "some case reached the limit of 8")
        XCTAssertGreaterThanOrEqual(sameText, 3, "identifiers had the text of one their case showed already")
    }
}
