import Foundation
import StafettCrypto
import StafettJournal
import StafettReports

/// The journal's benchmark: durable appends/s with 1, 8 and 64 appender threads (blocking
/// `append`) and 64 and 256 appender tasks (`appendAsync`) beside the raw fsync rate of the same disk in the same run, the cost of a 1 000-record batch, and time
/// and peak memory of follow-up and verify over a generated journal. Run it in a release build.
enum JournalBenchmark {
    /// Runs everything in `scratch` (created if missing, removed afterwards), printing one line per figure.
    static func run(scratch: String, records: Int = 1_000_000, signingKey: Key? = nil,
                           seconds: Double = 2, print: (String) -> Void = { Swift.print($0) }) throws {
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let base = scratch + "/journal-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }

        // STAFETT_BENCH_ONLY=threads64,tasks64,batch,followup,verify runs only those phases (for a
        // profiler, or to repeat one figure); unset runs everything.
        let only = ProcessInfo.processInfo.environment["STAFETT_BENCH_ONLY"].map { Set($0.split(separator: ",").map(String.init)) }
        func wanted(_ phase: String) -> Bool { only?.contains(phase) ?? true }

        // The disk's fsync rate drifts (other tenants, writeback): measure it right before and
        // after each appender run and compare with the mean of the two.
        for appenders: Appenders in [.threads(1), .threads(8), .threads(64), .tasks(64), .tasks(256)] where wanted(appenders.phase) {
            let dir = base + "/appenders-\(appenders)"
            let before = try rawFsyncRate(directory: base, seconds: seconds / 2)
            let cpu0 = cpuSeconds()
            let (rate, perSync, count) = try appendRate(directory: dir, appenders: appenders, seconds: seconds, key: signingKey)
            let cpuPer = (cpuSeconds() - cpu0) / Double(max(count, 1)) * 1e6
            let after = try rawFsyncRate(directory: base, seconds: seconds / 2)
            let raw = (before + after) / 2
            print(String(format: "journal: %@: %.0f durable appends/s = %.1f× raw fdatasync (%.0f/s: %.0f before, %.0f after); %.1f records per fsync, %.1f µs CPU per append",
                         appenders.description, rate, rate / raw, raw, before, after, perSync, cpuPer))
            try? FileManager.default.removeItem(atPath: dir)
        }

        if wanted("batch") {
            let dir = base + "/batch"
            let j = try Journal(directory: dir, options: JournalOptions(signingKey: signingKey))
            let batch = (0..<1_000).map { benchEntry($0) }
            let before = j.syncCount
            let t0 = DispatchTime.now()
            try j.appendBatch(batch)
            let ms = elapsed(t0) * 1000
            print(String(format: "journal: appendBatch of 1000 records: %llu fsync, %.2f ms", j.syncCount - before, ms))
            j.close()
            try? FileManager.default.removeItem(atPath: dir)
        }

        // STAFETT_BENCH_JOURNAL=DIR keeps the generated journal there and reuses it on later runs
        // (generating a million records takes longer than reading them).
        guard wanted("followup") || wanted("verify") else { return }
        let kept = ProcessInfo.processInfo.environment["STAFETT_BENCH_JOURNAL"]
        let dir = kept ?? base + "/generated"
        var t0 = DispatchTime.now()
        var c0 = cpuSeconds()
        var checkpointKey = signingKey
        if let kept, let segs = try? JournalFormat.segments(in: kept), !segs.isEmpty {
            // Signed by another run's key: verify checks everything but the checkpoint signatures.
            checkpointKey = nil
            print("journal: reusing the generated journal in \(kept)")
        } else {
            let summary = try JournalGenerator(records: records).write(
                to: dir, options: JournalOptions(signingKey: signingKey, verifyAllAtOpen: false))
            let bytes = (try JournalFormat.segments(in: dir)).reduce(Int64(0)) { acc, p in
                var st = stat(); stat(p, &st); return acc + Int64(st.st_size)
            }
            print(String(format: "journal: generated %d records, %d children, %.1f MB in %.2f s", summary.records,
                         summary.cases, Double(bytes) / 1e6, elapsed(t0)))
        }

        if wanted("followup") {
            resetPeakMemory()
            let rss0 = residentKB()
            t0 = DispatchTime.now()
            c0 = cpuSeconds()
            let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
            let items = p.report(now: Int64(Date().timeIntervalSince1970 * 1000))
            let tf = elapsed(t0)
            print(String(format: "journal: followup over %llu records: %.3f s (%.3f s CPU on 3 threads), %d cases, %d overdue items, peak memory +%.1f MB",
                         p.stats.records, tf, cpuSeconds() - c0, p.stats.cases, items.count, Double(peakKB() - rss0) / 1024))
        }
        guard wanted("verify") else { return }

        resetPeakMemory()
        let rss1 = residentKB()
        t0 = DispatchTime.now()
        c0 = cpuSeconds()
        let walk = try JournalWalker(directory: dir, checkpointKey: checkpointKey).walk()
        let tv = elapsed(t0)
        print(String(format: "journal: verify %llu records (%llu checkpoint signatures checked): %.3f s (%.3f s CPU) = %.0f records/s, %@, peak memory +%.1f MB",
                     walk.records, walk.checkpointsVerified, tv, cpuSeconds() - c0, Double(walk.records) / tv,
                     walk.damage == nil ? "ok" : "DAMAGE", Double(peakKB() - rss1) / 1024))
    }

    static func benchEntry(_ i: Int) -> JournalEntry {
        JournalEntry(kind: .delivered, messageId: "bench-\(i)-7f3c2a9e-41d2-4b8a", intakeId: "TRE-2015-\(i % 100_000)",
                     dossierNumber: "15-\(100_000 + i % 100_000)", eventType: "TransferSent", sender: "2120001124",
                     recipient: "2021005489", digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    }

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    static func elapsed(_ t0: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
    }

    /// fdatasync after each 128-byte append, for `seconds`.
    static func rawFsyncRate(directory: String, seconds: Double) throws -> Double {
        let path = directory + "/fsync-probe"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd); unlink(path) }
        let buf = [UInt8](repeating: 0x61, count: 128)
        var n = 0
        let t0 = DispatchTime.now()
        while elapsed(t0) < seconds || n < 50 {
            guard write(fd, buf, 128) == 128, fdatasync(fd) == 0 else {
                throw JournalError.io(path: path, operation: "write", errno: errno)
            }
            n += 1
        }
        return Double(n) / elapsed(t0)
    }

    /// Who appends in a run: threads calling the blocking `append`, or tasks awaiting `appendAsync`
    /// (on Swift's cooperative pool, one thread per core).
    enum Appenders: CustomStringConvertible {
        case threads(Int), tasks(Int)

        var description: String {
            switch self {
            case let .threads(n): String(format: "%3d appender threads", n)
            case let .tasks(n): String(format: "%3d appender tasks  ", n)
            }
        }

        /// The phase's name for `STAFETT_BENCH_ONLY`.
        var phase: String {
            switch self {
            case let .threads(n): "threads\(n)"
            case let .tasks(n): "tasks\(n)"
            }
        }
    }

    /// Durable appends/s with each appender appending one record at a time for `seconds`; also
    /// returns records per fsync and the number of appends.
    static func appendRate(directory: String, appenders: Appenders, seconds: Double, key: Key?) throws -> (Double, Double, Int) {
        let j = try Journal(directory: directory, options: JournalOptions(signingKey: key))
        let stop = Deadline(seconds: seconds)
        let finished = DispatchSemaphore(value: 0)
        let counts = Counter()
        let s0 = j.syncCount
        let t0 = DispatchTime.now()
        switch appenders {
        case let .threads(n):
            for t in 0..<n {
                let thread = Thread {
                    var n = 0
                    while !stop.passed {
                        guard (try? j.append(benchEntry(t * 1_000_000 + n))) != nil else { break }
                        n += 1
                    }
                    counts.add(n)
                    finished.signal()
                }
                thread.stackSize = 1 << 18
                thread.start()
            }
        case let .tasks(n):
            for t in 0..<n {
                Task.detached {
                    var n = 0
                    while !stop.passed {
                        guard (try? await j.appendAsync(benchEntry(t * 1_000_000 + n))) != nil else { break }
                        n += 1
                    }
                    counts.add(n)
                    finished.signal()
                }
            }
        }
        switch appenders { case let .threads(n), let .tasks(n): for _ in 0..<n { finished.wait() } }
        let secs = elapsed(t0)
        let syncs = j.syncCount - s0
        j.close()
        return (Double(counts.value) / secs, Double(counts.value) / Double(max(syncs, 1)), counts.value)
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var total = 0
        func add(_ n: Int) { lock.withLock { total += n } }
        var value: Int { lock.withLock { total } }
    }

    private final class Deadline: @unchecked Sendable {
        let end: UInt64
        init(seconds: Double) { end = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9) }
        var passed: Bool { DispatchTime.now().uptimeNanoseconds >= end }
    }

    /// Resets the kernel's peak-RSS mark for this process (Linux `clear_refs` 5).
    static func resetPeakMemory() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        if fd >= 0 { _ = write(fd, "5", 1); close(fd) }
    }

    static func statusKB(_ field: String) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return 0
    }
    static func peakKB() -> Int { statusKB("VmHWM") }
    static func residentKB() -> Int { statusKB("VmRSS") }
}
