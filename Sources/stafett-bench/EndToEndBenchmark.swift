import Foundation
import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettJournal
import StafettModel

/// Issue 4's figures: records/s from outbox drop to accepted receipt journaled at the sender,
/// between two real `stafettd` processes on loopback, and latency p50/p99 at a fixed rate;
/// beside Postfix relaying the same number of same-size messages over mutual TLS in the same run.
enum EndToEndBenchmark {
    static func run(messages: Int, rate: Double, latencySeconds: Double, postfix: Bool) throws {
        print("== end to end: outbox drop → signed, delivered over mTLS, receipt verified and journaled at the sender")
        let launcher = DaemonLauncher.forThisProgram
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-e2e-\(getpid())")
        defer { if ProcessInfo.processInfo.environment["STAFETT_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(at: dir) } else { print("kept \(dir.path)") } }
        let connections = Int(ProcessInfo.processInfo.environment["STAFETT_BENCH_CONNECTIONS"] ?? "16") ?? 16
        // Messages per request between the daemons ([delivery] batch); 1 measures without batches.
        let batch = Int(ProcessInfo.processInfo.environment["STAFETT_BENCH_BATCH"] ?? "") ?? StafettConfig.Delivery().batch
        let net = try DemoNetwork.create(in: dir, members: [("kommun", "Trelleborgs kommun", "2120001165"),
                                                             ("verket", "Migrationsverket", "2021002163")]) { _, c in
            c.delivery.connectionsPerPeer = connections
            c.delivery.batch = batch
            c.journal.checkpointInterval = .seconds(60)
        }
        let a = net.node("kommun"), b = net.node("verket")
        let daemons = try net.nodes.map {
            try DaemonProcess(launcher: launcher, config: $0.configPath, logPath: $0.directory.appendingPathComponent("stafettd.log").path)
        }
        defer { for d in daemons { d.stop() } }
        for (n, d) in zip(net.nodes, daemons) where !d.waitForPort(n.port) { throw StartupError("\(n.name) did not start") }

        // Throughput: files of 100 records dropped at once (a day's lists from many case workers).
        let perFile = 100
        let files = max(1, messages / perFile)
        let total = files * perFile
        let cpuBefore = daemons.map { cpuTimes(pid: $0.process.processIdentifier) }
        let start = Date()
        for f in 0..<files {
            try AtomicFile.write(intakeFile(tag: "T\(f)", records: perFile), to: a.layout.outbox.appendingPathComponent("bulk-\(f).csv"))
        }
        guard let finished = waitForDelivered(a, count: total, timeout: 600) else {
            throw StartupError("throughput run did not finish; see \(dir.path)")
        }
        // Until the last receipt was journaled (the journal's own time, in milliseconds), not until
        // this poll noticed it: the poll can then be slow enough not to compete for the CPU.
        let elapsed = finished.timeIntervalSince(start)
        if let lastQueued = journalTimes(a, kind: .intakeAccepted).max() {
            print(String(format: "  (intake of all files finished after %.2f s)", lastQueued.timeIntervalSince(start)))
        }
        let throughput = Double(total) / elapsed
        let cpu = zip(daemons, cpuBefore).map { d, before -> (user: Double, system: Double) in
            let now = cpuTimes(pid: d.process.processIdentifier)
            return ((now.user - before.user) * 1e6 / Double(total), (now.system - before.system) * 1e6 / Double(total))
        }
        let sample = try Data(contentsOf: firstArchived(a))
        print("  (up to \(batch) message(s) per request; STAFETT_BENCH_BATCH=1 sends one per request)")
        print(String(format: "stafett: %d records in %.2f s = %.0f records/s end to end (signed message %d bytes, %d connections)",
                     total, elapsed, throughput, sample.count, connections))
        // CPU per record is what the two cores can afford: steadier than wall time on a shared machine.
        print(String(format: "  CPU per record: sender %.0f µs, receiver %.0f µs (both daemons, user + system)",
                     cpu[0].user + cpu[0].system, cpu[1].user + cpu[1].system))
        print(String(format: "    of which system: sender %.0f µs, receiver %.0f µs", cpu[0].system, cpu[1].system))

        // Latency at a fixed rate: one single-record file every 1/rate s.
        let already = delivered(a).count
        let n = Int(rate * latencySeconds)
        let interval = 1.0 / rate
        // A case system has its file ready when it drops it: the files, their names and their
        // message ids are made before the clock starts, so the writer's loop is only the drops.
        let outbox = a.layout.outbox.path
        let drops = (0..<n).map { i -> (data: Data, name: String, id: String) in
            let data = intakeFile(tag: "L\(i)", records: 1)
            return (data, "one-\(i).csv", IntakeFile.messageID(fileDigestHex: SHA256.hex(data), index: 0).rawValue)
        }
        var dropped = [Date](repeating: .distantPast, count: n)
        // A case system writes a temporary name and renames it, without fsyncs of its own;
        // STAFETT_BENCH_DROP_SYNC=1 drops with two fsyncs per file (AtomicFile.write) instead.
        // (Foundation's Data.write fsyncs: it made the writer fall to 200-450 files/s when asked
        // for a thousand, a flush per file competing with the daemons' on the disk.)
        let syncedDrops = ProcessInfo.processInfo.environment["STAFETT_BENCH_DROP_SYNC"] == "1"
        let cpuBeforeLatency = daemons.map { cpuSeconds(pid: $0.process.processIdentifier) }
        let writerBefore = threadCPUSeconds()
        var late = 0
        let t0 = Date()
        for (i, drop) in drops.enumerated() {
            let due = t0.addingTimeInterval(Double(i) * interval)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1e6)) } else if wait < -interval { late += 1 }
            dropped[i] = Date()
            if syncedDrops {
                try AtomicFile.write(drop.data, to: a.layout.outbox.appendingPathComponent(drop.name))
            } else {
                try dropUnsynced(drop.data, as: drop.name, in: outbox)
            }
        }
        // On two shared cores the writer may still not keep the rate (it waits for the CPU the
        // daemons use): then the node saw fewer files a second than asked for, and this says so.
        let dropping = Date().timeIntervalSince(t0)
        let writerCPU = (threadCPUSeconds() - writerBefore) * 1e6 / Double(max(n, 1))
        guard waitForDelivered(a, count: already + n, timeout: 120) != nil else { throw StartupError("latency run did not finish") }
        let lateBy = Date().timeIntervalSince(t0) - max(dropping, Double(n - 1) * interval)
        let cpuPerFile = zip(daemons, cpuBeforeLatency).map { (cpuSeconds(pid: $0.process.processIdentifier) - $1) * 1e6 / Double(max(n, 1)) }
        let times = delivered(a)
        let latencies = zip(drops, dropped).compactMap { drop, at in times[drop.id].map { $0.timeIntervalSince(at) * 1000 } }
        let overall = percentiles(latencies)
        print(String(format: "stafett: latency at %.0f records/s over %d records: p50 %.1f ms, p99 %.1f ms (target p99 < 50 ms)",
                     rate, latencies.count, overall.p50, overall.p99))
        // Where the time goes, hop by hop, from the two journals (each hop ends in a commit round):
        // the drop until intake journaled the file accepted (its messages queued and durable),
        // from there until the peer made its `received` record (scheduler, request, the peer's
        // checks), and from there until the sender journaled `delivered` (the peer's commit, its
        // receipt, the sender's check of it and its own commit).
        let accepted = acceptedFiles(a)
        let received = journalTimes(b, kind: .received, by: \.messageId)
        let hops = zip(drops, dropped).compactMap { drop, at -> (Double, Double, Double)? in
            guard let acc = accepted[drop.name], let rec = received[drop.id], let del = times[drop.id] else { return nil }
            return (acc.timeIntervalSince(at) * 1000, rec.timeIntervalSince(acc) * 1000, del.timeIntervalSince(rec) * 1000)
        }
        for (name, values) in [("drop to intake-accepted", hops.map(\.0)), ("intake-accepted to received at the peer", hops.map(\.1)),
                               ("received at the peer to delivered", hops.map(\.2))] {
            let p = percentiles(values)
            print("  of which \(name): " + String(format: "p50 %.1f ms, p99 %.1f ms", p.p50, p.p99))
        }
        // What each single-record file costs, steadier than latency on a shared machine; and how
        // long after the last drop the last delivery came (a node that falls behind shows here).
        print(String(format: "  dropped at %.0f files/s (%d in %.2f s, %d more than one interval late, %@); CPU per file: sender %.0f µs, receiver %.0f µs, writer %.0f µs; last delivered %.2f s after the last drop",
                     Double(n) / dropping, n, dropping, late, syncedDrops ? "two fsyncs each" : "rename, no fsync",
                     cpuPerFile[0], cpuPerFile[1], writerCPU, lateBy))

        if postfix {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/postfix-anchor.sh").path
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [script, String(total), String(sample.count)]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            print(out.trimmingCharacters(in: .whitespacesAndNewlines))
            if let r = out.split(separator: " ").first(where: { $0.hasPrefix("rate=") }), let rate = Double(r.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)) {
                print(String(format: "stafett / postfix = %.1fx (target >= 5x)", throughput / rate))
            }
        } else {
            print("(add --postfix to measure the Postfix anchor in the same run; needs root, installs postfix and stunnel4)")
        }
    }

    /// Writes `data` under a temporary name in `dir` and renames it to `name`, syncing nothing:
    /// open, write, close, rename, as a case system drops a file.
    static func dropUnsynced(_ data: Data, as name: String, in dir: String) throws {
        let temporary = dir + "/." + name + ".part"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StartupError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let failure = AtomicFile.writeAll(fd, data)
        close(fd)
        guard failure == 0 else { throw StartupError("cannot write \(temporary): \(String(cString: strerror(failure)))") }
        guard rename(temporary, dir + "/" + name) == 0 else {
            throw StartupError("cannot rename \(temporary): \(String(cString: strerror(errno)))")
        }
    }

    /// User + system CPU seconds of the calling thread so far (the writer's own cost per file).
    static func threadCPUSeconds() -> Double {
        // RUSAGE_THREAD (1): a glibc name Swift does not import.
        var usage = rusage()
        guard getrusage(__rusage_who_t(1), &usage) == 0 else { return 0 }
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// User + system CPU seconds of a process so far, from /proc/PID/stat (fields 14 and 15, in clock ticks).
    static func cpuSeconds(pid: Int32) -> Double {
        let t = cpuTimes(pid: pid)
        return t.user + t.system
    }

    /// User and system CPU seconds of a process so far, apart: on this kind of machine the
    /// system part (file creation, flushes) moves with the file system's state, the user part does not.
    static func cpuTimes(pid: Int32) -> (user: Double, system: Double) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return (0, 0) }
        // Fields after the command name (which may hold spaces) start at field 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return (0, 0) }
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user / tick, system / tick)
    }

    static func intakeFile(tag: String, records: Int) -> Data {
        var text = "Ärendenummer;Förnamn;Efternamn;Födelsedatum;Uppskattat födelsedatum;Kön;Medborgarskap;Språk;Händelse;Händelsetid;Plats;Placering;Placeringens namn;Anteckning\r\n"
        for i in 0..<records {
            text += "TBG-\(tag)-\(i);Ahmad;Rahimi;2001-03-17;ja;pojke;AF;prs;registrerad;2015-10-23 06:40;Trelleborgs hamn, Transitcentralen;HVB;Ankomstboendet Öresund;Reser ensam. Talar dari och lite engelska.\r\n"
        }
        return Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)
    }

    /// The median and the 99th percentile of `values` (zeros when there are none).
    static func percentiles(_ values: [Double]) -> (p50: Double, p99: Double) {
        let sorted = values.sorted()
        return (percentile(sorted, 0.5) ?? 0, percentile(sorted, 0.99) ?? 0)
    }

    /// `delivered` records in the sender's journal: message id → journal time.
    static func delivered(_ node: DemoNetwork.Node) -> [String: Date] { journalTimes(node, kind: .delivered, by: \.messageId) }

    /// `intake-accepted` records in a node's journal: file name → journal time.
    static func acceptedFiles(_ node: DemoNetwork.Node) -> [String: Date] { journalTimes(node, kind: .intakeAccepted, by: \.file) }

    /// The journal times of a node's records of `kind`, by what `key` picks from each.
    static func journalTimes(_ node: DemoNetwork.Node, kind: JournalKind, by key: (JournalEntry) -> String?) -> [String: Date] {
        var result: [String: Date] = [:]
        let stream = JournalStream(directory: node.layout.journal.path)
        try? stream.readAvailable { raw in
            if let e = try? EntryCodec.decode(raw.payload), e.kind == kind, let k = key(e) { result[k] = e.time }
        }
        return result
    }

    static func journalTimes(_ node: DemoNetwork.Node, kind: JournalKind) -> [Date] {
        var result: [Date] = []
        let stream = JournalStream(directory: node.layout.journal.path)
        try? stream.readAvailable { raw in
            if let e = try? EntryCodec.decode(raw.payload), e.kind == kind { result.append(e.time) }
        }
        return result
    }

    /// Waits until the sender has journaled `count` deliveries; returns the journal time of the
    /// last of them, or nil after `timeout` seconds. Polls every 50 ms: the bench shares the two
    /// cores with the daemons it measures.
    static func waitForDelivered(_ node: DemoNetwork.Node, count: Int, timeout: Double) -> Date? {
        let deadline = Date().addingTimeInterval(timeout)
        let stream = JournalStream(directory: node.layout.journal.path)
        var n = 0
        var last = Date.distantPast
        while Date() < deadline {
            try? stream.readAvailable { raw in
                if let e = try? EntryCodec.decode(raw.payload), e.kind == .delivered { n += 1; last = max(last, e.time) }
            }
            if n >= count { return last }
            usleep(50_000)
        }
        return nil
    }

    static func firstArchived(_ node: DemoNetwork.Node) throws -> URL {
        let archive = node.layout.archive.appendingPathComponent("verket")
        let name = try FileManager.default.contentsOfDirectory(atPath: archive.path).first { $0.hasSuffix(".xml") }!
        return archive.appendingPathComponent(name)
    }
}
