import Foundation
import XCTest
@testable import StafettTransport

final class HTTPServerTests: XCTestCase {
    let pki = TestPKI.shared

    func config(_ change: (inout HTTPServerConfiguration) -> Void = { _ in }) -> HTTPServerConfiguration {
        var c = HTTPServerConfiguration(host: "127.0.0.1")
        c.limits = HTTPLimits(maxHeaderBytes: 4096, maxHeaderCount: 16, maxBodyBytes: 64 * 1024)
        change(&c)
        return c
    }

    func raw(_ server: HTTPServer) throws -> RawConnection { try RawConnection(port: server.port, tls: try pki.clientContext()) }

    func testLimitsAnsweredWithStatusAndClose() throws {
        let server = try Harness.server(try pki.serverContext(), config())
        defer { server.stop() }
        let cases: [(String, String)] = [
            ("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", "HTTP/1.1 413 "),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "a", count: 5000))\r\n\r\n", "HTTP/1.1 431 "),
            ("GET / HTTP/1.1\r\nHost: x\r\n" + (0..<20).map { "X-\($0): 1\r\n" }.joined() + "\r\n", "HTTP/1.1 431 "),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1 411 "),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "HTTP/1.1 400 "),
            ("GET / HTTP/1.1\nHost: x\n\n", "HTTP/1.1 400 "),
        ]
        for (request, expected) in cases {
            let c = try raw(server)
            try c.send(request)
            let answer = c.readToClose()
            XCTAssertTrue(answer.hasPrefix(expected), "\(request.prefix(60)) → \(answer)")
            XCTAssertTrue(answer.contains("Connection: close\r\n"), answer)
            c.close()
        }
    }

    func testOversizedBodyGets413WhileTheClientIsStillSending() throws {
        let server = try Harness.server(try pki.serverContext(), config())
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext())
        let response = try client.send(Harness.post(String(repeating: "x", count: 100 * 1024)))
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.headers["Connection"], "close")
        XCTAssertEqual(try client.send(Harness.post("small")).status, 200)
        XCTAssertThrowsError(try client.send(HTTPRequest(method: "GET", target: "no-slash"))) { error in
            guard case .invalidRequest = error as? TransportError else { return XCTFail("\(error)") }
        }
    }

    func testKeepAliveAndPipeliningOnOneConnection() throws {
        let server = try Harness.server(try pki.serverContext(), config())
        defer { server.stop() }
        let c = try raw(server)
        try c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye")
        let answer = c.readToClose()
        XCTAssertEqual(answer.components(separatedBy: "HTTP/1.1 200 OK").count, 3, answer)
        XCTAssertTrue(answer.contains("X-Path: /a\r\n") && answer.contains("X-Path: /b\r\n"))
        XCTAssertTrue(answer.hasSuffix("Connection: close\r\n\r\nbye"), answer)
    }

    func testExpectContinueIsAnsweredBeforeTheBody() throws {
        let server = try Harness.server(try pki.serverContext(), config())
        defer { server.stop() }
        let c = try raw(server)
        try c.send("POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(c.read(until: "\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n")
        try c.send("data")
        XCTAssertTrue(c.read(until: "data").hasSuffix("\r\n\r\ndata"))
    }

    func testSlowlorisIsCutOffByTheHeaderDeadline() throws {
        let server = try Harness.server(try pki.serverContext(), config { $0.headerTimeout = .milliseconds(800) })
        defer { server.stop() }
        let c = try raw(server)
        let start = Date()
        var answer = ""
        // One byte every 100 ms: each read is quick, the whole head never arrives.
        for byte in "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
            do { try c.channel.write([byte], until: .after(.seconds(1))) } catch { break }
            if c.channel.isReadableWhileIdle() { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        answer = c.readToClose(timeout: .seconds(3))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 408 "), answer)
        XCTAssertGreaterThan(elapsed, 0.7)
        XCTAssertLessThan(elapsed, 2.0)
    }

    func testSilentClientIsCutOffByTheHandshakeTimeout() throws {
        let server = try Harness.server(try pki.serverContext(), config { $0.handshakeTimeout = .milliseconds(300) })
        defer { server.stop() }
        let fd = try Socket.connect(host: "127.0.0.1", port: server.port, deadline: .after(.seconds(2)))
        let plain = Channel(plain: fd)
        let start = Date()
        var scratch = [UInt8](repeating: 0, count: 64)
        XCTAssertThrowsError(try scratch.withUnsafeMutableBytes { try plain.read(into: $0, until: .after(.seconds(3))) }) { error in
            guard case .closed = error as? IOFailure else { return XCTFail("\(error)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.5)
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(server.activeConnections, 0)
    }

    func testIdleKeepAliveConnectionIsClosedAndClientReconnects() throws {
        let server = try Harness.server(try pki.serverContext(), config { $0.idleTimeout = .milliseconds(200) })
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext())
        XCTAssertEqual(try client.send(Harness.post()).status, 200)
        Thread.sleep(forTimeInterval: 0.4)
        XCTAssertEqual(server.activeConnections, 0)
        XCTAssertEqual(try client.send(Harness.post()).status, 200)
        XCTAssertEqual(client.connectionsOpened, 2)
    }

    func testConnectionCapClosesExtraConnections() throws {
        // Both handshakes may still be pending at the server when the second one starts.
        let server = try Harness.server(try pki.serverContext(), config { $0.maxConnections = 2; $0.maxPendingHandshakes = 2 })
        defer { server.stop() }
        let a = try raw(server), b = try raw(server)
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(server.activeConnections, 2)
        XCTAssertThrowsError(try raw(server))  // accepted and closed: the handshake fails
        a.close()
        Thread.sleep(forTimeInterval: 0.1)
        let client = Harness.client(server, try pki.clientContext())
        XCTAssertEqual(try client.send(Harness.post()).status, 200)
        b.close()
    }

    func testGracefulStopFinishesInFlightRequestAndClosesIdleOnes() throws {
        let entered = DispatchSemaphore(value: 0)
        let server = try Harness.server(try pki.serverContext(), config()) { request, peer in
            if request.path == "/slow" {
                entered.signal()
                Thread.sleep(forTimeInterval: 0.5)
            }
            return Harness.echoHandler(request, peer)
        }
        let idle = try raw(server)  // an idle keep-alive connection must not hold up the stop
        let client = Harness.client(server, try pki.clientContext())
        let result = Locked<HTTPResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result.set(try? client.send(Harness.post("slow body", to: "/slow")))
            done.signal()
        }
        XCTAssertEqual(entered.wait(timeout: .now() + 5), .success)
        let start = Date()
        server.stop()
        let stopTook = Date().timeIntervalSince(start)
        XCTAssertEqual(server.activeConnections, 0)
        XCTAssertGreaterThan(stopTook, 0.3, "stop must wait for the in-flight handler")
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        let response = try XCTUnwrap(result.get())
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "slow body")
        XCTAssertEqual(response.headers["Connection"], "close")
        XCTAssertTrue(idle.readToClose(timeout: .seconds(1)).isEmpty)
        XCTAssertThrowsError(try Harness.client(server, try pki.clientContext()).send(Harness.post()))
    }

    func testStopWithTimeoutForcesStuckConnectionsClosed() throws {
        let server = try Harness.server(try pki.serverContext(), config())
        let c = try raw(server)
        try c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of it")
        Thread.sleep(forTimeInterval: 0.05)
        let start = Date()
        server.stop(timeout: .milliseconds(200))
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssertEqual(server.activeConnections, 0)
    }

    func testStatisticsRemoteAddressHEADAnd204() throws {
        let addresses = Locked<[String]>([])
        let server = try Harness.server(try pki.serverContext(), config { $0.maxConnections = 1 }) { request, peer in
            addresses.mutate { $0.append(request.remoteAddress ?? "") }
            if request.path == "/empty" { return HTTPResponse(status: 204, body: Data("ignored".utf8)) }
            return Harness.echoHandler(request, peer)
        }
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext(), maxConnections: 1)
        let head = try client.send(HTTPRequest(method: "HEAD", target: "/x", body: Data()))
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
        let empty = try client.send(HTTPRequest(method: "GET", target: "/empty"))
        XCTAssertEqual(empty.status, 204)
        XCTAssertTrue(empty.body.isEmpty)
        XCTAssertEqual(try client.send(Harness.post("after")).body, Data("after".utf8))  // framing intact
        XCTAssertThrowsError(try raw(server))  // over the cap of one
        client.close()
        Thread.sleep(forTimeInterval: 0.1)
        let c = try raw(server)
        try c.send("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        XCTAssertTrue(c.readToClose().hasPrefix("HTTP/1.1 505 "))
        let stats = server.statistics
        XCTAssertEqual(stats.requestsHandled, 3)
        XCTAssertEqual(stats.requestsRefused, 1)
        XCTAssertGreaterThanOrEqual(stats.connectionsRefusedAtCap, 1)
        XCTAssertEqual(stats.connectionsAccepted, 2)
        XCTAssertTrue(addresses.get().allSatisfy { $0.hasPrefix("127.0.0.1:") }, "\(addresses.get())")
    }

    /// The metrics listener takes the configured loopback address (IPv6 too) and nothing else.
    func testPlainListenerBindsOnlyTheLoopbackAddressItIsGiven() throws {
        XCTAssertThrowsError(try HTTPServer(loopbackHost: "0.0.0.0", loopbackPort: 0) { _ in .text(200, "ok") })
        XCTAssertThrowsError(try HTTPServer(loopbackHost: "192.0.2.1", loopbackPort: 0) { _ in .text(200, "ok") })
        let v6: HTTPServer
        do { v6 = try HTTPServer(loopbackHost: "::1", loopbackPort: 0) { _ in .text(200, "ok") } } catch {
            throw XCTSkip("no IPv6 loopback on this machine: \(error)")
        }
        XCTAssertEqual(v6.configuration.host, "::1")
        v6.stop()
    }

    func testPlainLoopbackListenerForMetrics() throws {
        let server = try HTTPServer(loopbackPort: 0) { request in
            request.path == "/metrics" ? .text(200, "stafett_up 1") : .notFound(request)
        }
        server.start()
        defer { server.stop() }
        XCTAssertEqual(server.configuration.host, "127.0.0.1")
        let client = Harness.client(server, nil)
        let r = try client.send(HTTPRequest(method: "GET", target: "/metrics"))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "stafett_up 1\n")
        XCTAssertEqual(try client.send(HTTPRequest(method: "GET", target: "/other")).status, 404)
        let curl = try runTool("/usr/bin/curl", ["-s", "http://127.0.0.1:\(server.port)/metrics"])
        XCTAssertEqual(curl.output, "stafett_up 1\n")
    }

    func testClientTimesOutOnASilentServer() throws {
        let server = try Harness.server(try pki.serverContext(), config()) { request, peer in
            Thread.sleep(forTimeInterval: 0.6)
            return Harness.echoHandler(request, peer)
        }
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext(), requestTimeout: .milliseconds(200))
        XCTAssertThrowsError(try client.send(Harness.post())) { error in
            guard case let .timedOut(context) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(context.phase, .read)
        }
    }

    func testClientReportsRefusedConnection() throws {
        let server = try HTTPServer(configuration: config(), tls: try pki.serverContext(), handler: Harness.echoHandler)
        let port = server.port
        server.stop()  // bound, never started, now closed
        let client = HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: port), tls: try pki.clientContext())
        XCTAssertThrowsError(try client.send(Harness.post())) { error in
            guard case let .network(context, reason) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(context.phase, .connect)
            XCTAssertEqual(reason, "Connection refused")
        }
    }
}
