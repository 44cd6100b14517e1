import Foundation

/// Peaks of another process's threads, open descriptors and resident memory, sampled from
/// /proc every 200 ms on a thread of its own (the kernel keeps only the memory peak, VmHWM).
final class ProcessSampler: @unchecked Sendable {
    struct Peaks {
        var threads = 0
        var descriptors = 0
        var residentKB = 0
    }

    let pid: Int32
    private let lock = NSLock()
    private var peaks = Peaks()
    private var running = true

    init(pid: Int32) {
        self.pid = pid
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                sample()
                usleep(200_000)
            }
        }
        thread.stackSize = 1 << 18
        thread.start()
    }

    /// The peaks so far, VmHWM included (sampled once more now).
    var current: Peaks {
        sample()
        return lock.withLock { peaks }
    }

    func stop() { lock.withLock { running = false } }

    /// Resets the peaks (and the kernel's VmHWM, `clear_refs` 5) so the next phase is its own.
    func reset() {
        let fd = open("/proc/\(pid)/clear_refs", O_WRONLY)
        if fd >= 0 { _ = write(fd, "5", 1); close(fd) }
        lock.withLock { peaks = Peaks() }
    }

    private func sample() {
        let threads = Self.status(pid, "Threads"), hwm = Self.status(pid, "VmHWM")
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        lock.withLock {
            peaks.threads = max(peaks.threads, threads)
            peaks.descriptors = max(peaks.descriptors, fds)
            peaks.residentKB = max(peaks.residentKB, hwm)
        }
    }

    /// A numeric field of /proc/PID/status (kB for memory fields); 0 when unreadable.
    static func status(_ pid: Int32, _ field: String) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// The 1, 5 and 15 minute load averages, as /proc/loadavg has them.
    static var loadAverage: String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }
}
