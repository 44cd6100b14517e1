import Foundation
import XCTest
@testable import StafettTransport

/// Connections that never finish their TLS handshake must not lock authenticated peers out.
/// The silent connections come from other loopback addresses (all of 127/8 is local on Linux),
/// so that the per-address cap can tell them from the real client on 127.0.0.1.
final class HandshakeCapTests: XCTestCase {
    let pki = TestPKI.shared

    func config(_ change: (inout HTTPServerConfiguration) -> Void) -> HTTPServerConfiguration {
        var c = HTTPServerConfiguration(host: "127.0.0.1")
        change(&c)
        return c
    }

    func testSilentConnectionsDoNotLockOutAnAuthenticatedPeer() throws {
        let lines = Locked<[String]>([])
        let server = try Harness.server(try pki.serverContext(), config {
            $0.maxConnections = 4
            $0.maxPendingHandshakes = 3
            $0.maxPendingHandshakesPerAddress = 2
            $0.handshakeTimeout = .seconds(20)  // they must stay pending for the whole test
            $0.log = { line in lines.mutate { $0.append(line) } }
        })
        defer { server.stop(timeout: .milliseconds(200)) }
        // More than the total cap: before the handshake caps, four of these took every place.
        var silent = try (0..<6).map { _ in try SilentConnection(port: server.port, from: "127.0.0.2") }
        XCTAssertTrue(eventually { server.statistics.connectionsRefusedAtAddressCap == 4 }, "\(server.statistics)")
        XCTAssertEqual(SilentConnection.closedByServer(silent, expected: 4), 4)
        XCTAssertEqual(server.pendingHandshakes, 2)
        XCTAssertEqual(server.statistics.connectionsRefusedAtCap, 0)

        let client = Harness.client(server, try pki.clientContext(), maxConnections: 1)
        XCTAssertEqual(try client.send(Harness.post("through")).body, Data("through".utf8))
        XCTAssertEqual(server.pendingHandshakes, 2, "the silent ones are still held")
        XCTAssertEqual(server.activeConnections, 3)

        let refusals = lines.get().filter { $0.contains("refused") }
        XCTAssertTrue(refusals.first?.hasPrefix("connection from 127.0.0.2 refused: 2 connections from that address") == true, "\(refusals)")
        XCTAssertLessThan(refusals.count, 4, "one line for a burst of refusals, not one each")

        for s in silent { s.close() }
        XCTAssertTrue(eventually { server.pendingHandshakes == 0 && server.activeConnections == 1 })
        // The address's count is back at zero: two more are held again, not refused.
        silent = try (0..<2).map { _ in try SilentConnection(port: server.port, from: "127.0.0.2") }
        XCTAssertTrue(eventually { server.pendingHandshakes == 2 })
        XCTAssertEqual(server.statistics.connectionsRefusedAtAddressCap, 4)
        XCTAssertEqual(try client.send(Harness.post("again")).status, 200)
        for s in silent { s.close() }
        client.close()
        XCTAssertTrue(eventually { server.activeConnections == 0 && server.pendingHandshakes == 0 })
    }

    /// Silent connections hold places but no handshake place: at a full connection cap the
    /// oldest of them gives way to a newcomer, whatever its address; authenticated connections
    /// never do, and with only those left a newcomer is refused.
    func testSilentConnectionsGiveWayAtTheConnectionCapAndAuthenticatedOnesNever() throws {
        let server = try Harness.server(try pki.serverContext(), config {
            $0.maxConnections = 4
            $0.maxPendingHandshakes = 2
            $0.handshakeTimeout = .seconds(20)
        })
        defer { server.stop(timeout: .milliseconds(200)) }
        var silent: [SilentConnection] = []
        for address in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"] {
            silent.append(try SilentConnection(port: server.port, from: address))
            XCTAssertTrue(eventually { server.statistics.connectionsAccepted == silent.count }, "\(server.statistics)")
        }
        XCTAssertEqual(server.statistics.pendingHandshakesEvicted, 1, "\(server.statistics)")
        XCTAssertEqual(SilentConnection.closedByServer(silent, expected: 1), 1)
        XCTAssertTrue(silent[0].isClosedByServer, "the oldest went")
        XCTAssertEqual(server.pendingHandshakes, 4)
        XCTAssertEqual(server.handshakesUnderWay, 0, "silent connections take no handshake place")
        XCTAssertEqual(server.statistics.connectionsRefusedAtCap, 0)
        XCTAssertEqual(server.statistics.handshakeFailures, 0, "giving way is no failure of the peer's")
        for s in silent { s.close() }
        XCTAssertTrue(eventually { server.pendingHandshakes == 0 })

        // Connections whose handshake is done no longer count against the handshake cap:
        // three of them fit beside a cap of two.
        var peers: [RawConnection] = []
        for _ in 0..<3 {
            peers.append(try RawConnection(port: server.port, tls: try pki.clientContext()))
            XCTAssertTrue(eventually { server.pendingHandshakes == 0 })
        }
        XCTAssertEqual(server.activeConnections, 3)
        let last = try SilentConnection(port: server.port, from: "127.0.0.2")
        defer { last.close() }
        XCTAssertTrue(eventually { server.pendingHandshakes == 1 })
        // The fourth peer takes the silent one's place at the full cap.
        peers.append(try RawConnection(port: server.port, tls: try pki.clientContext()))
        XCTAssertEqual(SilentConnection.closedByServer([last], expected: 1), 1)
        XCTAssertTrue(eventually { server.activeConnections == 4 && server.pendingHandshakes == 0 })
        // With every place authenticated, a newcomer is refused.
        let over = try SilentConnection(port: server.port, from: "127.0.0.3")
        defer { over.close() }
        XCTAssertEqual(SilentConnection.closedByServer([over], expected: 1), 1)
        XCTAssertEqual(server.statistics.connectionsRefusedAtCap, 1)
        for p in peers {
            try p.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            XCTAssertTrue(p.readToClose().hasPrefix("HTTP/1.1 200 "))
        }
        XCTAssertTrue(eventually { server.activeConnections == 0 && server.pendingHandshakes == 0 })
    }

    /// Silent connections take no handshake place: with as many silent connections as handshake
    /// places, a peer gets through without anyone giving way.
    func testSilentConnectionsLeaveTheHandshakePlacesFree() throws {
        let server = try Harness.server(try pki.serverContext(), config {
            $0.maxConnections = 8
            $0.maxPendingHandshakes = 2
            $0.maxPendingHandshakesPerAddress = 4
            $0.handshakeTimeout = .seconds(20)
        })
        defer { server.stop(timeout: .milliseconds(200)) }
        let silent = try (0..<2).map { _ in try SilentConnection(port: server.port, from: "127.0.0.2") }
        defer { for s in silent { s.close() } }
        XCTAssertTrue(eventually { server.pendingHandshakes == 2 })
        let client = Harness.client(server, try pki.clientContext(), maxConnections: 1)
        XCTAssertEqual(try client.send(Harness.post("through")).body, Data("through".utf8))
        XCTAssertEqual(server.statistics.pendingHandshakesEvicted, 0)
        XCTAssertEqual(SilentConnection.closedByServer(silent, expected: 0, within: .milliseconds(100)), 0)
        XCTAssertEqual(server.statistics.connectionsRefusedAtPendingCap, 0)
    }

    /// Handshakes under way hold the handshake places: a ClientHello answered within the grace
    /// keeps its place, so one more is refused; after the grace it gives way to a newcomer.
    func testAnsweredHandshakesHoldTheirPlacesForTheGraceOnly() throws {
        let server = try Harness.server(try pki.serverContext(), config {
            $0.maxConnections = 8
            $0.maxPendingHandshakes = 2
            $0.handshakeTimeout = .seconds(20)
            $0.handshakeGrace = .milliseconds(600)
        })
        defer { server.stop(timeout: .milliseconds(200)) }
        let hello = try capturedClientHello()
        // A whole ClientHello, then nothing: the server answers it and waits for the Finished.
        let stalled = try ["127.0.0.2", "127.0.0.3"].map { try SilentConnection(port: server.port, from: $0) }
        defer { for s in stalled { s.close() } }
        for s in stalled { s.send(bytes: hello) }
        // Answered, not merely under way: one not yet answered would give way to the newcomer at once.
        XCTAssertTrue(eventually { server.handshakesAnswered == 2 }, "\(server.statistics)")
        XCTAssertEqual(server.handshakesUnderWay, 2)
        let refused = try SilentConnection(port: server.port, from: "127.0.0.4")
        defer { refused.close() }
        refused.send(bytes: hello)
        XCTAssertEqual(SilentConnection.closedByServer([refused], expected: 1), 1)
        XCTAssertEqual(server.statistics.connectionsRefusedAtPendingCap, 1)
        XCTAssertEqual(SilentConnection.closedByServer(stalled, expected: 0, within: .milliseconds(50)), 0)
        usleep(700_000)
        let client = Harness.client(server, try pki.clientContext(), maxConnections: 1)
        XCTAssertEqual(try client.send(Harness.post("after the grace")).status, 200)
        XCTAssertEqual(server.statistics.pendingHandshakesEvicted, 1)
        XCTAssertEqual(SilentConnection.closedByServer(stalled, expected: 1), 1)
    }

    /// The first TLS record a real client sends: its ClientHello, caught on a plain socket.
    func capturedClientHello() throws -> [UInt8] {
        let (listener, port) = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 4)
        defer { close(listener) }
        let tls = try pki.clientContext()
        let client = Thread { _ = try? RawConnection(port: port, tls: tls) }
        client.start()
        var fd: Int32 = -1
        let deadline = Deadline.after(.seconds(5))
        while fd < 0, !deadline.hasPassed {
            try Socket.wait(listener, for: Int16(POLLIN), until: deadline)
            fd = accept(listener, nil, nil)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 5 || bytes.count < 5 + (Int(bytes[3]) << 8 | Int(bytes[4])) {
            try Socket.wait(fd, for: Int16(POLLIN), until: deadline)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw IOFailure.closed }
            bytes += chunk[..<n]
        }
        XCTAssertEqual(bytes[0], 22, "a handshake record")
        return bytes
    }

    func testTimedOutAndFailedHandshakesGiveTheirPlacesBack() throws {
        let server = try Harness.server(try pki.serverContext(), config {
            $0.maxConnections = 4
            $0.maxPendingHandshakes = 2
            $0.maxPendingHandshakesPerAddress = 1
            $0.handshakeTimeout = .milliseconds(300)
        })
        defer { server.stop(timeout: .milliseconds(200)) }
        // Timeout: the place is taken, then given back when the server gives up.
        let first = try SilentConnection(port: server.port, from: "127.0.0.2")
        defer { first.close() }
        XCTAssertTrue(eventually { server.pendingHandshakes == 1 })
        let second = try SilentConnection(port: server.port, from: "127.0.0.2")
        defer { second.close() }
        XCTAssertEqual(SilentConnection.closedByServer([second], expected: 1), 1)
        XCTAssertEqual(SilentConnection.closedByServer([first], expected: 1, within: .seconds(2)), 1)
        XCTAssertTrue(eventually { server.pendingHandshakes == 0 && server.activeConnections == 0 })
        XCTAssertEqual(server.statistics.handshakeFailures, 1)

        // A protocol error: plain HTTP where a ClientHello belongs.
        let garbage = try SilentConnection(port: server.port, from: "127.0.0.2")
        defer { garbage.close() }
        garbage.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(SilentConnection.closedByServer([garbage], expected: 1, within: .seconds(2)), 1)
        // A certificate the server does not trust.
        XCTAssertThrowsError(try Harness.client(server, try pki.clientContext("client-otherca")).send(Harness.post()))
        XCTAssertTrue(eventually { server.pendingHandshakes == 0 && server.activeConnections == 0 }, "\(server.statistics)")
        XCTAssertEqual(server.statistics.handshakeFailures, 3)

        // Every place is free again: the address may hold one more, the authenticated peer gets through.
        let again = try SilentConnection(port: server.port, from: "127.0.0.2")
        defer { again.close() }
        XCTAssertTrue(eventually { server.pendingHandshakes == 1 })
        XCTAssertEqual(try Harness.client(server, try pki.clientContext()).send(Harness.post()).status, 200)
        XCTAssertEqual(server.statistics.connectionsRefusedAtAddressCap, 1)
        XCTAssertEqual(server.statistics.connectionsRefusedAtPendingCap, 0)
    }

    /// The per-address cap counts an IPv6 host by its /64, which it can draw addresses from at will.
    func testAddressBlocks() {
        XCTAssertEqual(Socket.addressBlock(of: "192.0.2.7"), "192.0.2.7")
        XCTAssertEqual(Socket.addressBlock(of: "2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        XCTAssertEqual(Socket.addressBlock(of: "2001:db8:1:2:ffff:1:2:3"), Socket.addressBlock(of: "2001:0db8:0001:0002::9"))
        XCTAssertNotEqual(Socket.addressBlock(of: "2001:db8:1:3::1"), Socket.addressBlock(of: "2001:db8:1:2::1"))
        XCTAssertEqual(Socket.addressBlock(of: "?"), "?")
    }

    func testPlainServerHasNoHandshakeToCap() throws {
        let server = try HTTPServer(loopbackPort: 0, configuration: HTTPServerConfiguration(
            maxConnections: 4, maxPendingHandshakes: 1, maxPendingHandshakesPerAddress: 1)) { _ in .text(200, "up") }
        server.start()
        defer { server.stop(timeout: .milliseconds(200)) }
        let silent = try (0..<3).map { _ in try SilentConnection(port: server.port, from: "127.0.0.1") }
        defer { for s in silent { s.close() } }
        XCTAssertTrue(eventually { server.activeConnections == 3 })
        XCTAssertEqual(server.pendingHandshakes, 0)
        XCTAssertEqual(try Harness.client(server, nil).send(HTTPRequest(method: "GET", target: "/metrics")).status, 200)
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Duration = .seconds(3), _ condition: () -> Bool) -> Bool {
    let deadline = Deadline.after(timeout)
    while !deadline.hasPassed {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// A TCP connection from a chosen local address that never sends a byte of its own.
final class SilentConnection {
    let fd: Int32
    private var closed = false

    init(port: UInt16, from source: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOFailure.system(errno) }
        var local = sockaddr_in(), remote = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = port.bigEndian
        guard inet_pton(AF_INET, source, &local.sin_addr) == 1, inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr) == 1 else {
            Glibc.close(fd)
            throw IOFailure.unresolvable(source)
        }
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &local) { l in
            withUnsafePointer(to: &remote) { r in
                l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } == 0
                    && r.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } == 0
            }
        }
        guard ok else {
            let e = errno
            Glibc.close(fd)
            throw IOFailure.system(e)
        }
    }

    deinit { close() }

    func send(_ text: String) { send(bytes: Array(text.utf8)) }

    func send(bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Whether the server has closed its side (end of stream or reset), without waiting.
    var isClosedByServer: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return false }
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { continue }  // a TLS alert, say: the end follows
            return n == 0 || errno == ECONNRESET
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    /// How many of `connections` the server has closed, once `expected` of them are or
    /// `within` has passed; then a moment more, so that one closed too many is seen.
    static func closedByServer(_ connections: [SilentConnection], expected: Int, within: Duration = .seconds(1)) -> Int {
        let deadline = Deadline.after(within)
        var closed: Set<Int32> = []
        while true {
            for c in connections where !closed.contains(c.fd) && c.isClosedByServer { closed.insert(c.fd) }
            if closed.count >= expected || deadline.hasPassed { break }
            usleep(5_000)
        }
        usleep(50_000)
        for c in connections where !closed.contains(c.fd) && c.isClosedByServer { closed.insert(c.fd) }
        return closed.count
    }
}

final class HandshakeStopTests: XCTestCase {
    func testStopDoesNotWaitForPendingHandshakes() throws {
        let server = try Harness.server(try TestPKI.shared.serverContext(), HTTPServerConfiguration(host: "127.0.0.1", handshakeTimeout: .seconds(20)))
        let silent = try (0..<3).map { _ in try SilentConnection(port: server.port, from: "127.0.0.2") }
        defer { for s in silent { s.close() } }
        let deadline = Deadline.after(.seconds(3))
        while server.pendingHandshakes < 3, !deadline.hasPassed { usleep(5_000) }
        XCTAssertEqual(server.pendingHandshakes, 3)
        let start = Date()
        server.stop()
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssertEqual(server.pendingHandshakes, 0)
        XCTAssertEqual(server.activeConnections, 0)
        XCTAssertEqual(SilentConnection.closedByServer(silent, expected: 3), 3)
        XCTAssertEqual(server.statistics.handshakeFailures, 0, "a stop is no failure of the peer's")
    }
}
