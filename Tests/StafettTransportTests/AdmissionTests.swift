import Foundation
import XCTest
@testable import StafettTransport

/// Floods of unauthenticated connections and greedy authenticated peers against the caps.
/// The flood comes from many loopback addresses (all of 127/8 is local on Linux), as an attacker
/// with many hosts would send it, so that the per-address cap does not stop it.
final class AdmissionTests: XCTestCase {
    let pki = TestPKI.shared

    /// Silent connections from 40 addresses, three times the connection cap, keep arriving while
    /// a configured peer opens a new connection for each of its requests: every request is
    /// served, no silent connection is refused (each newcomer takes the place of the oldest
    /// silent one), and none of them holds a handshake place (or a thread).
    func testSilentFloodFromManyAddressesDoesNotLockOutAPeer() throws {
        let server = try Harness.server(try pki.serverContext(), HTTPServerConfiguration(
            host: "127.0.0.1", maxConnections: 200, maxPendingHandshakes: 16, handshakeTimeout: .seconds(20)))
        defer { server.stop(timeout: .milliseconds(200)) }
        let addresses = (1...40).map { "127.0.1.\($0)" }
        let flooding = Locked(true)
        let flood = Thread {
            var open: [SilentConnection] = []
            var round = 0
            while flooding.get() {
                if let c = try? SilentConnection(port: server.port, from: addresses[round % addresses.count]) { open.append(c) }
                round += 1
                // Hold at most 600; the oldest go first, as an attacker recycling sockets would.
                if open.count > 600 { open.removeFirst().close() }
                if round % 20 == 0 { usleep(1_000) }
            }
            for c in open { c.close() }
        }
        flood.start()
        defer { flooding.set(false) }
        XCTAssertTrue(eventually(.seconds(5)) { server.statistics.pendingHandshakesEvicted > 100 },
                      "the flood filled the handshake places: \(server.statistics)")
        for i in 0..<20 {
            let client = Harness.client(server, try pki.clientContext(), maxConnections: 1, requestTimeout: .seconds(5))
            defer { client.close() }
            XCTAssertEqual(try client.send(Harness.post("through \(i)")).status, 200)
        }
        let stats = server.statistics
        XCTAssertEqual(stats.connectionsRefusedAtPendingCap, 0, "\(stats)")
        XCTAssertEqual(stats.connectionsRefusedAtCap, 0, "silent ones gave way to newcomers: \(stats)")
        XCTAssertGreaterThan(stats.pendingHandshakesEvicted, 100)
        XCTAssertEqual(server.handshakesUnderWay, 0, "a silent connection takes no handshake place")
    }

    /// At a full connection cap the least advanced gives way: a silent connection before one that
    /// has sent part of a ClientHello, even when the silent one is younger.
    func testASilentConnectionGivesWayBeforeOneThatSpoke() throws {
        let server = try Harness.server(try pki.serverContext(), HTTPServerConfiguration(
            host: "127.0.0.1", maxConnections: 2, maxPendingHandshakes: 2, handshakeTimeout: .seconds(20)))
        defer { server.stop(timeout: .milliseconds(200)) }
        let spoke = try SilentConnection(port: server.port, from: "127.0.0.2")
        defer { spoke.close() }
        spoke.send("\u{16}\u{03}")  // the first bytes of a TLS record, and no more
        XCTAssertTrue(eventually { server.pendingHandshakes == 1 })
        let silent = try SilentConnection(port: server.port, from: "127.0.0.3")
        defer { silent.close() }
        XCTAssertTrue(eventually { server.pendingHandshakes == 2 })
        let newcomer = try SilentConnection(port: server.port, from: "127.0.0.4")
        defer { newcomer.close() }
        XCTAssertEqual(SilentConnection.closedByServer([spoke, silent, newcomer], expected: 1), 1)
        XCTAssertTrue(silent.isClosedByServer || SilentConnection.closedByServer([silent], expected: 1) == 1, "the silent one went")
        XCTAssertEqual(server.statistics.pendingHandshakesEvicted, 1)
    }

    /// A connection that sends nothing is closed after `firstByteTimeout`, well before the
    /// handshake timeout, and counted as silent.
    func testASilentConnectionIsClosedAfterTheFirstByteTimeout() throws {
        var config = HTTPServerConfiguration(host: "127.0.0.1", handshakeTimeout: .seconds(20))
        config.firstByteTimeout = .milliseconds(200)
        let server = try Harness.server(try pki.serverContext(), config)
        defer { server.stop(timeout: .milliseconds(200)) }
        let silent = try SilentConnection(port: server.port, from: "127.0.0.2")
        defer { silent.close() }
        XCTAssertEqual(SilentConnection.closedByServer([silent], expected: 1, within: .seconds(2)), 1)
        XCTAssertEqual(server.statistics.silentConnectionsClosed, 1)
        XCTAssertEqual(server.statistics.handshakeTimeouts, 0)
    }

    /// One peer holding its cap of authenticated connections cannot take more: the next is
    /// answered 503 right after its handshake, while another peer still gets through.
    func testAPeerOverItsCapIsRefusedAfterTheHandshake() throws {
        let lines = Locked<[String]>([])
        var config = HTTPServerConfiguration(host: "127.0.0.1", maxConnections: 16, maxConnectionsPerPeer: 2)
        config.log = { line in lines.mutate { $0.append(line) } }
        let both = [PeerTrust(organisation: TestPKI.migrationsverket, caCertificates: [pki.cert("ca")]),
                    PeerTrust(organisation: TestPKI.stranger, caCertificates: [pki.cert("ca")])]
        let server = try Harness.server(try pki.serverContext(both), config)
        defer { server.stop(timeout: .milliseconds(200)) }
        // Two connections with unfinished heads, as a peer whose requests never complete holds them.
        let held = try (0..<2).map { _ in try RawConnection(port: server.port, tls: try pki.clientContext()) }
        for h in held { try h.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\n") }
        XCTAssertTrue(eventually { server.connections(of: TestPKI.migrationsverket) == 2 })

        let third = try RawConnection(port: server.port, tls: try pki.clientContext())
        try? third.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(third.readToClose().hasPrefix("HTTP/1.1 503 "))
        XCTAssertEqual(server.statistics.connectionsRefusedPerPeer, 1)
        XCTAssertEqual(server.statistics.connectionsRefused[.perPeer], 1)
        XCTAssertTrue(lines.get().contains { $0.contains("refused: the peer already holds 2 connections") }, "\(lines.get())")

        // Another organisation is not affected.
        let other = Harness.client(server, try pki.clientContext("stranger"), maxConnections: 1)
        XCTAssertEqual(try other.send(Harness.post("other")).status, 200)
        // A place given back is taken again.
        held[0].close()
        XCTAssertTrue(eventually { server.connections(of: TestPKI.migrationsverket) == 1 })
        let again = Harness.client(server, try pki.clientContext(), maxConnections: 1)
        XCTAssertEqual(try again.send(Harness.post("again")).status, 200)
        held[1].close()
    }

    /// Refusals left out of the log by its rate limit are counted in a summary line once the
    /// flood stops, by reason.
    func testRefusalsLeftOutOfTheLogAreSummarised() throws {
        let lines = Locked<[String]>([])
        var config = HTTPServerConfiguration(host: "127.0.0.1", maxConnections: 8, maxPendingHandshakesPerAddress: 1,
                                             handshakeTimeout: .seconds(20))
        config.log = { line in lines.mutate { $0.append(line) } }
        let server = try Harness.server(try pki.serverContext(), config)
        defer { server.stop(timeout: .milliseconds(200)) }
        let silent = try (0..<5).map { _ in try SilentConnection(port: server.port, from: "127.0.0.2") }
        defer { for s in silent { s.close() } }
        XCTAssertTrue(eventually {
            lines.get().contains { $0 == "3 more connection(s) refused since the last such line: 3 per-address" }
        }, "\(lines.get())")
        XCTAssertEqual(lines.get().filter { $0.contains("refused") }.count, 2)
    }
}
