import Foundation
import StafettJournal
import StafettReports

/// Keeps `stafett_followup_overdue{rule=...}` on `/metrics`: the number of follow-up items past
/// their rule's limit, per rule, as `stafett followup` would count them.
///
/// Incremental, not a replay per scrape: the monitor holds one follow-up projection and a reader
/// of the journal, and every `interval` it applies only the records appended since (the reader
/// keeps its place), then counts the overdue items at that moment. The first round reads the
/// whole journal (about as long as `stafett followup` takes), later rounds cost the new records
/// plus a walk over the open items, and all of it runs on the monitor's own queue, never on the
/// scrape or delivery paths. A scrape reads the gauges of the last round, at most `interval` old.
final class FollowupMonitor: @unchecked Sendable {
    /// The metric's name.
    static let metric = "stafett_followup_overdue"
    private let rules: [FollowupRule]
    private let metrics: Metrics
    private let log: Logger
    private let interval: TimeInterval
    private let queue = DispatchQueue(label: "stafett.followup", qos: .utility)
    private var timer: DispatchSourceTimer?
    // Used on `queue` only.
    private let projection: FollowupProjection
    private let stream: JournalStream

    /// A monitor of the journal in `journal`, for this node (`organisation`, 10 digits).
    init(journal: String, organisation: String, rules: [FollowupRule], metrics: Metrics, log: Logger,
         interval: TimeInterval = 30) {
        self.rules = rules
        self.metrics = metrics
        self.log = log
        self.interval = interval
        projection = FollowupProjection(rules: rules, organisation: organisation)
        stream = JournalStream(directory: journal)
    }

    /// The rules `stafett followup` uses on this machine: `followup.rules` beside the config file
    /// (`/etc/stafett/followup.rules` for the installed one), else the built-in ones. A rules file
    /// that cannot be used is logged and the built-in rules count instead.
    static func rules(besideConfig configPath: String, log: Logger) -> [FollowupRule] {
        let path = URL(fileURLWithPath: configPath).deletingLastPathComponent().appendingPathComponent("followup.rules").path
        guard FileManager.default.fileExists(atPath: path) else { return FollowupRules.defaults }
        do { return try FollowupRules.load(path: path) } catch {
            log.error("followup: \(error); \(metric) counts by the built-in rules until it is fixed")
            return FollowupRules.defaults
        }
    }

    /// Publishes 0 for every rule at once (a scrape before the first round sees the series), then
    /// refreshes every `interval`.
    func start() {
        for r in rules { metrics.set(Self.metric, labels: ["rule": r.name], 0) }
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now(), repeating: interval, leeway: .seconds(1))
        t.setEventHandler { [weak self] in self?.refresh(now: Date()) }
        timer = t
        t.resume()
    }

    /// Stops refreshing (SIGTERM).
    func stop() {
        timer?.cancel()
        timer = nil
    }

    /// Applies the records appended since the last round and publishes the counts at `now`; runs
    /// on the monitor's queue (tests call `refreshNow`).
    private func refresh(now: Date) {
        do {
            try stream.readAvailable { projection.add($0) }
        } catch {
            // What was applied stands; the next round reads on from the same place.
            log.limited(.error, key: "followup-monitor", every: .seconds(300),
                        "followup: cannot read the journal for \(Self.metric): \(error)")
        }
        var counts = Dictionary(uniqueKeysWithValues: rules.map { ($0.name, 0) })
        for item in projection.report(now: Int64(now.timeIntervalSince1970 * 1000)) { counts[item.rule, default: 0] += 1 }
        for (rule, n) in counts { metrics.set(Self.metric, labels: ["rule": rule], Double(n)) }
    }

    /// One round now, waited for (tests).
    func refreshNow(_ now: Date = Date()) { queue.sync { refresh(now: now) } }
}
