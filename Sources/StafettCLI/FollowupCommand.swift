import Foundation
import StafettJournal
import StafettReports

/// `stafett followup [--overdue DURATION] [-o text|json|csv]`: the children whose hand-off was never
/// confirmed, who are reported missing and not found, or who wait past the rules in `Config/`.
public enum FollowupCommand {
    /// Usage text.
    public static let usage = """
        usage: stafett followup [--check] [--overdue DURATION] [-o text|json|csv] [--utc] [--rules FILE] [--journal DIR] [--config FILE]
          --check      exit 1 when any item is overdue (past --overdue, if given), 0 when none: for Nagios-style
                       checks and systemd timers (OnFailure=); the report is printed either way
          --overdue D  only items at least D past their rule's limit (e.g. 2h, 3d); default: all overdue items
          -o csv       UTF-8 with BOM, ';'-separated, CRLF: opens in Excel with å, ä, ö intact
          --utc        times in UTC; by default in local time, with the zone shown
          --rules F    the follow-up rules; default /etc/stafett/followup.rules (scripts/install.sh puts
                       it there) when the config file is read, else the built-in ones, which are the same
                       as the shipped Config/followup.rules
          Deadlines of case rules count from the event's time (when the child went missing, was
          registered), of message rules from when the record was journaled; every item shows both,
          the event's time first.
        exit: 0 ok (with or without items; with --check: nothing overdue), 1 with --check: something is
              overdue, 2 usage error or a bad rules file, 5 the journal could not be read

        """

    /// Runs `followup` with the arguments after the word `followup`; returns the exit code.
    public static func run(_ args: [String], context: JournalCLIContext, console: Console) -> Int32 {
        console.buffered {
            do {
                let o = try Arguments(args, options: commonOptions.union(["--overdue"]), flags: ["--check", utcFlag], aliases: commonAliases)
                if o.wantsHelp { console.write(usage); return ExitCode.ok }
                guard o.positionals.isEmpty else { throw UsageError("unexpected argument \(o.positionals[0])") }
                let ctx = try context.applying(o)
                let dir = try ctx.directory()
                let format = try JournalCommand.outputFormat(o, allowed: ["text", "json", "csv"])
                var overdue: Int64 = 0
                if let d = o.value("--overdue") {
                    guard let v = ISOTime.duration(d) else { throw UsageError("--overdue takes a duration like 2h or 3d") }
                    overdue = v
                }
                let rules = try ctx.rulesFile.map { try FollowupRules.load(path: $0) } ?? FollowupRules.defaults
                try JournalCLIContext.requireJournal(dir)
                let now = Int64(ctx.now().timeIntervalSince1970 * 1000)
                // The replay's state goes before the report is written: the text report keeps its
                // cells meanwhile, and the two together would pass what the replay alone peaks at.
                let (items, stats) = try { () throws -> ([FollowupItem], FollowupStats) in
                    let projection = try FollowupProjection.replay(directory: dir, rules: rules, organisation: ctx.organisation)
                    return (projection.report(now: now, overdueBy: overdue), projection.stats)
                }()
                switch format {
                case "json": writeJSON(items, to: console)
                case "csv": console.write(Data(csv(items, times: TimeText(utc: o.has(utcFlag)))))
                default: writeText(items, rules: rules, stats: stats, times: TimeText(utc: o.has(utcFlag)),
                                   context: ctx, to: console)
                }
                return o.has("--check") && !items.isEmpty ? ExitCode.invalid : ExitCode.ok
            } catch {
                return ExitCode.report(error, from: "stafett followup", during: .readingJournal, console: console)
            }
        }
    }

    static func child(_ i: FollowupItem) -> String { i.identifiers.isEmpty ? "-" : i.identifiers.joined(separator: ", ") }

    /// A reason on one table row: a peer's detail may hold line breaks.
    static func oneLine(_ s: String) -> String {
        s.contains(where: \.isNewline) ? s.split(whereSeparator: \.isNewline).joined(separator: " ") : s
    }

    /// Output is written in pieces of this size, not built whole: over 10 M records the report has
    /// most of a million items, and the whole text, its lines and their copies were gigabytes.
    static let piece = 1 << 16

    /// The report as an aligned table: its cells made as bytes, a block of rows at a time on every
    /// core (`OrderedBlocks`), and kept (not a String each) until the columns are measured.
    static func writeText(_ items: [FollowupItem], rules: [FollowupRule], stats: FollowupStats, times: TimeText,
                          context: JournalCLIContext, to console: Console) {
        guard !items.isEmpty else {
            console.write("Nothing to follow up: \(stats.cases) children, \(stats.open) open items, none past its limit.\n")
            return
        }
        // A REASON column only when some item has one, and last, so a long reason widens nothing else.
        let withReason = items.contains { $0.reason != nil }
        let blank = TextTable.Layout(header: ["OVERDUE", "RULE", "EVENT TIME", "RECORDED", "CHILD", "LAST EVENT", "MESSAGE", "ORGANISATIONS"]
                                     + (withReason ? ["REASON"] : []), shrinkable: [7, 8])
        var layout = blank
        var used = Set<String>()
        // Each block's cells are kept from measuring to writing (a fifth of the report's size):
        // making them was most of the work.
        var blocks: [TextTable.Cells] = []
        // Rows read in place: `items[k]` would copy each item, a retain and a release per field.
        items.withUnsafeBufferPointer { items in
            OrderedBlocks.run(count: items.count, make: { range in
                var part = blank, rules = Set<String>(), cells = TextTable.Cells()
                for k in range {
                    let first = cells.count
                    row(items[k], withReason: withReason, times: times, context: context, into: &cells)
                    part.measure(cells, row: first..<cells.count)
                    rules.insert(items[k].rule)
                }
                return (part, rules, cells)
            }, take: { layout.measure($0.0); used.formUnion($0.1); blocks.append($0.2) })
        }
        if let width = console.width { layout.fit(into: width) }
        console.write(layout.line(layout.header, safe: true))
        let columns = blank.header.count
        OrderedBlocks.run(count: blocks.count, blockSize: 1, make: { b in
            var out: [UInt8] = []
            let cells = blocks[b.lowerBound]
            for first in stride(from: 0, to: cells.count, by: columns) {
                layout.append(cells, row: first..<(first + columns), to: &out)
            }
            return out
        }, take: { console.write($0) })
        var s = "\n\(items.count) items past their limit (\(stats.cases) children, \(stats.open) open items).\n"
        for r in rules where used.contains(r.name) { s += "  \(r.name): \(r.why)\n" }
        console.write(s)
    }

    /// Appends an item's row of the text report, its cells closed one by one.
    private static func row(_ i: FollowupItem, withReason: Bool, times: TimeText, context: JournalCLIContext,
                            into c: inout TextTable.Cells) {
        c.append(ISOTime.humanDuration(millis: i.overdueMillis)); c.close()
        c.append(i.rule); c.close()
        if let e = i.eventMillis { c.write { times.append(millis: e, to: &$0) } } else { c.append(0x2D) }
        c.close()
        c.write { times.append(millis: i.recordedMillis, to: &$0) }; c.close()
        if i.identifiers.isEmpty { c.append(0x2D) }
        for (n, v) in i.identifiers.enumerated() { if n > 0 { c.append(", ") }; c.append(v) }
        c.close()
        if let e = i.lastEvent { c.append(e) } else { c.append(0x2D) }
        c.close()
        if let m = i.messageId { c.append(m) } else if let f = i.file { c.append("file "); c.append(f) } else { c.append(0x2D) }
        c.close()
        for (n, o) in i.organisations.enumerated() { if n > 0 { c.append(0x20) }; c.append(context.name(o)) }
        c.close()
        if withReason { c.append(oneLine(i.reason ?? "-")); c.close() }
    }

    /// The report as a JSON array, an item a line, written as it is made.
    static func writeJSON(_ items: [FollowupItem], to console: Console) {
        var out = Array("[\n".utf8)
        for (k, i) in items.enumerated() {
            var b = Array("  ".utf8)
            b.append(contentsOf: #"{"rule":"#.utf8); EntryCodec.appendString(i.rule, &b)
            if let e = i.eventMillis { b.append(contentsOf: #","eventTime":""#.utf8); ISOTime.append(millis: e, to: &b); b.append(0x22) }
            b.append(contentsOf: #","recorded":""#.utf8); ISOTime.append(millis: i.recordedMillis, to: &b)
            b.append(contentsOf: #"","since":""#.utf8); ISOTime.append(millis: i.sinceMillis, to: &b)
            b.append(contentsOf: #"","overdueSeconds":\#(i.overdueMillis / 1000)"#.utf8)
            b.append(contentsOf: #","identifiers":["#.utf8)
            for (n, v) in i.identifiers.enumerated() { if n > 0 { b.append(0x2C) }; EntryCodec.appendString(v, &b) }
            b.append(contentsOf: #"],"organisations":["#.utf8)
            for (n, v) in i.organisations.enumerated() { if n > 0 { b.append(0x2C) }; EntryCodec.appendString(v, &b) }
            b.append(0x5D)
            if let m = i.messageId { b.append(contentsOf: #","message":"#.utf8); EntryCodec.appendString(m, &b) }
            if let f = i.file { b.append(contentsOf: #","file":"#.utf8); EntryCodec.appendString(f, &b) }
            if let e = i.lastEvent { b.append(contentsOf: #","lastEvent":"#.utf8); EntryCodec.appendString(e, &b) }
            if let r = i.reason { b.append(contentsOf: #","reason":"#.utf8); EntryCodec.appendString(r, &b) }
            b.append(contentsOf: #","lastSeen":""#.utf8); ISOTime.append(millis: i.lastMillis, to: &b)
            b.append(contentsOf: #"","why":"#.utf8); EntryCodec.appendString(i.why, &b)
            b.append(0x7D)
            b.append(contentsOf: (k + 1 < items.count ? ",\n" : "\n").utf8)
            out.append(contentsOf: b)
            if out.count >= piece { console.write(Data(out)); out.removeAll(keepingCapacity: true) }
        }
        out.append(contentsOf: "]\n".utf8)
        console.write(Data(out))
    }

    /// The items for Excel (`ExcelCSV`), with Swedish headers: case workers open it.
    static func csv(_ items: [FollowupItem], times: TimeText) -> [UInt8] {
        let zone = times.utc ? " (UTC)" : ""
        let header = ["Försenad (timmar)", "Regel", "Händelsetid" + zone, "Journalförd" + zone, "Barnet", "Senaste händelse", "Meddelande",
                      "Organisationer", "Varför", "Orsak"]
        return ExcelCSV.render(header: header, rows: items.map { i in
            [String(format: "%.1f", Double(i.overdueMillis) / 3_600_000).replacingOccurrences(of: ".", with: ","),
             i.rule, i.eventMillis.map { times.cell(millis: $0, .minutes) } ?? "", times.cell(millis: i.recordedMillis, .minutes),
             child(i), i.lastEvent ?? "", i.messageId ?? i.file.map { "file " + $0 } ?? "",
             i.organisations.joined(separator: " "), i.why, i.reason ?? ""]
        })
    }
}
