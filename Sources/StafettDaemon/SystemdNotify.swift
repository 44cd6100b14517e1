import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol (`sd_notify`), written by hand: datagrams of `KEY=value`
/// lines to the AF_UNIX socket named by `$NOTIFY_SOCKET`. Without that variable (not started by
/// systemd with Type=notify) every call does nothing, so the daemon runs the same by hand.
public final class SystemdNotify: @unchecked Sendable {
    /// The socket path; a leading `@` means Linux's abstract namespace.
    public let socketPath: String?
    /// Half of `$WATCHDOG_USEC` when the watchdog is on for this process, else nil.
    public let watchdogInterval: Duration?
    private let fd: Int32
    private let lock = PthreadLock()
    private var timers: [Repeating: DispatchSourceTimer] = [:]

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        fd = path == nil ? -1 : socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
           environment["WATCHDOG_PID"].map({ pid_t($0) == getpid() }) ?? true {
            // Ping at half the timeout, as sd_watchdog_enabled(3) advises.
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    deinit {
        for t in timers.values { t.cancel() }
        if fd >= 0 { close(fd) }
    }

    /// True when notifications go somewhere.
    public var isEnabled: Bool { fd >= 0 }

    /// Sends raw `KEY=value` lines. Returns false when disabled or when the send failed
    /// (systemd gone: nothing the daemon can do about it, so callers may ignore the result).
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard fd >= 0, let path = socketPath else { return false }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        // Abstract names are not NUL-terminated: the length says where they end.
        let length = socklen_t(offset + pathBytes.count + (abstract ? 0 : 1))
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { buf in
                    sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL), sa, length)
                }
            }
        }
        return sent == bytes.count
    }

    /// Start-up is complete: listening, queue loaded. Optionally with a status line.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        send("READY=1" + (status.map { "\nSTATUS=\(Self.oneLine($0))" } ?? ""))
    }

    /// A one-line status for `systemctl status`.
    @discardableResult
    public func status(_ text: String) -> Bool { send("STATUS=\(Self.oneLine(text))") }

    /// Shutdown has begun (SIGTERM): draining in-flight work.
    @discardableResult
    public func stopping(status: String? = nil) -> Bool {
        send("STOPPING=1" + (status.map { "\nSTATUS=\(Self.oneLine($0))" } ?? ""))
    }

    /// A reload (SIGHUP) has begun; send `ready()` when it is done. Includes MONOTONIC_USEC,
    /// which Type=notify-reload requires.
    @discardableResult
    public func reloading() -> Bool {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        return send("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }

    /// One watchdog keep-alive.
    @discardableResult
    public func watchdog() -> Bool { send("WATCHDOG=1") }

    /// Pings the watchdog every `watchdogInterval` on `queue` while `isHealthy()` holds. Run it on
    /// the queue that does the daemon's main work, so a stuck daemon stops pinging and is restarted.
    /// Does nothing when the watchdog is off. Returns whether a timer was started.
    @discardableResult
    public func startWatchdog(on queue: DispatchQueue, isHealthy: @escaping @Sendable () -> Bool = { true }) -> Bool {
        guard isEnabled, let interval = watchdogInterval else { return false }
        repeating(.watchdog, every: interval, on: queue) { [weak self] in
            if isHealthy() { self?.watchdog() }
        }
        return true
    }

    /// Stops the watchdog pings (before a clean exit).
    public func stopWatchdog() { cancel(.watchdog) }

    /// Sends `STATUS=` from `compose()` every `interval` on `queue`, but only when the text
    /// changed: systemd keeps the last one, and the interval bounds how often it is told. Does
    /// nothing without a notify socket. Returns whether a timer was started.
    @discardableResult
    public func publishStatus(every interval: Duration, on queue: DispatchQueue, compose: @escaping @Sendable () -> String) -> Bool {
        guard isEnabled else { return false }
        let last = LastStatus()
        repeating(.status, every: interval, on: queue) { [weak self] in
            let text = Self.oneLine(compose())
            if last.changed(to: text) { self?.status(text) }
        }
        return true
    }

    /// Stops `publishStatus` (before a last status of its own, such as "draining").
    public func stopPublishingStatus() { cancel(.status) }

    /// The notifications sent on a timer; starting one again replaces it.
    private enum Repeating { case watchdog, status }

    private func repeating(_ which: Repeating, every interval: Duration, on queue: DispatchQueue, _ tick: @escaping @Sendable () -> Void) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let ms = max(Int(interval.milliseconds), 1)
        timer.schedule(deadline: .now(), repeating: .milliseconds(ms), leeway: .milliseconds(ms / 10))
        timer.setEventHandler(handler: tick)
        lock.withLock {
            timers[which]?.cancel()
            timers[which] = timer
        }
        timer.resume()
    }

    private func cancel(_ which: Repeating) {
        lock.withLock { timers.removeValue(forKey: which)?.cancel() }
    }

    /// The last status sent by a `publishStatus` timer (touched only on its queue, but the timer's
    /// handler must be Sendable).
    private final class LastStatus: @unchecked Sendable {
        private var text: String?
        func changed(to new: String) -> Bool {
            defer { text = new }
            return new != text
        }
    }

    /// Newlines would start a new KEY=value pair; keep the status on one line.
    private static func oneLine(_ s: String) -> String {
        s.replacingOccurrences(of: "\n", with: " ")
    }
}
