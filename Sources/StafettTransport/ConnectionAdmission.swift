import Foundation
import StafettModel

/// Why the server closed a connection at once instead of serving it.
public enum ConnectionRefusal: String, Sendable, Hashable, CaseIterable {
    /// `maxConnections` were open.
    case maxConnections = "max-connections"
    /// `maxPendingHandshakes` handshakes were under way and none of them could give way.
    case handshakes
    /// `maxPendingHandshakesPerAddress` from the source address were not yet authenticated.
    case perAddress = "per-address"
    /// The authenticated peer already held `maxConnectionsPerPeer` connections.
    case perPeer = "per-peer"
}

/// How far a pending handshake has got: the less advanced gives way first to a newcomer.
enum HandshakeProgress: Int, Comparable {
    /// Nothing received yet; the connection waits in the accept loop (`HandshakeWaitingRoom`),
    /// without a thread. A real client's ClientHello follows its TCP handshake at once (usually
    /// before the server even accepts), so a connection still silent when a newcomer needs its
    /// place is the flood's, whatever its age.
    case silent
    /// Part of a ClientHello received; still waiting in the accept loop.
    case spoke
    /// Its whole ClientHello is in and its thread runs the handshake: it holds a handshake place.
    case underWay
    /// The server has answered the ClientHello and waits for the client's certificate and
    /// Finished: one round trip for a real client; the server has already paid for a key exchange
    /// and a signature, and so has an attacker that gets here (it sent a valid ClientHello).
    case answered

    static func < (a: HandshakeProgress, b: HandshakeProgress) -> Bool { a.rawValue < b.rawValue }

    /// Whether the connection has a thread (and so holds a handshake place).
    var hasThread: Bool { self >= .underWay }
}

/// The books of who holds the server's places: every open connection, those not yet
/// authenticated (by source address block and progress), and the authenticated ones by peer
/// organisation. Not thread-safe: `HTTPServer` keeps it under its lock.
///
/// The policy, as an attacker meets it:
/// - A connection that has not sent its whole ClientHello costs a descriptor and a poll entry,
///   not a thread: it holds one of `maxConnections` but no handshake place. When every place is
///   taken, a newcomer takes the place of the least advanced, oldest of these (silent before
///   partial), so a flood of them, from any number of addresses and at any rate, only churns
///   itself: a real client's ClientHello is in the socket when it is accepted, or within the
///   moment after, and it moves on to a handshake place long before the flood's newcomers have
///   gone round all the places. Authenticated connections never give way.
/// - One address (IPv4, or IPv6 /64) holds at most `maxPendingHandshakesPerAddress` connections
///   that are not yet authenticated.
/// - Handshakes under way (a thread each) hold at most `maxPendingHandshakes` places, so at least
///   `maxConnections - maxPendingHandshakes` stay for peers that have proved who they are. At a
///   full handshake cap the newcomer takes the place of one under way whose ClientHello is not yet
///   answered, or of one answered more than `handshakeGrace` ago, so that more honest handshakes
///   than places (a reconnect storm) complete instead of evicting each other; to crowd out
///   newcomers, a flood must then complete `maxPendingHandshakes / handshakeGrace` ClientHellos a
///   second, each costing the server a key exchange and a signature.
/// - An authenticated peer holds at most `maxConnectionsPerPeer` connections, so one peer (or its
///   stolen key) cannot take the places every other peer needs.
struct ConnectionAdmission {
    struct Pending {
        var block: String
        var arrival: Deadline
        var progress: HandshakeProgress
    }

    private(set) var connections: Set<Int32> = []
    private(set) var pending: [Int32: Pending] = [:]
    /// Pending fds in arrival order; entries that left `pending` are dropped lazily.
    private var order: [Int32] = []
    private var orderStart = 0
    private var pendingFrom: [String: Int] = [:]
    /// Pending connections already shut down to make room (in `pending` until their threads finish).
    private(set) var evicted: Set<Int32> = []
    /// Connections with a handshake under way or answered, evicted ones included.
    private var withThread = 0
    private var peerOf: [Int32: OrganisationNumber] = [:]
    private var heldBy: [OrganisationNumber: Int] = [:]
    var stats = HTTPServerStatistics()

    /// Connections not yet authenticated, not counting those already evicted (on their way out).
    var pendingCount: Int { pending.count - evicted.count }

    /// Handshakes under way (holding a handshake place), not counting those already evicted.
    var underWayCount: Int { withThread - evicted.count }

    /// Pending connections whose ClientHello the server has answered (for tests that must know a
    /// handshake got that far before they race a newcomer against it).
    var answeredCount: Int { pending.values.filter { $0.progress == .answered }.count }

    /// Takes a new connection into the books, or says why it must be closed instead. With
    /// `handshakes` false (a plain server) there is no handshake to count: the connection is
    /// served at once. A TLS connection starts silent, without a thread; `startHandshake` gives it
    /// a handshake place once its ClientHello is in. `hasSpoken` tells whether a silent connection
    /// has bytes waiting (the accept loop may not have looked yet); `displace` closes the silent
    /// or partial one that gives way (it has no thread to do it).
    mutating func admit(_ fd: Int32, from source: String, handshakes: Bool, _ config: HTTPServerConfiguration,
                        hasSpoken: (Int32) -> Bool, displace: (Int32) -> Void) -> ConnectionRefusal? {
        let block = Socket.addressBlock(of: source)
        if handshakes, pendingFrom[block, default: 0] >= max(1, config.maxPendingHandshakesPerAddress) {
            stats.connectionsRefusedAtAddressCap += 1
            return .perAddress
        }
        // Evicted connections are on their way out (their threads have yet to notice): their
        // places are free already, or a fast flood would fill `maxConnections` with its own dead.
        if connections.count - evicted.count >= config.maxConnections {
            guard handshakes, let victim = evictionCandidate(threads: false, grace: config.handshakeGrace, hasSpoken: hasSpoken) else {
                stats.connectionsRefusedAtCap += 1
                return .maxConnections
            }
            displace(victim)
            finished(victim)
            stats.pendingHandshakesEvicted += 1
        }
        if handshakes {
            pending[fd] = Pending(block: block, arrival: .now(), progress: .silent)
            order.append(fd)
            pendingFrom[block, default: 0] += 1
        }
        connections.insert(fd)
        stats.connectionsAccepted += 1
        return nil
    }

    /// A pending connection's whole ClientHello is in: it takes a handshake place, or says why it
    /// must be closed instead. `evict` shuts down a handshake under way that gives way (its thread
    /// sees the shutdown, ends the handshake and leaves the books).
    mutating func startHandshake(_ fd: Int32, _ config: HTTPServerConfiguration, evict: (Int32) -> Void) -> ConnectionRefusal? {
        guard let p = pending[fd], !p.progress.hasThread else { return nil }
        if underWayCount >= max(1, config.maxPendingHandshakes) {
            guard let victim = evictionCandidate(threads: true, grace: config.handshakeGrace, hasSpoken: { _ in true }) else {
                stats.connectionsRefusedAtPendingCap += 1
                return .handshakes
            }
            evicted.insert(victim)
            evict(victim)
            stats.pendingHandshakesEvicted += 1
        }
        pending[fd]?.progress = .underWay
        withThread += 1
        return nil
    }

    /// Notes that a pending handshake got further (never back).
    mutating func advance(_ fd: Int32, to progress: HandshakeProgress) {
        guard let p = pending[fd], p.progress < progress else { return }
        pending[fd]?.progress = progress
    }

    /// The handshake is done and proved `peer`: the connection leaves the handshake count and
    /// holds one of the peer's places, or is refused when the peer holds all of them already.
    mutating func authenticated(_ fd: Int32, as peer: OrganisationNumber, _ config: HTTPServerConfiguration) -> ConnectionRefusal? {
        leavePending(fd)
        if let cap = config.maxConnectionsPerPeer, heldBy[peer, default: 0] >= max(1, cap) {
            stats.connectionsRefusedPerPeer += 1
            return .perPeer
        }
        peerOf[fd] = peer
        heldBy[peer, default: 0] += 1
        return nil
    }

    /// Connections the authenticated `peer` holds now.
    func held(by peer: OrganisationNumber) -> Int { heldBy[peer, default: 0] }

    /// Takes `fd` out of the books; says whether it had been evicted to make room.
    @discardableResult
    mutating func finished(_ fd: Int32) -> Bool {
        let wasEvicted = evicted.contains(fd)
        leavePending(fd)
        connections.remove(fd)
        if let peer = peerOf.removeValue(forKey: fd) {
            if let n = heldBy[peer], n > 1 { heldBy[peer] = n - 1 } else { heldBy[peer] = nil }
        }
        return wasEvicted
    }

    private mutating func leavePending(_ fd: Int32) {
        evicted.remove(fd)
        guard let p = pending.removeValue(forKey: fd) else { return }
        if p.progress.hasThread { withThread -= 1 }
        if let n = pendingFrom[p.block], n > 1 { pendingFrom[p.block] = n - 1 } else { pendingFrom[p.block] = nil }
        compactOrder()
    }

    /// The least advanced, oldest pending connection that may give way, among those waiting
    /// without a thread (`threads` false: silent before partial) or those with a handshake
    /// under way (`threads` true: one not yet answered at once, an answered one after `grace`).
    /// Walks the arrival order, which under a silent flood finds its victim at the front.
    private mutating func evictionCandidate(threads: Bool, grace: Duration, hasSpoken: (Int32) -> Bool) -> Int32? {
        var best: (fd: Int32, progress: HandshakeProgress)?
        let now = Deadline.now().nanoseconds
        let graceStart = now - min(now, Deadline.span(grace))
        var i = orderStart
        while i < order.count {
            let fd = order[i]
            i += 1
            guard var p = pending[fd], !evicted.contains(fd), p.progress.hasThread == threads else { continue }
            if p.progress == .silent, hasSpoken(fd) {
                p.progress = .spoke
                pending[fd] = p
            }
            if p.progress == .silent || p.progress == .underWay { return fd }
            if p.progress == .answered, p.arrival.nanoseconds > graceStart { continue }
            if best == nil || p.progress < best!.progress { best = (fd, p.progress) }
        }
        return best?.fd
    }

    /// Drops the arrival-order entries of connections that have left, once they are most of it.
    private mutating func compactOrder() {
        while orderStart < order.count, pending[order[orderStart]] == nil { orderStart += 1 }
        if order.count > 4 * pending.count + 64 || (orderStart > 64 && orderStart * 2 > order.count) {
            order = order[orderStart...].filter { pending[$0] != nil }
            orderStart = 0
        }
    }
}

/// At most one line a second for connections refused at a cap: they come in floods, and a line
/// each would bury the rest of the log (and cost the accept loop a write each). Those left out
/// are counted by reason, in the next line or, when the flood has stopped, in a summary line a
/// second after the last one, so the log always says how many there were.
struct RefusalLog {
    private var last: Deadline?
    private var unlogged: [ConnectionRefusal: Int] = [:]

    /// When the summary of refusals left out of the log is due, if any are.
    var summaryDue: Deadline? {
        guard !unlogged.isEmpty, let last else { return nil }
        return Deadline(nanoseconds: last.nanoseconds + 1_000_000_000)
    }

    mutating func line(for refusal: ConnectionRefusal, from source: String, _ config: HTTPServerConfiguration) -> String? {
        let reason: String
        switch refusal {
        case .maxConnections: reason = "\(config.maxConnections) connections already open"
        case .handshakes: reason = "\(max(1, config.maxPendingHandshakes)) connections already in their TLS handshake"
        case .perAddress:
            reason = "\(max(1, config.maxPendingHandshakesPerAddress)) connections from that address already in their TLS handshake"
        case .perPeer: reason = "the peer already holds \(config.maxConnectionsPerPeer ?? 0) connections"
        }
        let now = Deadline.now()
        if let last, now.nanoseconds - last.nanoseconds < 1_000_000_000 {
            unlogged[refusal, default: 0] += 1
            return nil
        }
        defer { last = now; unlogged = [:] }
        let more = unlogged.values.reduce(0, +)
        return "connection from \(source) refused: \(reason)" + (more > 0 ? " (and \(more) more since the last such line: \(breakdown))" : "")
    }

    /// The line for refusals left out since the last line, once `summaryDue` has passed.
    mutating func summary() -> String? {
        guard let due = summaryDue, due.hasPassed else { return nil }
        defer { last = .now(); unlogged = [:] }
        return "\(unlogged.values.reduce(0, +)) more connection(s) refused since the last such line: \(breakdown)"
    }

    private var breakdown: String {
        ConnectionRefusal.allCases.compactMap { r in unlogged[r].map { "\($0) \(r.rawValue)" } }.joined(separator: ", ")
    }
}
