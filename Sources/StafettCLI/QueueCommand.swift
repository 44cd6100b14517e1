import Foundation
import StafettDaemon
import StafettModel
#if canImport(Glibc)
import Glibc
#endif

/// `stafett queue`: what waits for which peer (like `mailq`), its age shape (like `qshape`), and
/// `retry`/`hold`/`release`/`delete` to act on it. Reads the queue directory itself, so it works whether
/// or not the daemon runs; after a change it tells a running daemon with SIGUSR1 to rescan.
enum QueueCommand {
    static let usage = """
        usage: stafett queue [--config FILE | --spool DIR] [-o text|json|csv] [--utc]
               stafett queue shape [--config FILE | --spool DIR] [-o text|json|csv]
               stafett queue retry|hold|release ID...|- [--config FILE | --spool DIR [--state DIR]]
               stafett queue delete ID... --reason CODE-OR-TEXT [--config FILE | --spool DIR [--state DIR]]

        Lists the signed messages waiting for delivery: peer, message id, event type, case
        reference, how long it has been queued, delivery attempts, when the next attempt is due,
        the last error and whether an operator holds it; then one summary line per peer.
        The queue is read from the directory named by paths.spool in the config file (default
        /etc/stafett/stafett.conf), or from DIR/queue with --spool.
        -o csv    for Excel (UTF-8 with BOM, ';'-separated), with whole errors and the times
                  queued, next attempt and expiry, in local time (or UTC with --utc)
        On a terminal the table fits its width: the last error is cut with … first.

        shape     an age histogram per peer (how long messages have waited), in buckets that
                  suit a domain where a hand-off late by hours matters:
                  0-5m, 5-30m, 30-60m, 1-4h, 4-24h, 1-3d, 3d+
        retry     makes the messages due now (a peer that is known to be back)
        hold      keeps the messages queued but stops delivering them
        release   undoes hold and makes the messages due now
        delete    withdraws messages that should never have been sent (like postsuper -d): each leaves
                  the queue for archive/withdrawn/<peer>/ with its withdrawal beside it, and stafettd
                  journals `withdrawn` with the reason code; stafett followup lists it (rule
                  withdrawn) until a new message for the same child is queued. --reason is a code
                  (wrong-recipient, wrong-content, duplicate, other), a code and a note
                  ("duplicate: sent by fax"), or free text (code other). Only the code enters the
                  journal; the note stays in the archive. A message whose delivery attempt is
                  already under way finishes that attempt (check with stafett case).
        ID is a message id; - means every message in the queue (not for delete). After a change the running
        stafettd (pid from <state>/stafettd.pid) is told with SIGUSR1 to rescan the queue; the
        output says whether it was. Run as the user stafettd runs as.
        Exit codes: 0 ok, 1 no such message, 2 usage error, 3 the queue could not be read or written.
        """

    static let command = Subcommand(name: "queue", summary: "messages waiting for delivery (queue shape, retry, hold, release, delete)") { argv, console in
        run(argv, console: console)
    }

    /// The age buckets of `queue shape`: upper bounds in seconds (the last is open).
    static let shapeBuckets: [(label: String, upTo: Double)] = [
        ("0-5m", 300), ("5-30m", 1800), ("30-60m", 3600), ("1-4h", 4 * 3600),
        ("4-24h", 86400), ("1-3d", 3 * 86400), ("3d+", .infinity),
    ]

    static func run(_ argv: [String], console: Console, now: Date = Date()) -> Int32 {
        var code = ExitCode.ok
        guard let args = StafettTool.parse(argv, usage: usage, console: console,
                                           options: ["--config", "--spool", "--state", "--output", "--reason"], flags: ["--utc"],
                                           aliases: ["-o": "--output", "-c": "--config"], exitCode: &code) else { return code }
        let format = args.value("--output") ?? "text"
        guard ["text", "json", "csv"].contains(format) else {
            console.error("stafett queue: -o takes text, json or csv, not \(format)\n\(usage)")
            return ExitCode.usage
        }
        if args.value("--spool") != nil && args.value("--config") != nil {
            console.error("stafett queue: give --config or --spool, not both\n\(usage)")
            return ExitCode.usage
        }
        let (layout, stateDir): (SpoolLayout, URL?)
        // Entries without retry state take their expiry from the message's age and this lifetime.
        var maxLifetime = StafettConfig.Delivery().maxLifetime.timeInterval
        if let spool = args.value("--spool") {
            layout = SpoolLayout(spool: URL(fileURLWithPath: spool), state: URL(fileURLWithPath: "/"))
            stateDir = args.value("--state").map { URL(fileURLWithPath: $0) }
        } else {
            let path = args.value("--config") ?? "/etc/stafett/stafett.conf"
            do {
                let config = try StafettConfig.load(path: path)
                layout = config.paths.layout
                maxLifetime = config.delivery.maxLifetime.timeInterval
                stateDir = args.value("--state").map { URL(fileURLWithPath: $0) } ?? layout.state
            } catch {
                return ExitCode.report(error, from: "stafett queue", during: .other, console: console)
            }
        }
        let queueDir = layout.queue
        if let denied = PermissionDeniedError.check(queueDir.path) {
            console.error("stafett queue: \(denied)")
            return ExitCode.failure
        }
        guard FileManager.default.fileExists(atPath: queueDir.path) else {
            console.error("stafett queue: no queue directory at \(queueDir.path)")
            return ExitCode.failure
        }
        // Opened without creating anything: a typo must not make an empty queue somewhere.
        let store: QueueStore
        do { store = try QueueStore(directory: queueDir) } catch {
            return ExitCode.report(error, from: "stafett queue", during: .other, console: console)
        }
        var problems: [String] = []
        let entries = store.loadAll(maxLifetime: maxLifetime) { problems.append($0) }
        for p in problems { console.error("stafett queue: \(p)") }

        let positionals = args.positionals
        if args.value("--reason") != nil && positionals.first != "delete" {
            console.error("stafett queue: --reason goes with delete\n\(usage)")
            return ExitCode.usage
        }
        switch positionals.first {
        case nil:
            let peers = Set(entries.map(\.peer)).sorted()
            list(entries, backoffs: peers.compactMap { store.peerBackoff($0) }, format: format, now: now,
                 times: TimeText(utc: args.has("--utc")), console: console)
            return problems.isEmpty ? ExitCode.ok : ExitCode.failure
        case "shape"?:
            guard positionals.count == 1 else {
                console.error("stafett queue shape takes no further arguments\n\(usage)")
                return ExitCode.usage
            }
            shape(entries, format: format, now: now, console: console)
            return problems.isEmpty ? ExitCode.ok : ExitCode.failure
        case let action? where ["retry", "hold", "release"].contains(action):
            let ids = Array(positionals.dropFirst())
            guard !ids.isEmpty else {
                console.error("stafett queue \(action): name at least one message ID, or - for all\n\(usage)")
                return ExitCode.usage
            }
            return act(action, ids: ids, entries: entries, store: store, state: stateDir, now: now, console: console)
        case "delete"?:
            let ids = Array(positionals.dropFirst())
            guard !ids.isEmpty, !ids.contains("-") else {
                console.error("stafett queue delete: name the message IDs to withdraw (- is not accepted here)\n\(usage)")
                return ExitCode.usage
            }
            guard let reason = args.value("--reason"), !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                console.error("stafett queue delete: --reason is required: "
                              + WithdrawalReason.allCases.map(\.rawValue).joined(separator: ", ") + ", or your own words\n\(usage)")
                return ExitCode.usage
            }
            return withdraw(ids, reason: reason, entries: entries, store: store, layout: layout, state: stateDir, now: now,
                            console: console)
        case let other?:
            console.error("stafett queue: unknown action \(other) (shape, retry, hold, release or delete)\n\(usage)")
            return ExitCode.usage
        }
    }

    // MARK: listing

    /// Lists the queue. A message is not tried before its peer's back-off ends either (`backoffs`,
    /// written by the daemon when a peer stops answering), so its next retry is the later of the two.
    static func list(_ entries: [QueueEntry], backoffs: [PeerBackoff] = [], format: String, now: Date,
                     times: TimeText = TimeText(utc: false), console: Console) {
        let downUntil = Dictionary(backoffs.filter { $0.until > now }.map { ($0.peer, $0.until) }, uniquingKeysWith: max)
        func next(_ e: QueueEntry) -> Date { max(e.nextAttempt, downUntil[e.peer] ?? e.nextAttempt) }
        if format == "json" {
            let messages: [[String: Any]] = entries.map { e in
                var d: [String: Any] = [
                    "peer": e.peer, "messageId": e.messageId.rawValue, "eventType": e.eventType.rawValue,
                    "recipient": e.recipient.digits, "queuedAt": iso(e.queuedAt), "ageSeconds": Int(now.timeIntervalSince(e.queuedAt)),
                    "attempts": e.attempts, "nextAttempt": iso(next(e)),
                    "nextAttemptInSeconds": max(0, Int(next(e).timeIntervalSince(now).rounded(.up))),
                    "expiresAt": iso(e.expiresAt), "held": e.held,
                ]
                d["caseRef"] = e.caseRef ?? NSNull()
                d["lastError"] = e.lastError ?? NSNull()
                return d
            }
            let backoffByPeer = Dictionary(backoffs.map { ($0.peer, $0) }, uniquingKeysWith: { a, _ in a })
            let peers: [[String: Any]] = summaries(entries).map { s in
                var d: [String: Any] = ["peer": s.peer, "count": s.count, "held": s.held, "oldestSeconds": Int(now.timeIntervalSince(s.oldest)),
                                        "lastError": s.lastError ?? NSNull()]
                if let b = backoffByPeer[s.peer] {
                    d["downSince"] = iso(b.since)
                    d["backoffUntil"] = iso(b.until)
                    d["failuresInARow"] = b.failures
                    d["lastError"] = b.lastError
                }
                return d
            }
            printJSON(["messages": messages, "peers": peers], console: console)
            return
        }
        if format == "csv" {
            let zone = times.zoneNote
            let header = ["PEER", "MESSAGE ID", "EVENT", "CASE", "QUEUED (\(zone))", "ATTEMPTS", "NEXT ATTEMPT (\(zone))",
                          "EXPIRES (\(zone))", "LAST ERROR", "HELD"]
            console.write(Data(ExcelCSV.render(header: header, rows: entries.map { e in
                [e.peer, e.messageId.rawValue, e.eventType.rawValue, e.caseRef ?? "", times.cell(e.queuedAt), String(e.attempts),
                 times.cell(next(e)), times.cell(e.expiresAt), e.lastError ?? "", e.held ? "yes" : "no"]
            })))
            return
        }
        guard !entries.isEmpty else { console.print("Queue is empty."); return }
        // LAST ERROR, free text, is what gives way to the terminal's width.
        console.print(TextTable(
            header: ["PEER", "MESSAGE ID", "EVENT", "CASE", "QUEUED", "ATTEMPTS", "NEXT RETRY", "LAST ERROR", "HELD"],
            rows: entries.map { e in
                [e.peer, e.messageId.rawValue, e.eventType.rawValue, e.caseRef ?? "-", duration(now.timeIntervalSince(e.queuedAt)),
                 String(e.attempts), e.held ? "held" : nextRetry(next(e), now: now),
                 truncate(e.lastError ?? "-", 60), e.held ? "yes" : "no"]
            },
            rightAligned: [5], shrinkable: [7]))
        console.print("")
        let backoffByPeer = Dictionary(backoffs.map { ($0.peer, $0) }, uniquingKeysWith: { a, _ in a })
        for s in summaries(entries) {
            var line = "\(s.peer): \(s.count) message(s), oldest queued \(duration(now.timeIntervalSince(s.oldest))) ago"
            if s.held > 0 { line += ", \(s.held) held" }
            if let b = backoffByPeer[s.peer] {
                line += ", not answering since \(duration(now.timeIntervalSince(b.since))) ago (\(b.failures) failed tries in a row), "
                    + (b.until > now ? "next try \(nextRetry(b.until, now: now))" : "next try now")
                    + ", last error: \(truncate(b.lastError, 120))"
            } else {
                line += s.lastError.map { ", last error: \(truncate($0, 120))" } ?? ", no errors"
            }
            console.print(line)
        }
    }

    struct PeerSummary {
        var peer: String
        var count: Int
        var held: Int
        var oldest: Date
        var lastError: String?
    }

    /// One line per peer. The peer's last error is that of its most recently failed message
    /// (the one whose next attempt was scheduled last), which is the freshest failure on disk.
    static func summaries(_ entries: [QueueEntry]) -> [PeerSummary] {
        let byPeer = Dictionary(grouping: entries, by: \.peer)
        return byPeer.keys.sorted().map { peer in
            let list = byPeer[peer]!
            let failed = list.filter { $0.lastError != nil }.max { $0.nextAttempt < $1.nextAttempt }
            return PeerSummary(peer: peer, count: list.count, held: list.filter(\.held).count,
                               oldest: list.map(\.queuedAt).min()!, lastError: failed?.lastError)
        }
    }

    static func shape(_ entries: [QueueEntry], format: String, now: Date, console: Console) {
        let byPeer = Dictionary(grouping: entries, by: \.peer)
        func counts(_ list: [QueueEntry]) -> [Int] {
            var c = [Int](repeating: 0, count: shapeBuckets.count)
            for e in list {
                let age = max(0, now.timeIntervalSince(e.queuedAt))
                c[shapeBuckets.firstIndex { age < $0.upTo }!] += 1
            }
            return c
        }
        if format == "json" {
            var peers: [String: Any] = [:]
            for (p, list) in byPeer { peers[p] = counts(list) }
            printJSON(["buckets": shapeBuckets.map(\.label), "total": counts(entries), "peers": peers], console: console)
            return
        }
        let header = ["PEER", "T"] + shapeBuckets.map(\.label)
        var rows = [["TOTAL", String(entries.count)] + counts(entries).map(String.init)]
        for p in byPeer.keys.sorted() { rows.append([p, String(byPeer[p]!.count)] + counts(byPeer[p]!).map(String.init)) }
        if format == "csv" { console.write(Data(ExcelCSV.render(header: header, rows: rows))); return }
        console.print(TextTable(header: header, rows: rows, rightAligned: Set(1..<header.count)))
    }

    // MARK: actions

    static func act(_ action: String, ids: [String], entries: [QueueEntry], store: QueueStore, state: URL?,
                    now: Date, console: Console) -> Int32 {
        var targets: [QueueEntry] = []
        var missing: [String] = []
        if ids == ["-"] {
            targets = entries
        } else {
            for id in ids {
                let found = entries.filter { $0.messageId.rawValue == id }
                if found.isEmpty { missing.append(id) } else { targets += found }
            }
        }
        var failed = false
        var changed = 0
        for e in targets {
            do {
                // Only the fields the action is about change, on the state on disk under the
                // message's lock: `e` was read before, and the delivery worker may have recorded an
                // attempt (count, last error) since.
                let saved = try store.update(e) { current in
                    switch action {
                    case "hold": current.held = true
                    case "release": current.held = false; current.nextAttempt = now
                    default: current.nextAttempt = now
                    }
                }
                // The daemon may have delivered it meanwhile: leave no retry state without a message.
                guard let saved, store.contains(peer: e.peer, id: e.messageId) else {
                    unlink(store.metaPath(peer: e.peer, id: e.messageId))
                    console.print("\(action): \(e.peer) \(e.messageId): already left the queue")
                    continue
                }
                changed += 1
                var line = "\(action): \(e.peer) \(e.messageId)"
                if action == "retry" && saved.held { line += " (held: release it to deliver)" }
                console.print(line)
            } catch {
                console.error("stafett queue \(action): \(e.messageId): \(error)")
                failed = true
            }
        }
        for id in missing { console.error("stafett queue \(action): no message \(id) in the queue") }
        if changed == 0 && ids == ["-"] { console.print("Queue is empty: nothing to \(action).") }
        if changed > 0 { console.print(tellDaemon(state: state)) }
        if failed { return ExitCode.failure }
        return missing.isEmpty ? ExitCode.ok : ExitCode.invalid
    }

    /// `queue delete`: withdraws each message under its lock (`QueueStore.withdraw`); the running
    /// stafettd journals the withdrawals when told (or at its next start).
    static func withdraw(_ ids: [String], reason text: String, entries: [QueueEntry], store: QueueStore, layout: SpoolLayout,
                         state: URL?, now: Date, console: Console) -> Int32 {
        let (code, note) = WithdrawalReason.parse(text)
        let user = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "uid \(geteuid())"
        var missing: [String] = [], failed = false, changed = 0
        for id in ids {
            let found = entries.filter { $0.messageId.rawValue == id }
            if found.isEmpty { missing.append(id); continue }
            for e in found {
                let w = Withdrawal(messageId: e.messageId, peer: e.peer, reason: code, note: note, at: now, by: user,
                                   caseRef: e.caseRef, digest: e.digest)
                do {
                    guard try store.withdraw(e, w, layout: layout) else {
                        console.print("delete: \(e.peer) \(e.messageId): already left the queue")
                        continue
                    }
                    changed += 1
                    console.print("delete: \(e.peer) \(e.messageId): withdrawn (\(code.rawValue)), kept in "
                                  + layout.withdrawalPaths(peer: e.peer, id: e.messageId).directory)
                } catch {
                    console.error("stafett queue delete: \(e.messageId): \(error)")
                    failed = true
                }
            }
        }
        for id in missing { console.error("stafett queue delete: no message \(id) in the queue") }
        if changed > 0 { console.print(tellDaemon(state: state) + " (stafettd journals each withdrawal when told, or when it starts)") }
        if failed { return ExitCode.failure }
        return missing.isEmpty ? ExitCode.ok : ExitCode.invalid
    }

    /// Sends SIGUSR1 to the daemon named in `<state>/stafettd.pid`; returns what happened, for the operator.
    static func tellDaemon(state: URL?) -> String {
        guard let state else {
            return "stafettd was not told (no state directory; give --state DIR): it sees the change at its next attempt or start"
        }
        let pidFile = state.appendingPathComponent("stafettd.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            return "stafettd was not told: no running daemon (\(pidFile.path) is missing); the change applies when it starts"
        }
        if kill(pid, SIGUSR1) == 0 { return "told stafettd (pid \(pid)) to rescan the queue" }
        let why = errno == ESRCH ? "no such process (stale pid file)" : String(cString: strerror(errno))
        return "stafettd was not told: pid \(pid) from \(pidFile.path): \(why); the change applies when it next reads the queue"
    }

    // MARK: formatting

    static func duration(_ seconds: Double) -> String {
        let s = max(0, Int(seconds))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        return "\(s / 86400)d\(String(format: "%02d", (s % 86400) / 3600))h"
    }

    static func nextRetry(_ date: Date, now: Date) -> String {
        let d = date.timeIntervalSince(now)
        return d <= 0 ? "now" : "in " + duration(d.rounded(.up))
    }

    static func truncate(_ s: String, _ n: Int) -> String {
        let flat = terminalSafe(s.replacingOccurrences(of: "\n", with: " "))
        return flat.count <= n ? flat : String(flat.prefix(n - 1)) + "…"
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    static func printJSON(_ object: Any, console: Console) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) {
            console.write(data)
            console.print("")
        }
    }
}
