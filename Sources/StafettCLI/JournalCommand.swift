import Foundation
import StafettCrypto
import StafettJournal

/// `stafett journal tail|verify ...`: reading and checking the journal, also while the daemon appends.
public enum JournalCommand {
    /// Usage text.
    public static let usage = """
        usage: stafett journal tail [-f] [-n N|all] [--since TIME] [--until TIME] [--case REF] [--message ID]
                                    [--kind KIND[,KIND]] [--after-cursor C] [--show-cursor] [-o text|json|csv] [--utc]
               stafett journal verify [--from SEQ] [--cert FILE] [-o text|json]
        common: --journal DIR  --config FILE  --secret FILE (for --case with a personnummer)
        tail prints every matching record to a pipe or file; on a terminal, with no -n, filter,
          --after-cursor or -f, only the last 50 (-n all for every one); -f starts with the last 10
        TIME: ISO 8601 (2026-11-23, 2026-11-23T10:00, ...Z or +01:00), now, today, yesterday, -2h, -30m, -7d
        cursor: <seq>:<16 hex> as printed by -o json ("cursor") or --show-cursor; resumes after that record,
          which is how a script picks up where its last run stopped
        exit: 0 ok, 1 the journal is damaged (verify names the first bad record), 2 usage error,
          3 verify found a torn tail (a crash leftover), 5 the journal could not be read

        """

    /// Runs `journal` with the arguments after the word `journal`; returns the exit code.
    public static func run(_ args: [String], context: JournalCLIContext, console: Console) -> Int32 {
        guard let sub = args.first else { console.error(usage); return ExitCode.usage }
        return console.buffered {
            do {
                switch sub {
                case "tail": return try tail(Array(args.dropFirst()), context: context, console: console)
                case "verify": return try verify(Array(args.dropFirst()), context: context, console: console)
                case "-h", "--help", "help": console.write(usage); return ExitCode.ok
                default: console.error("stafett journal: unknown command \(sub)\n" + usage); return ExitCode.usage
                }
            } catch {
                return ExitCode.report(error, from: "stafett journal", during: .checkingJournal, console: console)
            }
        }
    }

    // MARK: tail

    struct Filter {
        var since: Int64?
        var until: Int64?
        var refs: Set<String> = []
        var message: String?
        var kinds: Set<JournalKind> = []

        var isEmpty: Bool { since == nil && until == nil && refs.isEmpty && message == nil && kinds.isEmpty }

        func matches(_ e: JournalEntry) -> Bool {
            if let since, e.timeMillis < since { return false }
            if let until, e.timeMillis > until { return false }
            if let message, e.messageId != message { return false }
            if !kinds.isEmpty, !kinds.contains(e.kind) { return false }
            if !refs.isEmpty {
                let ids = [e.caseRef, e.intakeId, e.dossierNumber, e.personKey]
                if !ids.contains(where: { $0.map(refs.contains) ?? false }) { return false }
            }
            return true
        }
    }

    static func tail(_ args: [String], context: JournalCLIContext, console: Console) throws -> Int32 {
        let o = try Arguments(args, options: commonOptions.union(["--lines", "--since", "--until", "--case", "--message",
                                                                  "--kind", "--after-cursor"]),
                              flags: ["--follow", "--show-cursor", utcFlag], aliases: commonAliases)
        if o.wantsHelp { console.write(usage); return ExitCode.ok }
        guard o.positionals.isEmpty else { throw UsageError("unexpected argument \(o.positionals[0])") }
        let ctx = try context.applying(o)
        let dir = try ctx.directory()
        let out = TailOutput(format: try outputFormat(o, allowed: ["text", "json", "csv"]), times: TimeText(utc: o.has(utcFlag)),
                             context: ctx)
        let follow = o.has("--follow")
        var limit: Int? = nil
        if let n = o.value("--lines") {
            if n != "all" {
                guard let v = Int(n), v >= 0 else { throw UsageError("-n takes a number of records, or all") }
                limit = v
            }
        } else if follow {
            limit = 10
        }
        let now = ctx.now()
        var f = Filter()
        if let s = o.value("--since") {
            guard let t = ISOTime.parseOperatorTime(s, now: now) else { throw UsageError("--since: cannot read time \(s)") }
            f.since = t
        }
        if let s = o.value("--until") {
            guard let t = ISOTime.parseOperatorTime(s, now: now) else { throw UsageError("--until: cannot read time \(s)") }
            f.until = t
        }
        if let ref = o.value("--case") {
            f.refs.insert(ref)
            if let k = try ctx.personKey(for: ref) { f.refs = [k] }
        }
        f.message = o.value("--message")
        if let k = o.value("--kind") {
            for word in k.split(separator: ",") {
                guard let kind = JournalKind(rawValue: String(word)) else {
                    throw UsageError("unknown kind \(word); kinds: " + JournalKind.allCases.map(\.rawValue).joined(separator: ", "))
                }
                f.kinds.insert(kind)
            }
        }
        // A person at a terminal who asked for nothing in particular wants the recent end, as with
        // journalctl; scripts (a pipe, a file) still get everything, as they always have.
        let terminalDefault = 50
        let shortened = limit == nil && !follow && f.isEmpty && o.value("--lines") == nil
            && o.value("--after-cursor") == nil && ctx.outputIsTerminal
        if shortened { limit = terminalDefault }
        let stream: JournalStream
        if let c = o.value("--after-cursor") {
            stream = JournalStream(directory: dir, cursor: try JournalCursor(parsing: c))
        } else {
            stream = JournalStream(directory: dir)
        }
        try JournalCLIContext.requireJournal(dir)
        if out.format == "csv" { console.write(Data(ExcelCSV.start(out.csvHeader))) }

        // The backlog: every match, or the last N. Without filters nothing is decoded until it
        // is printed, so `tail -n 10` of a million records is a fast scan.
        var ring: [([UInt8], UInt64, UInt64)] = []
        var ringStart = 0
        let keep = limit ?? Int.max
        let unfiltered = f.isEmpty
        var total = 0
        try stream.readAvailable { raw in
            total += 1
            guard keep > 0 else { return }
            if !unfiltered {
                guard f.matches(try EntryCodec.decode(raw.payload)) else { return }
            }
            if keep == Int.max {
                // No -n: print as we go (bounded memory).
                let e = try EntryCodec.decode(raw.payload)
                console.write(out.line(e, payload: Array(raw.payload), cursor: JournalCursor(raw)))
                return
            }
            let item = (Array(raw.payload), raw.sequence, raw.chainHash.loadUnaligned(as: UInt64.self))
            if ring.count < keep { ring.append(item) } else { ring[ringStart] = item; ringStart = (ringStart + 1) % keep }
        }
        for k in 0..<ring.count {
            let (payload, seq, prefix) = ring[(ringStart + k) % ring.count]
            let hex = String(UInt64(bigEndian: prefix), radix: 16)
            let cursor = JournalCursor(sequence: seq, hashPrefix: String(repeating: "0", count: 16 - hex.count) + hex)
            let e = try payload.withUnsafeBytes { try EntryCodec.decode($0) }
            console.write(out.line(e, payload: payload, cursor: cursor))
        }
        console.flush()
        if shortened && total > terminalDefault {
            console.error("-- the last \(terminalDefault) of \(total) records; every one: stafett journal tail -n all")
        }
        if follow {
            while !(ctx.stopFollowing?() ?? false) {
                var any = false
                try stream.readAvailable { raw in
                    let e = try EntryCodec.decode(raw.payload)
                    guard f.matches(e) else { return }
                    console.write(out.line(e, payload: Array(raw.payload), cursor: JournalCursor(raw)))
                    any = true
                }
                if any { console.flush() }
                usleep(20_000)
            }
        }
        if o.has("--show-cursor"), let c = stream.cursor { console.write("-- cursor: \(c)\n") }
        return ExitCode.ok
    }

    /// How `tail` writes each record: one line for people, the stored JSON plus `"cursor"` for
    /// scripts, or a CSV row for Excel.
    struct TailOutput {
        var format: String
        var times: TimeText
        var context: JournalCLIContext

        var csvHeader: [String] {
            ["RECORDED (\(times.zoneNote))", "SEQ", "KIND", "EVENT", "EVENT TIME (\(times.zoneNote))", "MESSAGE", "FROM", "TO",
             "INTAKE ID", "ISSUER", "DOSSIER", "CASE", "PIN", "STATUS", "REASON", "FILE", "DIGEST", "CURSOR"]
        }

        func line(_ e: JournalEntry, payload: [UInt8], cursor: JournalCursor) -> String {
            switch format {
            case "json":
                var p = payload
                p.removeLast()
                p.append(contentsOf: #","cursor":""#.utf8)
                p.append(contentsOf: cursor.description.utf8)
                p.append(contentsOf: "\"}\n".utf8)
                return String(decoding: p, as: UTF8.self)
            case "csv":
                return ExcelCSV.row([times.cell(millis: e.timeMillis), String(e.sequence), e.kind.rawValue, e.eventType ?? "",
                                     e.eventTimeMillis.map { times.cell(millis: $0) } ?? "", e.messageId ?? "",
                                     e.sender ?? "", e.recipient ?? "", e.intakeId ?? "", e.intakeIdIssuer ?? "", e.dossierNumber ?? "",
                                     e.caseRef ?? "", e.personKey.map { String($0.prefix(8)) } ?? "", e.status ?? "", e.reason ?? "",
                                     e.file ?? "", e.digest ?? "", cursor.description])
            default:
                return JournalCommand.format(e, times: times, context: context)
            }
        }
    }

    /// One record for people, on one line: the organisations by the names the config gives them.
    static func format(_ e: JournalEntry, times: TimeText, context: JournalCLIContext) -> String {
        var s = "\(times.text(millis: e.timeMillis, .milliseconds)) #\(e.sequence) \(e.kind.rawValue)"
        if let v = e.eventType { s += " \(v)" }
        // When it happened to the child, beside when it was journaled (the line's first field).
        if let v = e.eventTimeMillis { s += " at=\(times.text(millis: v, .milliseconds))" }
        if let v = e.messageId { s += " msg=\(v)" }
        if e.sender != nil || e.recipient != nil { s += " \(context.name(e.sender))→\(context.name(e.recipient))" }
        if let v = e.intakeId { s += " intake=\(v)" + (e.intakeIdIssuer.map { " issuer=\($0)" } ?? "") }
        if let v = e.dossierNumber { s += " dossier=\(v)" }
        if let v = e.caseRef { s += " case=\(v)" }
        if let v = e.personKey { s += " pin=\(v.prefix(8))" }
        if let v = e.status { s += " status=\(v)" }
        if let v = e.reason { s += " reason=\"\(v)\"" }
        if let v = e.file { s += " file=\(v)" }
        if let v = e.digest { s += " digest=\(v.prefix(12))" }
        if let cp = e.checkpoint { s += " seals=\(cp.upTo) hash=\(cp.chainHash.prefix(16)) alg=\(cp.algorithm)" }
        return terminalSafe(s) + "\n"
    }

    static func outputFormat(_ o: Arguments, allowed: [String]) throws -> String {
        let v = o.value("--output") ?? "text"
        guard allowed.contains(v) else { throw UsageError("-o takes \(allowed.joined(separator: ", "))") }
        return v
    }

    // MARK: verify

    static func verify(_ args: [String], context: JournalCLIContext, console: Console) throws -> Int32 {
        let o = try Arguments(args, options: commonOptions.union(["--from"]), flags: [], aliases: commonAliases)
        if o.wantsHelp { console.write(usage); return ExitCode.ok }
        guard o.positionals.isEmpty else { throw UsageError("unexpected argument \(o.positionals[0])") }
        let ctx = try context.applying(o)
        let dir = try ctx.directory()
        let json = try outputFormat(o, allowed: ["text", "json"]) == "json"
        var from: UInt64 = 0
        if let s = o.value("--from") {
            guard let v = UInt64(s) else { throw UsageError("--from takes a sequence number") }
            from = v
        }
        var key: Key? = nil
        if let c = ctx.certificateFile { key = try Certificate.load(path: c).publicKey() }
        try JournalCLIContext.requireJournal(dir)
        let walker = JournalWalker(directory: dir, checkChain: true, checkpointKey: key, fromSequence: from)
        let t0 = Date()
        var w = try walker.walk()
        if w.damage == nil, case .torn = w.tail {
            // A writer may be mid-append: look again before calling it a torn tail.
            usleep(200_000)
            w = try walker.walk()
        }
        let secs = Date().timeIntervalSince(t0)
        var code = ExitCode.ok
        var lines: [String] = []
        var fields: [String: Any] = ["directory": dir, "records": w.records, "segments": w.segments,
                                     "first": w.firstSequence, "last": w.lastSequence,
                                     "checkpointsVerified": w.checkpointsVerified,
                                     "checkpointsUnchecked": w.checkpointsUnchecked, "lastCheckpoint": w.lastCheckpoint]
        lines.append("journal \(dir): \(w.records) records in \(w.segments) segments"
                     + (w.records > 0 ? ", #\(w.firstSequence)–#\(w.lastSequence)" : "")
                     + String(format: " (%.2f s)", secs))
        if let d = w.damage {
            code = ExitCode.invalid
            lines.append("FIRST BAD RECORD: \(d.located)")
            lines.append("everything up to #\(w.lastSequence) checked out; appending is refused until the damage is dealt with "
                         + "(see docs/journal-format.md, \"When verify fails\")")
            fields["status"] = "damaged"
            fields["firstBad"] = ["sequence": d.sequence, "segment": d.segment, "offset": d.offset,
                                  "kind": d.kind.rawValue, "detail": d.detail]
        } else {
            lines.append("CRC-32C: ok; hash chain: ok" + (from > 1 ? " (hashes checked from #\(from))" : ""))
            fields["status"] = "ok"
        }
        if key != nil {
            lines.append("checkpoints: \(w.checkpointsVerified) signatures verified"
                         + (w.lastCheckpoint > 0 ? ", last at #\(w.lastCheckpoint)" : ""))
        } else if w.checkpointsUnchecked > 0 {
            lines.append("checkpoints: \(w.checkpointsUnchecked) seen, signatures NOT checked (give the node certificate: --cert FILE)")
        }
        if w.damage == nil, w.lastSequence > w.lastCheckpoint {
            lines.append("unsealed: #\(w.lastCheckpoint + 1)–#\(w.lastSequence) come after the last signed checkpoint; "
                         + "a truncation there could not be told from a shorter journal")
            fields["unsealed"] = ["from": w.lastCheckpoint + 1, "to": w.lastSequence]
        }
        if case let .torn(seg, offset, bytes, detail) = w.tail, w.damage == nil {
            code = ExitCode.failure  // a crash leftover the daemon cuts back: operational, not damage
            lines.append("TORN TAIL: \((seg as NSString).lastPathComponent) ends inside the record after #\(w.lastSequence) "
                         + "(offset \(offset), \(bytes) bytes: \(detail)); "
                         + (w.lastSequence >= w.lastCheckpoint
                            ? "this is after the last checkpoint (#\(w.lastCheckpoint)): a crash mid-write or a truncation; "
                            : "")
                         + "stafettd cuts it back to #\(w.lastSequence) when it opens the journal")
            fields["status"] = "torn-tail"
            fields["tornTail"] = ["segment": seg, "offset": offset, "bytes": bytes, "afterSequence": w.lastSequence]
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            console.write(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            console.write(lines.joined(separator: "\n") + "\n")
        }
        return code
    }
}
