import Foundation

/// Counters and gauges in Prometheus text format, served on loopback at `/metrics`.
///
/// Deliberately tiny: label sets are few (status, reason, peer), so a dictionary under a lock is
/// cheaper than anything cleverer, and a scrape renders a snapshot.
///
/// Gauges that describe state held elsewhere (the queue, the receiver's connection counters) are
/// not pushed on events: their owners register a `refresh` that sets them when read, so a scrape
/// never shows a value older than the scrape itself.
public final class Metrics: @unchecked Sendable {
    private let lock = NSLock()
    private var refreshers: [@Sendable (Metrics) -> Void] = []
    private var counters: [String: Double] = [:]
    private var gauges: [String: Double] = [:]
    private var help: [String: String] = [
        "stafett_received_total": "Case messages answered by this node's receiver, by receipt status.",
        "stafett_received_duplicates_total": "Duplicates answered with the original receipt (or, in a batch, as accepted again).",
        "stafett_received_batches_total": "Batch requests answered with a batch receipt (their messages count in stafett_received_total).",
        "stafett_delivered_batches_total": "Batch requests a peer answered with a batch receipt, by peer.",
        "stafett_receive_errors_total": "Messages that could not be stored (answered 503).",
        "stafett_delivered_total": "Messages whose receipt came back, by peer and status.",
        "stafett_delivery_failures_total": "Delivery attempts that failed and will be retried, by peer.",
        "stafett_expired_total": "Messages that outlived their maximum lifetime, by peer.",
        "stafett_queue_messages": "Messages waiting in the queue, by peer.",
        "stafett_queue_oldest_seconds": "Age of the oldest waiting message, by peer.",
        "stafett_peer_up": "1 when the last attempt to reach the peer worked.",
        "stafett_journal_damaged": "1 when the check of the whole journal after start found a bad record (the log names it; run stafett journal verify), 0 when it found none.",
        "stafett_disk_space_low": "1 while the spool's or the journal's file system has less than 64 MiB free: intake waits, the receiver answers 503.",
        "stafett_intake_files_total": "Outbox files processed, by outcome.",
        "stafett_intake_records_total": "Records queued from outbox files.",
        "stafett_intake_report_failures_total": "Refused outbox files whose report could not be filed in failed/ (after bounded retries).",
        "stafett_certificate_expiry_seconds": "Seconds until a configured certificate expires, by use.",
        "stafett_connections_refused_total": "Inbound connections closed at once, by the cap they met.",
        "stafett_handshake_failures_total": "Inbound TLS handshakes that failed: sent nothing (silent), too slow (timeout), or refused.",
        "stafett_connections_accepted_total": "Inbound connections accepted.",
        "stafett_handshakes_evicted_total": "Pending handshakes closed to make room for a newcomer at the handshake cap.",
        "stafett_connections_closed_at_reload_total": "Kept-alive connections closed at a reload because their peer lost trust.",
        "stafett_followup_overdue": "Follow-up items past their rule's limit, by rule, as stafett followup counts them (refreshed every 30 s).",
    ]

    /// Creates an empty registry.
    public init() {}

    /// Runs `refresh` before every `render` and `value`, to set the series it owns from their
    /// source of truth. It must be cheap and must not call `render` or `value`.
    public func refreshOnRead(_ refresh: @escaping @Sendable (Metrics) -> Void) {
        lock.lock()
        refreshers.append(refresh)
        lock.unlock()
    }

    /// Brings the series owned by refreshers up to date (outside the lock: they call `set`).
    private func refresh() {
        lock.lock()
        let r = refreshers
        lock.unlock()
        for f in r { f(self) }
    }

    /// Adds `by` to a counter.
    public func count(_ name: String, labels: [String: String] = [:], by: Double = 1) {
        let key = Metrics.key(name, labels)
        lock.lock()
        counters[key, default: 0] += by
        lock.unlock()
    }

    /// Sets a counter kept elsewhere (the receiver's own statistics) to its current value.
    public func set(counter name: String, labels: [String: String] = [:], _ value: Double) {
        let key = Metrics.key(name, labels)
        lock.lock()
        counters[key] = value
        lock.unlock()
    }

    /// Sets a gauge.
    public func set(_ name: String, labels: [String: String] = [:], _ value: Double) {
        let key = Metrics.key(name, labels)
        lock.lock()
        gauges[key] = value
        lock.unlock()
    }

    /// The current value of a counter or gauge (tests and `stafett queue`).
    public func value(_ name: String, labels: [String: String] = [:]) -> Double? {
        refresh()
        let key = Metrics.key(name, labels)
        lock.lock()
        defer { lock.unlock() }
        return counters[key] ?? gauges[key]
    }

    /// The exposition text.
    public func render() -> String {
        refresh()
        lock.lock()
        let c = counters, g = gauges, h = help
        lock.unlock()
        var out = ""
        var seen = Set<String>()
        for (series, type) in c.keys.sorted().map({ ($0, "counter") }) + g.keys.sorted().map({ ($0, "gauge") }) {
            let name = String(series.prefix { $0 != "{" })
            if seen.insert(name).inserted {
                if let text = h[name] { out += "# HELP \(name) \(text)\n" }
                out += "# TYPE \(name) \(type)\n"
            }
            let v = c[series] ?? g[series] ?? 0
            out += "\(series) \(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v))\n"
        }
        return out
    }

    /// The series name: `name{k="v",...}` with the labels sorted and their values escaped as the
    /// exposition format asks (backslash, double quote, line feed). Built for every delivery and
    /// receipt, so it scans bytes instead of calling Foundation's `replacingOccurrences` three
    /// times per value (which showed up as 3 % of a sending daemon's CPU).
    static func key(_ name: String, _ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return name }
        var out = name
        out.append("{")
        var first = true
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) {
            if !first { out.append(",") }
            first = false
            out.append(k)
            out.append("=\"")
            appendEscaped(v, to: &out)
            out.append("\"")
        }
        out.append("}")
        return out
    }

    /// Appends a label value, escaped for the exposition format.
    static func appendEscaped(_ value: String, to out: inout String) {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else {
            out.append(value)
            return
        }
        for c in value.unicodeScalars {
            switch c {
            case "\\": out.append("\\\\")
            case "\"": out.append("\\\"")
            case "\n": out.append("\\n")
            default: out.unicodeScalars.append(c)
            }
        }
    }
}
