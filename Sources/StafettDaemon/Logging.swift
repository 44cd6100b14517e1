import Dispatch
import Foundation
import StafettJournal
#if canImport(Glibc)
import Glibc
#endif

/// Severity, numbered as syslog priorities (what journald reads from a `<N>` prefix).
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// The system is unusable.
    case emergency = 0
    /// Act now (e.g. the journal cannot be written).
    case alert = 1
    /// Critical condition.
    case critical = 2
    /// An operation failed.
    case error = 3
    /// Something an operator should look at.
    case warning = 4
    /// Normal but significant (start, reload, peer up/down).
    case notice = 5
    /// Routine progress.
    case info = 6
    /// Detail for debugging.
    case debug = 7

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue > b.rawValue }

    public var description: String {
        switch self {
        case .emergency: "emerg"
        case .alert: "alert"
        case .critical: "crit"
        case .error: "error"
        case .warning: "warning"
        case .notice: "notice"
        case .info: "info"
        case .debug: "debug"
        }
    }

    /// Parses `error`, `warning`, `info`, `debug`, ... (as `--log-level` takes them).
    public init?(name: String) {
        guard let l = LogLevel.allCases.first(where: { $0.description == name.lowercased() }) ??
                (name.lowercased() == "warn" ? .warning : nil) else { return nil }
        self = l
    }
}

/// A small logger to stderr. Under systemd (`$JOURNAL_STREAM` set) each line carries a `<N>`
/// priority prefix and no time stamp (journald adds both); otherwise lines read
/// `2026-11-23T23:57:20.123Z warning: text`. Never log names, personnummer or free text.
public final class Logger: @unchecked Sendable {
    /// Messages less severe than this are dropped.
    public let minimumLevel: LogLevel
    /// Whether lines use the journald `<N>` prefix.
    public let journald: Bool
    private let sink: @Sendable (String) -> Void
    private let lock = PthreadLock()
    private var limiter: RateLimiter

    /// A logger. By default it writes to stderr and detects journald from the environment.
    public init(minimumLevel: LogLevel = .info,
                journald: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil,
                maxRateKeys: Int = 10_000,
                sink: @escaping @Sendable (String) -> Void = Logger.writeToStandardError) {
        self.minimumLevel = minimumLevel
        self.journald = journald
        self.sink = sink
        self.limiter = RateLimiter(capacity: maxRateKeys)
    }

    /// Writes a line to file descriptor 2 in one `write` call, so lines from threads do not interleave.
    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        let bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(2, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 { if errno == EINTR { continue } else { return } }
            offset += n
        }
    }

    /// Whether a message at `level` would be written.
    public func isEnabled(_ level: LogLevel) -> Bool { level.rawValue <= minimumLevel.rawValue }

    /// Logs a message. Multi-line messages get the prefix on every line, as journald splits them.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard isEnabled(level) else { return }
        sink(format(level, message(), date: Date()))
    }

    /// Logs at `.error`.
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
    /// Logs at `.warning`.
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    /// Logs at `.notice`.
    public func notice(_ message: @autoclosure () -> String) { log(.notice, message()) }
    /// Logs at `.info`.
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    /// Logs at `.debug`.
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }

    /// Logs at most once per `interval` for `key` (e.g. a message id or peer name), so one stuck
    /// message retried every minute does not flood the log. When a line gets through after
    /// suppressed ones, it says how many were suppressed. Returns whether the line was written.
    @discardableResult
    public func limited(_ level: LogLevel, key: String, every interval: Duration,
                        _ message: @autoclosure () -> String, now: DispatchTime = .now()) -> Bool {
        guard isEnabled(level) else { return false }
        let suppressed: Int? = lock.withLock { limiter.admit(key: key, interval: interval, now: now) }
        guard let suppressed else { return false }
        var text = message()
        if suppressed > 0 { text += " (\(suppressed) similar suppressed)" }
        sink(format(level, text, date: Date()))
        return true
    }

    /// The line as it would be written.
    func format(_ level: LogLevel, _ message: String, date: Date) -> String {
        let prefix = journald ? "<\(level.rawValue)>" : "\(Self.timestamp(date)) \(level): "
        // A line per file taken in is logged a thousand times a second: one line needs no split.
        guard message.utf8.contains(UInt8(ascii: "\n")) else { return prefix + message + "\n" }
        return message.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 + "\n" }.joined()
    }

    /// `2026-11-23T23:57:20.123Z`: the journal's own form (`ISOTime`, written byte by byte;
    /// `String(format:)` parsed its format and boxed each argument, for every line).
    static func timestamp(_ date: Date) -> String {
        ISOTime.format(millis: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }
}

/// Per-key "once per interval" admission with a bounded number of keys.
struct RateLimiter {
    private struct Entry {
        var last: UInt64
        var suppressed: Int
    }

    private var entries: [String: Entry] = [:]
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    /// nil: suppress this one. Otherwise: admit it, with the count suppressed since the last admit.
    mutating func admit(key: String, interval: Duration, now: DispatchTime) -> Int? {
        let nowNs = now.uptimeNanoseconds
        let intervalNs = UInt64(max(interval.milliseconds, 0)) * 1_000_000
        if var e = entries[key] {
            if nowNs >= e.last, nowNs - e.last < intervalNs {
                e.suppressed += 1
                entries[key] = e
                return nil
            }
            entries[key] = Entry(last: nowNs, suppressed: 0)
            return e.suppressed
        }
        if entries.count >= capacity {
            // Forget the stalest half: those keys are long quiet, and memory must stay bounded.
            let keep = entries.sorted { $0.value.last > $1.value.last }.prefix(capacity / 2)
            entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
        entries[key] = Entry(last: nowNs, suppressed: 0)
        return 0
    }
}
