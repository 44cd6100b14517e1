import Foundation
import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettJournal
import StafettModel

/// Issue 14's soak: a municipality and an agency on loopback (real mutual TLS, two daemons from this
/// binary), records dropped into the municipality's outbox in files of many sizes while either
/// daemon is SIGKILLed and restarted at random, then, once everything has settled, what arrived
/// counted against what was dropped. DESIGN.md, "What must never happen": nothing lost, nothing
/// delivered twice, the journals intact.
enum SoakBenchmark {
    struct Plan {
        var records: Int
        var kills: Int
        /// Records dropped per second.
        var rate: Double
        /// Seconds for the whole run, daemons' start to settled.
        var timeout: Double
        var seed: UInt64
    }

    /// One outbox file: its name, its bytes and the message ids intake gives its records.
    struct DropFile: Sendable {
        var name: String
        var data: Data
        var ids: [String]
    }

    /// Runs the soak and prints its figures; returns false when something was lost or duplicated,
    /// a journal does not verify, or the run did not settle within the timeout.
    static func run(_ plan: Plan) throws -> Bool {
        print("== soak: \(plan.records) records through the municipality's outbox, \(plan.kills) random SIGKILLs of either daemon")
        var random = SplitMix64(seed: plan.seed)
        let files = dropFiles(records: plan.records, random: &random)
        let sizes = files.map(\.data.count)
        print("  seed \(plan.seed): \(files.count) files of \(sizes.min() ?? 0)–\(sizes.max() ?? 0) bytes "
              + "(\(files.map(\.ids.count).min() ?? 0)–\(files.map(\.ids.count).max() ?? 0) records), "
              + String(format: "dropped at %.0f records/s, timeout %.0f s", plan.rate, plan.timeout))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-soak-\(getpid())")
        let net = try DemoNetwork.create(in: dir, members: [("kommun", "Trelleborgs kommun", "2120001165"),
                                                             ("verket", "Migrationsverket", "2021002163")]) { _, c in
            c.journal.checkpointInterval = .seconds(5)
        }
        let sender = net.node("kommun"), receiver = net.node("verket")
        let nodes = SoakNodes(network: net, launcher: DaemonLauncher.forThisProgram)
        defer { nodes.stopAll() }
        let start = Date()
        let deadline = start.addingTimeInterval(plan.timeout)
        for n in net.nodes { try nodes.start(n, deadline: deadline) }

        let progress = FeedProgress()
        let outbox = sender.layout.outbox
        let feeder = Thread {
            var due = 0.0
            for (i, f) in files.enumerated() {
                let wait = start.addingTimeInterval(due).timeIntervalSinceNow
                if wait > 0 { usleep(UInt32(wait * 1e6)) }
                do { try AtomicFile.write(f.data, to: outbox.appendingPathComponent(f.name)) } catch {
                    progress.fail("cannot drop \(f.name): \(error)")
                    return
                }
                due += Double(f.ids.count) / plan.rate
                progress.dropped(files: i + 1, records: f.ids.count)
            }
        }
        feeder.start()

        // Kills spread over the time the records are dropped, each at a random point of its slot,
        // on a random side; the killed daemon is restarted after up to half a second.
        let feedSeconds = Double(plan.records) / plan.rate
        let slot = feedSeconds / Double(max(plan.kills, 1))
        let deliveries = JournalTally(node: sender)
        for k in 0..<plan.kills {
            let at = start.addingTimeInterval(slot * (Double(k) + Double.random(in: 0.1...0.9, using: &random)))
            if let failure = progress.failure { throw StartupError(failure) }
            guard Date() < deadline else { throw timedOut(dir, "after \(k) of \(plan.kills) kills") }
            let wait = at.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1e6)) }
            let victim = Bool.random(using: &random) ? sender : receiver
            deliveries.catchUp()
            nodes.kill(victim)
            print(String(format: "  kill %2d/%d at %6.1f s: %@ (%d records dropped, %d delivered so far)",
                         k + 1, plan.kills, Date().timeIntervalSince(start), victim.name, progress.records,
                         deliveries.delivered.count))
            fflush(nil)
            usleep(UInt32.random(in: 0...500_000, using: &random))
            try nodes.start(victim, deadline: deadline)
        }
        while !progress.done(of: files.count) {
            if let failure = progress.failure { throw StartupError(failure) }
            guard Date() < deadline else { throw timedOut(dir, "while dropping files (\(progress.records) records dropped)") }
            usleep(100_000)
        }

        // Settled: every record delivered (or refused into failed/), nothing left in the queue or the outbox.
        let expected = files.flatMap(\.ids)
        while true {
            deliveries.catchUp()
            let failedIDs = failedRecords(sender, files: files)
            let undelivered = expected.filter { !deliveries.delivered.keys.contains($0) && !failedIDs.contains($0) }.count
            let queued = queuedMessages(sender), waiting = waitingInOutbox(sender)
            if undelivered == 0 && queued == 0 && waiting == 0 { break }
            guard Date() < deadline else {
                throw timedOut(dir, "waiting to settle: \(undelivered) records not delivered, \(queued) messages in the queue, "
                               + "\(waiting) files in the outbox")
            }
            usleep(500_000)
        }
        let settled = Date().timeIntervalSince(start)
        nodes.stopAll()

        let report = Report(expected: expected, files: files, sender: sender, receiver: receiver)
        print(String(format: "  settled after %.1f s; daemons stopped with SIGTERM", settled))
        print(report.text)
        fflush(nil)  // `journal verify` writes to the descriptor, past print's buffer
        var verified = true
        for n in [sender, receiver] {
            print("stafett journal verify (\(n.name)):")
            fflush(nil)
            let code = JournalCommand.run(["verify", "--config", n.configPath], context: JournalCLIContext(), console: Console())
            print("  → exit \(code)" + (code == 0 ? " (ok)" : " (FAILED)"))
            verified = verified && code == 0
        }
        let passed = report.lost == 0 && report.duplicated == 0 && verified
        print(passed ? "soak: PASS" : "soak: FAIL (lost \(report.lost), duplicated \(report.duplicated), journals verify: \(verified ? "ok" : "FAILED"))")
        if passed && ProcessInfo.processInfo.environment["STAFETT_BENCH_KEEP"] == nil {
            try? FileManager.default.removeItem(at: dir)
        } else {
            print("kept \(dir.path) (daemon logs in */stafettd.log)")
        }
        return passed
    }

    /// Files of 1 to 400 records until `records` are planned: mostly small ones (a case worker's
    /// change), some large (a day's list). Each file's content is unique, so each record has its own id.
    static func dropFiles(records: Int, random: inout SplitMix64) -> [DropFile] {
        var files: [DropFile] = []
        var planned = 0
        while planned < records {
            let size: Int
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4: size = 1
            case 4..<7: size = Int.random(in: 2...10, using: &random)
            case 7..<9: size = Int.random(in: 11...100, using: &random)
            default: size = Int.random(in: 101...400, using: &random)
            }
            let n = min(size, records - planned)
            let number = files.count
            let data = EndToEndBenchmark.intakeFile(tag: "S\(number)", records: n)
            let digest = SHA256.hex(data)
            files.append(DropFile(name: String(format: "soak-%05d-%d.csv", number, n), data: data,
                                  ids: (0..<n).map { IntakeFile.messageID(fileDigestHex: digest, index: $0).rawValue }))
            planned += n
        }
        return files
    }

    /// Ids of the records whose file intake refused into `failed/` (kept under its name, perhaps
    /// with a suffix to stay unique).
    static func failedRecords(_ node: DemoNetwork.Node, files: [DropFile]) -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: node.layout.failed.path)) ?? []
        guard !names.isEmpty else { return [] }
        var ids: Set<String> = []
        for f in files {
            let stem = String(f.name.dropLast(".csv".count))
            if names.contains(where: { $0.hasPrefix(stem) && !$0.hasSuffix(".errors.txt") }) { ids.formUnion(f.ids) }
        }
        return ids
    }

    /// Signed messages still waiting in `queue/<peer>/`.
    static func queuedMessages(_ node: DemoNetwork.Node) -> Int {
        let fm = FileManager.default
        let peers = (try? fm.contentsOfDirectory(atPath: node.layout.queuePath)) ?? []
        return peers.filter { !$0.hasPrefix(".") }.reduce(0) { n, peer in
            n + ((try? fm.contentsOfDirectory(atPath: SpoolLayout.join(node.layout.queuePath, peer))) ?? [])
                .filter { !$0.hasPrefix(".") && $0.hasSuffix(".xml") }.count
        }
    }

    /// Files in the outbox intake has not taken yet.
    static func waitingInOutbox(_ node: DemoNetwork.Node) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: node.layout.outbox.path)) ?? [])
            .filter { $0.hasSuffix(".csv") && !$0.hasPrefix(".") }.count
    }

    static func timedOut(_ dir: URL, _ what: String) -> StartupError {
        StartupError("soak timed out \(what); the run's files and daemon logs are kept in \(dir.path)")
    }

    /// The figures, from the files and journals the stopped daemons left.
    struct Report {
        var dropped = 0, deliveredRecords = 0, deliveredIDs = 0, inboxIDs = 0, inboxFiles = 0
        var inboxLeftovers = 0, receivedRecords = 0, receivedIDs = 0, failed = 0, lost = 0, unexpected = 0
        var duplicatedDelivered: Int { deliveredRecords - deliveredIDs }
        var duplicatedInbox: Int { inboxFiles - inboxIDs }
        var duplicated: Int { duplicatedDelivered + duplicatedInbox }

        init(expected: [String], files: [DropFile], sender: DemoNetwork.Node, receiver: DemoNetwork.Node) {
            dropped = expected.count
            let sent = JournalTally(node: sender)
            sent.catchUp()
            deliveredRecords = sent.delivered.values.reduce(0, +)
            deliveredIDs = sent.delivered.count
            let got = JournalTally(node: receiver)
            got.catchUp()
            receivedRecords = got.received.values.reduce(0, +)
            receivedIDs = got.received.count
            let names = (try? FileManager.default.contentsOfDirectory(atPath: receiver.layout.inboxPath)) ?? []
            var inbox: [String: Int] = [:]
            for name in names {
                guard !name.hasPrefix("."), name.hasSuffix(".xml"), let sep = name.firstIndex(of: "_") else { inboxLeftovers += 1; continue }
                inbox[String(name[name.index(after: sep)...].dropLast(".xml".count)), default: 0] += 1
                inboxFiles += 1
            }
            inboxIDs = inbox.count
            let failedIDs = SoakBenchmark.failedRecords(sender, files: files)
            failed = failedIDs.count
            let expectedSet = Set(expected)
            lost = expected.filter { inbox[$0] == nil && !failedIDs.contains($0) }.count
            unexpected = inbox.keys.filter { !expectedSet.contains($0) }.count
        }

        var text: String {
            """
            records dropped:                         \(dropped)
            messages delivered (sender journal):     \(deliveredRecords) `delivered` records for \(deliveredIDs) message ids
            distinct message ids in receiver inbox:  \(inboxIDs) (\(inboxFiles) files; \(inboxLeftovers) other entries: stage/tmp leftovers)
            receiver journal:                        \(receivedRecords) `received` records for \(receivedIDs) message ids
            refused into failed/:                    \(failed)
            lost (not in inbox, not in failed/):     \(lost)
            duplicated:                              \(duplicated) (\(duplicatedDelivered) `delivered` beyond one per id, \(duplicatedInbox) inbox files beyond one per id)
            in inbox but never dropped:              \(unexpected)
            """
        }
    }
}

/// The two daemons of the soak, by node name; a restarted daemon appends to the same log.
final class SoakNodes: @unchecked Sendable {
    private let network: DemoNetwork
    private let launcher: DaemonLauncher
    private var running: [String: DaemonProcess] = [:]

    init(network: DemoNetwork, launcher: DaemonLauncher) {
        self.network = network
        self.launcher = launcher
    }

    /// Starts the node's daemon and waits until its receiver accepts connections.
    func start(_ node: DemoNetwork.Node, deadline: Date) throws {
        let log = node.directory.appendingPathComponent("stafettd.log").path
        let d = try DaemonProcess(launcher: launcher, config: node.configPath, logPath: log)
        running[node.name] = d
        guard d.waitForPort(node.port, timeout: max(1, deadline.timeIntervalSinceNow)) else {
            throw StartupError("\(node.name) did not come up again (before the soak's timeout); see \(log)")
        }
    }

    func kill(_ node: DemoNetwork.Node) {
        running.removeValue(forKey: node.name)?.kill9()
    }

    func stopAll() {
        for d in running.values { d.stop() }
        running.removeAll()
    }
}

/// `delivered` and `received` records per message id in a node's journal, read on as it grows.
final class JournalTally {
    private let stream: JournalStream
    private(set) var delivered: [String: Int] = [:]
    private(set) var received: [String: Int] = [:]

    init(node: DemoNetwork.Node) { stream = JournalStream(directory: node.layout.journal.path) }

    func catchUp() {
        try? stream.readAvailable { raw in
            guard let e = try? EntryCodec.decode(raw.payload), let id = e.messageId else { return }
            if e.kind == .delivered { delivered[id, default: 0] += 1 }
            if e.kind == .received, e.status == "accepted" { received[id, default: 0] += 1 }
        }
    }
}

/// What the feeding thread has dropped so far, read by the main thread.
final class FeedProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var files = 0, count = 0, error: String?

    func dropped(files: Int, records: Int) { lock.withLock { self.files = files; count += records } }
    func fail(_ why: String) { lock.withLock { error = why } }
    var records: Int { lock.withLock { count } }
    var failure: String? { lock.withLock { error } }
    func done(of total: Int) -> Bool { lock.withLock { files == total } }
}

/// A seeded generator, so that a run's file sizes and kill pattern can be repeated (`--seed`).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
