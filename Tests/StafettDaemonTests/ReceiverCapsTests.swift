import XCTest
@testable import StafettDaemon

/// The receiver's caps come from the configured peers, with room for all of them reconnecting at
/// once; a number in `[limits]` wins.
final class ReceiverCapsTests: XCTestCase {
    func testCapsGrowWithThePeers() {
        let small = ReceiverCaps(peers: 3, connectionsPerPeer: 2, limits: .init())
        XCTAssertEqual([small.handshakes, small.connections, small.perPeer], [64, 256, 6])
        XCTAssertEqual(small.backlog, 4_096, "room for a peer's SYN beside a flood")

        let national = ReceiverCaps(peers: 300, connectionsPerPeer: 2, limits: .init())
        XCTAssertEqual(national.handshakes, 600, "every peer's connections handshaking at once")
        XCTAssertEqual(national.connections, 1_800, "the handshakes beside twice every peer's connections")
        XCTAssertEqual(ReceiverCaps(peers: 3_000, connectionsPerPeer: 2, limits: .init()).backlog, 6_000,
                       "the kernel queues a whole reconnect storm instead of dropping SYNs")
    }

    func testConfiguredNumbersWin() {
        var limits = StafettConfig.Limits()
        limits.maxHandshakes = 40
        limits.maxConnections = 100
        limits.maxConnectionsPerPeer = 3
        let caps = ReceiverCaps(peers: 300, connectionsPerPeer: 2, limits: limits)
        XCTAssertEqual([caps.handshakes, caps.connections, caps.perPeer], [40, 100, 3])
        XCTAssertEqual(caps.backlog, 4_096, "the backlog's floor stands")
    }
}
