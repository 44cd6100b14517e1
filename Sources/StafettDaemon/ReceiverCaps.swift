import Foundation

/// How many inbound connections the receiver takes, sized from the configured peers unless
/// `[limits]` sets a number.
///
/// A sender keeps `connections-per-peer` connections to us (assumed the same as ours: the nodes
/// run the same software, and an operator who raises it for one usually raises it everywhere).
/// - Per peer: twice that plus 2, so a peer that restarts can open its new connections while the
///   old ones, half-open after a crash, wait out the idle timeout.
/// - Handshakes: every peer's connections at once (a reconnect storm after our restart), at least 64.
/// - Connections: the handshake places plus twice every peer's connections (the same reconnect
///   beside half-open old ones), at least 256. At 300 peers with 2 connections each: 600 and 1 800.
public struct ReceiverCaps: Sendable, Equatable {
    /// Open connections, authenticated or not.
    public var connections: Int
    /// Connections in their TLS handshake.
    public var handshakes: Int
    /// Authenticated connections of one peer organisation.
    public var perPeer: Int
    /// The listen(2) backlog: room for every peer's connections arriving at once (a reconnect
    /// storm after a restart), so that the kernel queues them rather than dropping their SYNs and
    /// leaving each peer to a connect timeout and a back-off round. At 1 000 peers the default 128
    /// left 41 connects timing out and the last peers served 41 s after a restart. At least 4 096,
    /// so that a flood of silent connections, shed as fast as the accept loop takes them, leaves
    /// room in the queue for a peer's SYN (one dropped costs TCP's 1 s retransmit): under the
    /// flood benchmark's 2 000 connections, a queue of 1 024 overflowed in 3 of 9 runs (p99 1 s),
    /// one of 4 096 in none of 5 (p99 53–67 ms). A queued connection costs the kernel a few KiB.
    /// The kernel clamps it to `net.core.somaxconn` (4 096 on current kernels).
    public var backlog: Int32

    /// The caps for `peers` configured peers keeping `connectionsPerPeer` connections each,
    /// with any number `limits` sets taking precedence.
    public init(peers: Int, connectionsPerPeer: Int, limits: StafettConfig.Limits) {
        let each = max(1, connectionsPerPeer)
        perPeer = limits.maxConnectionsPerPeer ?? 2 * each + 2
        handshakes = limits.maxHandshakes ?? max(64, peers * each)
        connections = limits.maxConnections ?? max(256, handshakes + 2 * peers * each)
        backlog = Int32(min(65_535, max(4_096, handshakes)))
    }
}

extension StafettConfig {
    /// The receiver's caps for this configuration.
    public var receiverCaps: ReceiverCaps {
        ReceiverCaps(peers: peers.count, connectionsPerPeer: delivery.connectionsPerPeer, limits: limits)
    }
}
