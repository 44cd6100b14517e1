import Foundation

/// The one line `systemctl status` shows for the daemon (sd_notify `STATUS=`): what the node is
/// doing, in the words an operator on call asks about — how much waits, for whom, which peer is
/// down since when, and whether the case system still drops files.
public struct NodeStatus: Equatable, Sendable {
    /// One peer's lane as the scheduler sees it.
    public struct Peer: Equatable, Sendable {
        public var name: String
        public var waiting: Int
        /// The first failure of the current outage, nil while the peer answers.
        public var downSince: Date?
        public init(name: String, waiting: Int, downSince: Date?) {
            self.name = name
            self.waiting = waiting
            self.downSince = downSince
        }
    }

    public var peers: [Peer]
    /// When the last outbox file was processed (accepted or refused); nil before the first.
    public var lastIntake: Date?

    public init(peers: [Peer], lastIntake: Date?) {
        self.peers = peers
        self.lastIntake = lastIntake
    }

    /// At most this many down peers are named; the rest are counted.
    static let namedDownPeers = 3

    /// E.g. `12 queued for 2 peers; peer polisen down since 03:12; last intake 2 min ago`.
    /// Coarse on purpose (minutes, not seconds): the line is sent only when it changes.
    public func line(now: Date, timeZone: TimeZone = .current) -> String {
        var parts: [String] = []
        let waitingFor = peers.filter { $0.waiting > 0 }
        let queued = waitingFor.reduce(0) { $0 + $1.waiting }
        parts.append(queued == 0 ? "nothing queued"
            : "\(queued) queued for \(waitingFor.count) peer\(waitingFor.count == 1 ? "" : "s")")
        let down = peers.compactMap { p in p.downSince.map { (p.name, $0) } }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        for (name, since) in down.prefix(Self.namedDownPeers) {
            parts.append("peer \(name) down since \(Self.clock(since, now: now, timeZone: timeZone))")
        }
        if down.count > Self.namedDownPeers { parts.append("\(down.count - Self.namedDownPeers) more peers down") }
        parts.append(lastIntake.map { "last intake \(Self.ago(now.timeIntervalSince($0)))" } ?? "no intake since start")
        return parts.joined(separator: "; ")
    }

    /// `03:12` today, `2026-12-05 03:12` before today (in the daemon's time zone, as its log).
    static func clock(_ date: Date, now: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = timeZone
        f.dateFormat = calendar.isDate(date, inSameDayAs: now) ? "HH:mm" : "yyyy-MM-dd HH:mm"
        return f.string(from: date)
    }

    /// `just now`, `5 min ago`, `3 h ago`, `2 days ago`.
    static func ago(_ seconds: TimeInterval) -> String {
        let minutes = Int(max(0, seconds) / 60)
        switch minutes {
        case 0: return "just now"
        case ..<120: return "\(minutes) min ago"
        case ..<(48 * 60): return "\(minutes / 60) h ago"
        default: return "\(minutes / (24 * 60)) days ago"
        }
    }
}
