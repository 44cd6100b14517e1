import Foundation
import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettTransport

/// `stafett-bench fanin` (issue 15, items 3 and 4): one receiving `stafettd` on loopback, the
/// national node, and N organisations sending to it, each with its own certificate and signing
/// key and its own keep-alive connections, all played by this process. Measures the steady
/// state at 1 record/s per peer, a burst of `burst` records from every peer at once, every peer
/// reconnecting after a receiver restart, SIGHUP reload and config load at N, and the
/// receiver's peak threads, descriptors and resident memory.
enum FanInBenchmark {
    struct Options {
        var peers = 300
        var seconds = 30
        var burst = 100
        /// Connections per peer: the daemon's `connections-per-peer` default.
        var connections = 2
        /// Seconds before a failed attempt is tried again: the daemon's `initial-backoff` default.
        var backoff = 30.0
    }

    static let receiver = "2021005489"

    static func run(_ o: Options) throws {
        print("== fanin: \(o.peers) peers, each its own organisation, certificate, source address and \(o.connections) keep-alive connections, → one stafettd on loopback")
        print("   load average at start: \(ProcessSampler.loadAverage) (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
        // Every peer's connections, their replacements after the restart, and the receiver's share.
        FloodBenchmark.raiseDescriptorLimit(to: rlim_t(o.peers * o.connections * 4 + 4096))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-fanin-\(getpid())")
        defer { if ProcessInfo.processInfo.environment["STAFETT_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(at: dir) } else { print("kept \(dir.path)") } }
        let net = try DemoNetwork.create(in: dir, members: [("verket", "Migrationsverket", receiver)]) { _, c in
            c.journal.checkpointInterval = .seconds(60)
        }
        let node = net.node("verket")
        let ca = try CertificateAuthority.load(keyPath: dir.appendingPathComponent("ca/ca.key").path, certificatePath: net.caPath)

        var t = Date()
        let issued = try FanInPeers.issue(count: o.peers, ca: ca, directory: node.directory)
        let config = try FileHandle(forWritingTo: URL(fileURLWithPath: node.configPath))
        config.seekToEndOfFile()
        config.write(Data("\ninclude = peers.conf\n".utf8))
        try config.close()
        print(String(format: "setup: %d keys and certificates issued, peers.conf written (one 4-line section each, included) in %.1f s",
                     o.peers, Date().timeIntervalSince(t)))
        let loads = try (0..<3).map { _ in try seconds {
            let c = try StafettConfig.load(path: node.configPath)
            try c.validate(checkFiles: true)
            _ = try NodeRuntime.load(c)
        } }.sorted()
        print(String(format: "config load at N = %d (parse, validate with files, load %d signing certificates): %.0f ms (best of 3; %.0f ms worst)",
                     o.peers, o.peers, loads[0] * 1000, loads[2] * 1000))

        t = Date()
        let perPeer = 1 + o.seconds + o.burst + 2
        let template = try IntakeParser.records(data: EndToEndBenchmark.intakeFile(tag: "F", records: perPeer),
                                                fileName: "fanin.csv", referenceDate: Date())
        let recipient = try OrganisationNumber(receiver)
        let run = UUID().uuidString
        let pools = ResultSlots<[Data]>(count: o.peers)
        DispatchQueue.concurrentPerform(iterations: o.peers) { i in
            let (org, key, cert) = issued[i]
            pools.set(i, Result { try FanInPeers.signedMessages(count: perPeer, sender: org, key: key, certificate: cert,
                                                               recipient: recipient, template: template, run: run) })
        }
        let trust = PeerTrust(organisation: recipient, caCertificates: [ca.certificate])
        let peers = try issued.enumerated().map { i, p in
            let tls = try TLSClientContext(TLSConfiguration(certificateChain: [p.2], privateKey: p.1), serverTrust: trust)
            // Each organisation from its own address (127.0.1.1, 127.0.1.2, ...), as in reality: the
            // receiver caps handshakes per source address.
            let client = HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: node.port, maxConnections: o.connections,
                                                                           requestTimeout: .seconds(60),
                                                                           sourceAddress: "127.0.\(1 + i / 250).\(1 + i % 250)"), tls: tls)
            return FanInPeer(index: i, organisation: p.0, client: client, pool: try pools.get(i))
        }
        print(String(format: "setup: %d case messages signed ahead (%d per peer, %d bytes each) in %.1f s",
                     o.peers * perPeer, perPeer, (try pools.get(0)).first?.count ?? 0, Date().timeIntervalSince(t)))

        let logPath = node.directory.appendingPathComponent("stafettd.log").path
        var (daemon, startup) = try start(node: node, logPath: logPath)
        print(String(format: "receiver: started and listening after %.2f s", startup))
        var sampler = ProcessSampler(pid: daemon.process.processIdentifier)
        defer { sampler.stop(); daemon.stop() }

        // (0) Every peer's first message: a TLS handshake each, all at once.
        let connect = FanInDriver.run(peers, due: peers.map { _ in [0] }, connections: 1, backoff: o.backoff)
        print(String(format: "connect: all %d peers' first message at once: all served after %.2f s; %@; %@",
                     o.peers, connect.lastServed, connect.summary, connect.failureSummary))

        // (a) Steady state: each peer one record a second, the peers spread over the second.
        sampler.reset()
        let steady = FanInDriver.run(peers, due: peers.map { p in (0..<o.seconds).map { Double($0) + Double(p.index) / Double(o.peers) } },
                                     connections: o.connections, backoff: o.backoff)
        let s = steady.latencies.sorted()
        print(String(format: "steady: %d records/s (1 per peer) for %d s: %@; %@ — target p99 < 50 ms: %@ [load %@]",
                     o.peers, o.seconds, steady.summary, steady.failureSummary,
                     verdict((percentile(s, 0.99) ?? .nan) < 50 && steady.lost == 0), ProcessSampler.loadAverage))
        let steadyPeaks = sampler.current

        // (b) Burst: every peer `burst` records at once, on its connections.
        let cpu0 = EndToEndBenchmark.cpuSeconds(pid: daemon.process.processIdentifier)
        let burst = FanInDriver.run(peers, due: peers.map { _ in Array(repeating: 0, count: o.burst) }, connections: o.connections, backoff: o.backoff)
        let cpu = EndToEndBenchmark.cpuSeconds(pid: daemon.process.processIdentifier) - cpu0
        let records = o.peers * o.burst
        print(String(format: "burst: %d records (%d from each peer at once) drained in %.2f s = %.0f records/s, receiver CPU %.0f µs per record; %@; %@ [load %@]",
                     records, o.burst, burst.lastServed, Double(burst.latencies.count) / burst.lastServed, cpu * 1e6 / Double(records),
                     burst.summary, burst.failureSummary, ProcessSampler.loadAverage))
        let peaks = sampler.current
        printPeaks("receiver peaks, steady", steadyPeaks)
        printPeaks("receiver peaks, steady + burst", peaks)

        // (e) SIGHUP reload at N, while every peer holds its connections; then one message each,
        // counting the peers that had to open a new connection (a reload that closed theirs).
        let reloads = reloadCount(logPath)
        let opened = peers.map(\.client.connectionsOpened)
        t = Date()
        kill(daemon.process.processIdentifier, SIGHUP)
        while reloadCount(logPath) == reloads, Date().timeIntervalSince(t) < 60 { usleep(2_000) }
        let reload = Date().timeIntervalSince(t)
        let after = FanInDriver.run(peers, due: peers.map { _ in [0] }, connections: 1, backoff: o.backoff)
        let reconnected = zip(peers, opened).filter { $0.client.connectionsOpened > $1 }.count
        print(String(format: "reload: SIGHUP to \"reloaded\" in the log %.0f ms at N = %d — target < 1 s: %@; then one message per peer: %d of %d peers had to reconnect, all served after %.2f s, %@",
                     reload * 1000, o.peers, verdict(reload < 1 && reloadCount(logPath) > reloads), reconnected, o.peers,
                     after.lastServed, after.summary))

        // (c) Restart: stop, start, and every peer sends at once as soon as the port takes
        // connections; a refused peer waits the back-off before its next attempt, as a node does.
        t = Date()
        sampler.stop()
        daemon.stop()
        let stopped = Date().timeIntervalSince(t)
        (daemon, startup) = try start(node: node, logPath: logPath)
        sampler = ProcessSampler(pid: daemon.process.processIdentifier)
        let restart = FanInDriver.run(peers, due: peers.map { _ in [0] }, connections: 1, backoff: o.backoff)
        print(String(format: "restart: stopped in %.2f s, listening again %.2f s after launch; all %d peers reconnected and served %.2f s after the port opened (%.2f s after launch) — target within 10 s: %@; %@; %@",
                     stopped, startup, o.peers, restart.lastServed, startup + restart.lastServed,
                     verdict(restart.lastServed + startup < 10 && restart.lost == 0), restart.summary, restart.failureSummary))
        printPeaks("receiver peaks after the restart", sampler.current)
        let overall = max(peaks.residentKB, sampler.current.residentKB)
        print(String(format: "receiver peak RSS %.0f MB — target < 200 MB: %@ [load at end %@]",
                     Double(overall) / 1024, verdict(overall < 200 * 1024), ProcessSampler.loadAverage))
    }

    /// Launches the receiver; returns it and the seconds until its port took a connection.
    static func start(node: DemoNetwork.Node, logPath: String) throws -> (DaemonProcess, Double) {
        let t = Date()
        let daemon = try DaemonProcess(launcher: DaemonLauncher.forThisProgram, config: node.configPath, logPath: logPath)
        guard daemon.waitForPort(node.port, timeout: 120) else { throw StartupError("the receiver did not start; see \(logPath)") }
        return (daemon, Date().timeIntervalSince(t))
    }

    static func printPeaks(_ label: String, _ p: ProcessSampler.Peaks) {
        print(String(format: "%@: %d threads, %d open descriptors, RSS %.0f MB (VmHWM)", label, p.threads, p.descriptors, Double(p.residentKB) / 1024))
    }

    static func reloadCount(_ logPath: String) -> Int {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").components(separatedBy: "reloaded ").count - 1
    }

    static func verdict(_ met: Bool) -> String { met ? "met" : "NOT met" }

    static func seconds(_ body: () throws -> Void) throws -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
    }
}

/// One result per index, filled from concurrent workers.
final class ResultSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, any Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ r: Result<T, any Error>) { lock.withLock { slots[i] = r } }

    func get(_ i: Int) throws -> T {
        guard let r = lock.withLock({ slots[i] }) else { throw StartupError("slot \(i) was never filled") }
        return try r.get()
    }
}
