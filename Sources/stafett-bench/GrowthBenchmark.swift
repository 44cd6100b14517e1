import Foundation
import StafettCLI
import StafettDaemon
import StafettJournal
import StafettModel
import StafettReports
import StafettTransport

/// `stafett-bench growth` (issue 15, item 5): how start-up and the operator's reads grow with
/// the journal. Per journal size: `stafettd` from launch to serving (its port takes connections
/// and `/v1/health` answers over mutual TLS) — it checks the live segment and how the segments
/// fit together, and rebuilds the duplicate window from the recent segments — and `stafett followup`, `case` and `journal
/// verify`, each in a child process whose peak memory the kernel reports (`ru_maxrss`).
enum GrowthBenchmark {
    /// This program runs as `stafett` when given this first (the children measured here).
    static let runAsCLIArgument = "--run-as-stafett"

    static func run(sizes: [Int], spanDays: Double) throws {
        print("== growth: start-up to serving, followup, case, journal verify by journal size (\(sizes.map(String.init).joined(separator: ", ")) records over \(spanDays) days)")
        print("   load average at start: \(ProcessSampler.loadAverage)")
        // STAFETT_BENCH_JOURNAL=DIR keeps each generated journal in DIR/records-N and reuses it.
        let kept = ProcessInfo.processInfo.environment["STAFETT_BENCH_JOURNAL"]
        let base = URL(fileURLWithPath: kept ?? FileManager.default.temporaryDirectory.appendingPathComponent("stafett-growth-\(getpid())").path)
        try AtomicFile.makeDirectories(base)
        defer { if kept == nil { try? FileManager.default.removeItem(at: base) } }
        var fs = statvfs()
        if statvfs(base.path, &fs) == 0 {
            print(String(format: "   %@: %.1f GB free", base.path, Double(fs.f_bavail) * Double(fs.f_frsize) / 1e9))
        }
        // The node's keys stay with the kept journals: a daemon that ran on one signed a checkpoint
        // into it, which the next start verifies with the node certificate.
        let netDir = base.appendingPathComponent("net")
        let nodeConfig = netDir.appendingPathComponent("verket/stafett.conf").path
        if !FileManager.default.fileExists(atPath: nodeConfig) {
            _ = try DemoNetwork.create(in: netDir, members: [("verket", "Migrationsverket", "2021005489"),
                                                              ("kommun", "Trelleborgs kommun", "2120001124")])
        }
        let node = try StafettConfig.load(path: nodeConfig).node
        let client = netDir.appendingPathComponent("kommun/tls")
        let tls = try TLSClientContext(TLSConfiguration(certificateFile: client.appendingPathComponent("node.crt").path,
                                                        privateKeyFile: client.appendingPathComponent("node.key").path),
                                       serverTrust: PeerTrust(organisation: node.organisation, caFile: netDir.appendingPathComponent("ca/ca.crt").path))
        let exe = DaemonLauncher.forThisProgram.executable

        for size in [0] + sizes {
            let state = base.appendingPathComponent(size == 0 ? "empty-\(getpid())" : "records-\(size)")
            let journal = state.appendingPathComponent("journal").path
            defer { if size == 0 { try? FileManager.default.removeItem(at: state) } }
            if size > 0, (try? JournalFormat.segments(in: journal))?.isEmpty == false {
                print("records \(size): reusing the journal in \(journal)")
            } else if size > 0 {
                try AtomicFile.makeDirectories(state)
                let t = try FanInBenchmark.seconds {
                    _ = try JournalGenerator(records: size, span: spanDays * 86_400).write(
                        to: journal, options: JournalOptions(verifyAllAtOpen: false))
                }
                print(String(format: "records %d: generated in %.1f s", size, t))
            }
            let bytes = ((try? JournalFormat.segments(in: journal)) ?? []).reduce(Int64(0)) { acc, p in
                var st = stat(); stat(p, &st); return acc + Int64(st.st_size)
            }

            var config = try StafettConfig.load(path: nodeConfig)
            config.paths.state = state.path
            let configPath = netDir.appendingPathComponent("verket-\(size).conf").path
            try AtomicFile.write(Data(config.render().utf8), to: URL(fileURLWithPath: configPath), mode: 0o644)
            let (listening, serving, stop) = try startUp(configPath: configPath, port: node.listen.port, tls: tls,
                                                         logPath: netDir.appendingPathComponent("stafettd-\(size).log").path)
            print(String(format: "records %d (%.0f MB): stafettd listening %.2f s, /v1/health answered %.2f s after launch%@; stopped in %.2f s [load %@]",
                         size, Double(bytes) / 1e6, listening, serving,
                         size == 1_000_000 ? " — target < 2 s: " + FanInBenchmark.verdict(serving < 2) : "", stop, ProcessSampler.loadAverage))
            guard size > 0 else { continue }
            for (label, args) in [("followup", ["followup", "--journal", journal]),
                                  ("case TRE-2015-000123", ["case", "TRE-2015-000123", "--journal", journal]),
                                  ("journal verify", ["journal", "verify", "--journal", journal])] {
                var peak = 0
                let t = try FanInBenchmark.seconds { peak = try PeakMemory.ofChild(exe, [runAsCLIArgument] + args) }
                let target = label == "followup" && size >= 10_000_000 ? " — target < 10 s: " + FanInBenchmark.verdict(t < 10) : ""
                print(String(format: "records %d: stafett %@: %.2f s, peak memory %.0f MB%@ [load %@]",
                             size, label, t, Double(peak) / 1e6, target, ProcessSampler.loadAverage))
            }
        }
    }

    /// Launches `stafettd`; returns seconds from launch until its port took a connection and
    /// until `/v1/health` answered 200, and how long SIGTERM then took.
    static func startUp(configPath: String, port: UInt16, tls: TLSClientContext, logPath: String) throws -> (Double, Double, Double) {
        let t = DispatchTime.now().uptimeNanoseconds
        func since() -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
        let daemon = try DaemonProcess(launcher: DaemonLauncher.forThisProgram, config: configPath, logPath: logPath)
        // Polled every 5 ms: DaemonProcess.waitForPort's 50 ms would be a visible share of 2 s.
        var listening: Double?
        while listening == nil, since() < 300 {
            guard daemon.isRunning else { throw StartupError("stafettd exited at start: \(tail(logPath))") }
            if accepts(port) { listening = since() } else { usleep(5_000) }
        }
        guard let listening else { daemon.stop(); throw StartupError("stafettd did not listen within 300 s: \(tail(logPath))") }
        let client = HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: port, maxConnections: 1), tls: tls)
        defer { client.close() }
        var serving: Double?
        while serving == nil, since() < 300 {
            if let r = try? client.send(HTTPRequest(method: "GET", target: "/v1/health")), r.status == 200 { serving = since() } else { usleep(5_000) }
        }
        let stopAt = since()
        daemon.stop()
        guard let serving else { throw StartupError("/v1/health never answered: \(tail(logPath))") }
        return (listening, serving, since() - stopAt)
    }

    /// The last lines of a log, for an error (the directory it is in may be removed).
    static func tail(_ logPath: String) -> String {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").suffix(3).joined(separator: "\n")
    }

    /// Whether a TCP connect to 127.0.0.1:`port` succeeds now (one try, no wait).
    static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
