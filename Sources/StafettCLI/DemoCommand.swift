import Foundation
import StafettCrypto
import StafettDaemon
import StafettJournal
import StafettSignature
import StafettXML

/// `stafett demo`: the README's "run it". Two real daemons on loopback, a municipality and
/// Migrationsverket, talking mutual TLS 1.3; intake files dropped into the municipality's
/// outbox; deliveries, signed receipts, the agency's inbox and the follow-up report shown.
enum DemoCommand {
    static let usage = """
        usage: stafett demo [--dir DIR] [--keep-running]

        Creates a throwaway CA and two nodes in DIR (default ./demo, replaced if it holds an
        earlier demo): Trelleborgs kommun (212000-1165) and Migrationsverket (202100-2163).
        Starts both stafettd on 127.0.0.1, drops sample CSV and JSON intake files (and one
        broken file) into the municipality's outbox, waits for every signed receipt, and shows
        the deliveries, the receipts, the agency's inbox and `stafett followup`.
        --keep-running leaves both daemons running (stop them with kill PID).
        """

    static let command = Subcommand(name: "demo", summary: "run a two-node demo on loopback that really delivers") { argv, console in
        var code = ExitCode.ok
        guard let args = StafettTool.parse(argv, usage: usage, console: console, options: ["--dir"],
                                           flags: ["--keep-running"], exitCode: &code) else { return code }
        let dir = URL(fileURLWithPath: args.value("--dir") ?? "demo").standardizedFileURL
        do {
            return try run(in: dir, keepRunning: args.has("--keep-running"), console: console)
        } catch {
            console.error("stafett demo: \(error)")
            return ExitCode.failure
        }
    }

    static func run(in dir: URL, keepRunning: Bool, console: Console) throws -> Int32 {
        let fm = FileManager.default
        let marker = dir.appendingPathComponent(".stafett-demo")
        if fm.fileExists(atPath: dir.path) {
            guard fm.fileExists(atPath: marker.path) else {
                console.error("stafett demo: \(dir.path) exists and is not an earlier demo; choose another --dir")
                return ExitCode.usage
            }
            try fm.removeItem(at: dir)
        }
        console.print("== Creating a CA and two nodes in \(dir.path)")
        // Marked first: a demo that fails half-way leaves a directory the next run may clear.
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data().write(to: marker)
        let net = try DemoNetwork.create(in: dir, members: [
            ("trelleborg", "Trelleborgs kommun", "2120001165"),
            ("migrationsverket", "Migrationsverket", "2021002163"),
        ])
        let kommun = net.node("trelleborg"), verket = net.node("migrationsverket")
        for n in net.nodes {
            console.print("   \(n.organisationName) (\(n.organisation)): https://127.0.0.1:\(n.port), config \(n.configPath)")
        }

        let launcher = DaemonLauncher.forThisProgram
        guard fm.isExecutableFile(atPath: launcher.executable) else {
            console.error("stafett demo: cannot find the daemon (looked for \(launcher.executable)); run `swift build` first")
            return ExitCode.failure
        }
        console.print("== Starting both daemons (\(([launcher.executable] + launcher.leadingArguments).joined(separator: " ")))")
        var daemons: [DaemonProcess] = []
        // Kept running only after a demo that got as far as its report: one that fails half-way
        // stops what it started rather than leaving daemons nobody was told about.
        var reachedTheEnd = false
        defer { if !keepRunning || !reachedTheEnd { for d in daemons { d.stop() } } }
        for n in net.nodes {
            let d = try DaemonProcess(launcher: launcher, config: n.configPath, logPath: n.directory.appendingPathComponent("stafettd.log").path)
            daemons.append(d)
            guard d.waitForPort(n.port) else {
                console.error("stafett demo: \(n.name) did not start; see \(d.logPath)")
                return ExitCode.failure
            }
        }

        console.print("== Dropping intake files into \(kommun.layout.outbox.path)")
        let drops: [(String, String)] = [("ankomst-2015-10-23.csv", DemoData.csv), ("malmo-overflyttning.json", DemoData.json),
                                         ("trasig-lista.csv", DemoData.broken)]
        for (name, text) in drops {
            // The documented way: write under a dot-name, then rename into place.
            try AtomicFile.write(Data(text.utf8), to: kommun.layout.outbox.appendingPathComponent(name), mode: 0o644)
            console.print("   \(name)")
        }

        let expected = DemoData.expectedMessages
        let deadline = Date().addingTimeInterval(60)
        var received = 0
        while Date() < deadline {
            received = (try? fm.contentsOfDirectory(atPath: verket.layout.inbox.path).filter { $0.hasSuffix(".xml") }.count) ?? 0
            let queued = QueueStoreSnapshot.count(kommun.layout.queue)
            let failedDone = fm.fileExists(atPath: kommun.layout.failed.appendingPathComponent("trasig-lista.csv.errors.txt").path)
            if received >= expected && queued == 0 && failedDone { break }
            usleep(100_000)
        }
        console.print("== Migrationsverket's inbox (\(received) of \(expected) messages)")
        for f in ((try? fm.contentsOfDirectory(atPath: verket.layout.inbox.path)) ?? []).sorted() {
            console.print("   \(f)")
        }

        console.print("== Migrationsverket's signed receipts, in Trelleborg's archive, bound by digest in its journal")
        var receipts: [(id: String, xml: Data)] = []
        try JournalStream(directory: kommun.layout.journal.path).readAvailable { raw in
            guard let e = try? EntryCodec.decode(raw.payload), e.kind == .delivered || e.kind == .rejected,
                  let id = e.messageId, let r = try? ArchivedReceipt.read(for: e, archive: kommun.layout.archivePath) else { return }
            receipts.append((id, r))
        }
        let verketCert = try Certificate.load(path: verket.tls("signing.crt"))
        var verified = 0
        for r in receipts {
            let doc = try XMLDocument.parse(r.xml)
            if (try? XMLSignature.verify(doc, trusting: verketCert)) != nil { verified += 1 }
        }
        console.print("   \(receipts.count) receipts, \(verified) verified against Migrationsverket's signing certificate")
        if let first = receipts.first {
            console.print("   check one yourself: stafett receipt \(first.id) --config \(kommun.configPath) | stafett verify --cert \(verket.tls("signing.crt")) -")
        }

        console.print("== The broken file went to failed/ with a report for the case worker")
        let report = kommun.layout.failed.appendingPathComponent("trasig-lista.csv.errors.txt")
        if let text = try? String(contentsOf: report, encoding: .utf8) {
            for line in text.split(separator: "\n") { console.print("   \(line)") }
        }

        console.print("== stafett journal tail -n 8 (Trelleborg)")
        _ = StafettTool.main(["journal", "tail", "-n", "8", "--journal", kommun.layout.journal.path], console: console)
        console.print("== stafett followup (Trelleborg): hand-offs not confirmed, children missing and not found")
        _ = StafettTool.main(["followup", "--journal", kommun.layout.journal.path, "--secret", kommun.tls("journal.secret")], console: console)

        let ok = received >= expected && verified == receipts.count && receipts.count >= expected
        reachedTheEnd = true
        if keepRunning {
            console.print("== Both daemons keep running: PIDs \(daemons.map { String($0.process.processIdentifier) }.joined(separator: " "))")
            console.print("   Drop more files into \(kommun.layout.outbox.path); stop with kill <PID>.")
        }
        console.print(ok ? "== Demo complete: every record delivered, every receipt verified."
                         : "== Demo INCOMPLETE: see the logs in \(dir.path)/*/stafettd.log")
        return ok ? ExitCode.ok : ExitCode.failure
    }
}

/// Counts complete entries in a queue directory without loading them.
enum QueueStoreSnapshot {
    static func count(_ queue: URL) -> Int {
        let fm = FileManager.default
        var n = 0
        for peer in (try? fm.contentsOfDirectory(atPath: queue.path)) ?? [] {
            n += ((try? fm.contentsOfDirectory(atPath: queue.appendingPathComponent(peer).path)) ?? []).filter { $0.hasSuffix(".xml") && !$0.hasPrefix(".") }.count
        }
        return n
    }
}
