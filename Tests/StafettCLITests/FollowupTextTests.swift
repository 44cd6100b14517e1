import Foundation
import StafettJournal
@testable import StafettReports
import XCTest
@testable import StafettCLI

/// `stafett followup`'s text report is written as bytes, a block of rows at a time on every core:
/// it must be, byte for byte, the table made of a String per cell (`TextTable`), as it was before.
final class FollowupTextTests: XCTestCase {
    let times = TimeText(utc: true)
    let context: JournalCLIContext = {
        var c = JournalCLIContext(journalDirectory: "/nonexistent")
        c.organisationNames = ["2120001165": "Trelleborgs kommun", "2120000142": "Stockholms stad"]
        return c
    }()

    /// Items of every shape: plain and non-ASCII text, control characters, tabs, line breaks,
    /// C1 controls, file and message items, with and without reasons and event times.
    private func items(_ count: Int, reasons: Bool) -> [FollowupItem] {
        let rules = FollowupRules.defaults
        let odd = ["plain", "Söderström", "tab\there", "bell\u{7}", "cr\r\nlf", "c1\u{85}x", "del\u{7F}", "emoji 👧🏽", "e\u{301}"]
        return (0..<count).map { k in
            let rule = rules[k % rules.count]
            var i = FollowupItem(rule: rule.name, why: rule.why, sinceMillis: 1_700_000_000_000 + Int64(k) * 61_000,
                                 recordedMillis: 1_700_000_000_000 + Int64(k) * 59_000,
                                 eventMillis: k % 3 == 0 ? nil : 1_690_000_000_000 + Int64(k) * 1_000,
                                 overdueMillis: Int64(count - k) * 3_700_000, messageId: k % 4 == 1 ? "msg-\(k)-\(odd[k % odd.count])" : nil,
                                 identifiers: (0..<(k % 4)).map { "id\($0)-\(odd[(k + $0) % odd.count])" },
                                 organisations: k % 5 == 0 ? [] : ["2120001165", "2021005489", "2120000142"].prefix(k % 4).map { $0 },
                                 lastEvent: k % 7 == 0 ? nil : "Event\(k % 9)\(odd[k % odd.count])", lastMillis: 1_700_000_000_000)
            if k % 4 == 2 { i.file = "file-\(odd[k % odd.count]).csv" }
            if reasons, k % 6 == 0 { i.reason = "reason \(k):\n\(odd[k % odd.count]) " + String(repeating: "long ", count: k % 30) }
            return i
        }
    }

    /// The report as `TextTable` lays it out from a String per cell.
    private func tableOfStrings(_ items: [FollowupItem], stats: FollowupStats, width: Int?) -> String {
        let withReason = items.contains { $0.reason != nil }
        let rows = items.map { i in
            [ISOTime.humanDuration(millis: i.overdueMillis), i.rule, i.eventMillis.map { times.text(millis: $0) } ?? "-",
             times.text(millis: i.recordedMillis), FollowupCommand.child(i), i.lastEvent ?? "-",
             i.messageId ?? i.file.map { "file " + $0 } ?? "-", i.organisations.map(context.name).joined(separator: " ")]
                + (withReason ? [FollowupCommand.oneLine(i.reason ?? "-")] : [])
        }
        var text = TextTable(header: ["OVERDUE", "RULE", "EVENT TIME", "RECORDED", "CHILD", "LAST EVENT", "MESSAGE", "ORGANISATIONS"]
                                 + (withReason ? ["REASON"] : []), rows: rows, shrinkable: [7, 8]).text(width: width)
        text += "\n\(items.count) items past their limit (\(stats.cases) children, \(stats.open) open items).\n"
        let used = Set(items.map(\.rule))
        for r in FollowupRules.defaults where used.contains(r.name) { text += "  \(r.name): \(r.why)\n" }
        return text
    }

    func testTextReportEqualsTheTableOfStrings() {
        var stats = FollowupStats()
        stats.cases = 12
        stats.open = 34
        // More rows than a round of blocks holds, so blocks run on both cores and rounds follow each other.
        for (count, reasons, width) in [(1, false, nil), (37, true, nil), (40_000, true, nil), (9_000, false, nil),
                                        (9_000, true, 120), (500, true, 40)] as [(Int, Bool, Int?)] {
            let list = items(count, reasons: reasons)
            let console = Console.memory()
            console.width = width
            FollowupCommand.writeText(list, rules: FollowupRules.defaults, stats: stats, times: times, context: context, to: console)
            let expected = tableOfStrings(list, stats: stats, width: width)
            XCTAssertEqual(console.output, expected, "\(count) items, reasons \(reasons), width \(width.map(String.init) ?? "none")")
            if console.output != expected {
                let a = console.output.split(separator: "\n", omittingEmptySubsequences: false)
                let b = expected.split(separator: "\n", omittingEmptySubsequences: false)
                if let k = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset { XCTFail("line \(k):\n\(a[k])\n\(b[k])") }
            }
        }
    }
}
