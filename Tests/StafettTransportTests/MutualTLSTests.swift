import Foundation
import StafettCrypto
import StafettModel
import XCTest
@testable import StafettTransport

final class MutualTLSTests: XCTestCase {
    let pki = TestPKI.shared

    func testRoundTripExposesAuthenticatedPeer() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext())
        defer { client.close() }
        let response = try client.send(Harness.post("<case/>", to: "/v1/messages?x=1"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "<case/>")
        XCTAssertEqual(response.headers["x-peer"], TestPKI.migrationsverket.digits)
        XCTAssertEqual(response.headers["X-Basis"], TrustBasis.certificateAuthority.rawValue)
        XCTAssertEqual(response.headers["X-Path"], "/v1/messages?x=1")
    }

    func testPeerIdentityCarriesTheClientCertificate() throws {
        let seen = Locked<PeerIdentity?>(nil)
        let server = try Harness.server(try pki.serverContext()) { _, peer in
            seen.set(peer)
            return HTTPResponse(status: 204)
        }
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext())
        XCTAssertEqual(try client.send(Harness.post()).status, 204)
        let peer = try XCTUnwrap(seen.get())
        XCTAssertEqual(peer.organisation, TestPKI.migrationsverket)
        XCTAssertEqual(peer.fingerprint, pki.cert("client").sha256Fingerprint)
        XCTAssertEqual(peer.certificate.commonName, "node1")
    }

    /// A reload keeps the open keep-alive connections of peers it still trusts (a routine CRL
    /// refresh must not make every peer reconnect), and ends those of peers it no longer trusts:
    /// their next request goes through a new handshake under the new trust, and is refused.
    func testReloadKeepsTrustedConnectionsAndEndsUntrustedOnes() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext(), maxConnections: 1)
        let revoked = Harness.client(server, try pki.clientContext("client-revoked"), maxConnections: 1)
        XCTAssertEqual(try client.send(Harness.post("before")).status, 200)
        XCTAssertEqual(try revoked.send(Harness.post("before")).status, 200)
        // The same trust in a new context, now with the CA's list revoking one of the two.
        var trust = PeerTrust(organisation: TestPKI.migrationsverket, caCertificates: [pki.cert("ca")])
        trust.revocationLists = try RevocationList.load(path: pki.path("ca.crl"))
        server.updateTLS(try pki.serverContext([trust]))
        XCTAssertEqual(String(decoding: try client.send(Harness.post("same trust")).body, as: UTF8.self), "same trust")
        XCTAssertEqual(client.connectionsOpened, 1, "the still-trusted peer kept its connection")
        XCTAssertThrowsError(try revoked.send(Harness.post("after")), "the revoked certificate's connection was not served")
        XCTAssertEqual(server.statistics.connectionsClosedAtReload, 1)
        XCTAssertEqual(server.statistics.connectionsAccepted, 3, "only the revoked peer tried a new handshake")
        // Trust only another organisation: the client's open connection must not be served.
        server.updateTLS(try pki.serverContext([PeerTrust(organisation: TestPKI.stranger, caCertificates: [pki.cert("ca")])]))
        XCTAssertThrowsError(try client.send(Harness.post("after")))
        XCTAssertEqual(server.statistics.connectionsClosedAtReload, 2)
    }

    func testKeepAliveReusesOneConnection() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext())
        for i in 0..<200 {
            let r = try client.send(Harness.post("message \(i)"))
            XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "message \(i)")
        }
        XCTAssertEqual(client.connectionsOpened, 1)
    }

    func testParallelSendsUseAtMostThePoolSize() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext(), maxConnections: 3)
        let failures = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<40 {
                let body = "w\(worker)-\(i)"
                let r = try? client.send(Harness.post(body))
                if r.map({ String(decoding: $0.body, as: UTF8.self) }) != body { failures.mutate { $0 += 1 } }
            }
        }
        XCTAssertEqual(failures.get(), 0)
        XCTAssertLessThanOrEqual(client.connectionsOpened, 3)
    }

    func testCertificateFromAnotherCAIsRefused() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext("client-otherca"))
        XCTAssertThrowsError(try client.send(Harness.post())) { error in
            guard case let .tls(context, _, alert) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(context.phase, .handshake)
            XCTAssertEqual(alert, "unknown ca")
        }
    }

    /// A certificate the CA's revocation list names is refused; others from that CA pass; a list
    /// of another CA alone does not switch checking on (OpenSSL would then refuse everything).
    func testRevokedCertificateIsRefusedWhenTheCAsListIsLoaded() throws {
        let lists = try RevocationList.load(path: pki.path("ca.crl"))
        XCTAssertEqual(lists.count, 1)
        XCTAssertEqual(lists[0].revokedCount, 1)
        XCTAssertTrue(lists[0].isIssued(by: pki.cert("ca")))
        XCTAssertFalse(lists[0].isIssued(by: pki.cert("ca2")))
        var trust = PeerTrust(organisation: TestPKI.migrationsverket, caCertificates: [pki.cert("ca")])
        trust.revocationLists = lists + (try RevocationList.load(path: pki.path("ca2.crl")))
        let server = try Harness.server(try pki.serverContext([trust]))
        defer { server.stop() }
        XCTAssertThrowsError(try Harness.client(server, try pki.clientContext("client-revoked")).send(Harness.post())) { error in
            guard case let .tls(_, _, alert) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(alert, "certificate revoked")
        }
        XCTAssertEqual(try Harness.client(server, try pki.clientContext("client")).send(Harness.post()).status, 200)

        // Without the list the same certificate is accepted: revocation is checked only with one.
        let plain = try Harness.server(try pki.serverContext())
        defer { plain.stop() }
        XCTAssertEqual(try Harness.client(plain, try pki.clientContext("client-revoked")).send(Harness.post()).status, 200)
        var otherOnly = PeerTrust(organisation: TestPKI.migrationsverket, caCertificates: [pki.cert("ca")])
        otherOnly.revocationLists = try RevocationList.load(path: pki.path("ca2.crl"))
        let other = try Harness.server(try pki.serverContext([otherOnly]))
        defer { other.stop() }
        XCTAssertEqual(try Harness.client(other, try pki.clientContext("client")).send(Harness.post()).status, 200)
        XCTAssertThrowsError(try RevocationList.all(pem: Data("no list here".utf8)))
    }

    func testExpiredCertificateIsRefused() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext("client-expired"))
        XCTAssertThrowsError(try client.send(Harness.post())) { error in
            guard case let .tls(_, _, alert) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(alert, "certificate expired")
        }
    }

    func testNotYetValidCertificateIsRefused() throws {
        XCTAssertGreaterThan(pki.cert("client-future").notBefore, Date())
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        XCTAssertThrowsError(try Harness.client(server, try pki.clientContext("client-future")).send(Harness.post())) { error in
            guard case let .tls(_, _, alert) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(alert, "bad certificate")
        }
        // The same certificate pinned is refused too: pins do not bypass validity.
        let pinned = PeerTrust(organisation: TestPKI.migrationsverket, pinnedCertificates: [pki.cert("client-future")])
        let server2 = try Harness.server(try pki.serverContext([pinned]))
        defer { server2.stop() }
        XCTAssertThrowsError(try Harness.client(server2, try pki.clientContext("client-future")).send(Harness.post()))
    }

    func testUnknownOrganisationIsRefusedEvenFromTheTrustedCA() throws {
        let lines = Locked<[String]>([])
        var config = HTTPServerConfiguration(host: "127.0.0.1")
        config.log = { line in lines.mutate { $0.append(line) } }
        let server = try Harness.server(try pki.serverContext(), config)
        defer { server.stop() }
        for name in ["stranger", "noorg"] {
            let client = Harness.client(server, try pki.clientContext(name))
            XCTAssertThrowsError(try client.send(Harness.post())) { error in
                guard case .tls = error as? TransportError else { return XCTFail("\(error)") }
            }
        }
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertTrue(lines.get().contains { $0.contains("unknown peer") && $0.contains("232100-0016") }, "\(lines.get())")
    }

    func testPinnedCertificatesAcceptedIncludingRotationAndWrongPinRefused() throws {
        let pins = PeerTrust(organisation: TestPKI.migrationsverket,
                             pinnedFingerprints: [pki.cert("pinned").sha256Fingerprint, pki.cert("pinned-new").sha256Fingerprint])
        let server = try Harness.server(try pki.serverContext([pins]))
        defer { server.stop() }
        for name in ["pinned", "pinned-new"] {
            let r = try Harness.client(server, try pki.clientContext(name)).send(Harness.post())
            XCTAssertEqual(r.headers["X-Basis"], TrustBasis.pinnedCertificate.rawValue)
            XCTAssertEqual(r.headers["X-Peer"], TestPKI.migrationsverket.digits)
        }
        // CA-issued but not pinned, and no CA configured for this peer.
        XCTAssertThrowsError(try Harness.client(server, try pki.clientContext("client")).send(Harness.post()))
    }

    func testPinAcceptsOpenSSLColonFormat() throws {
        let colon = stride(from: 0, to: 64, by: 2).map { i -> String in
            let s = pki.cert("pinned").sha256Fingerprint
            return s[s.index(s.startIndex, offsetBy: i)..<s.index(s.startIndex, offsetBy: i + 2)].uppercased()
        }.joined(separator: ":")
        let trust = PeerTrust(organisation: TestPKI.migrationsverket, pinnedFingerprints: [colon])
        XCTAssertEqual(trust.pinnedFingerprints, [pki.cert("pinned").sha256Fingerprint])
        var later = PeerTrust(organisation: TestPKI.migrationsverket)
        later.pinnedFingerprints = [colon]
        XCTAssertEqual(later.pinnedFingerprints, [pki.cert("pinned").sha256Fingerprint])
    }

    func testExpiredPinnedCertificateIsRefused() throws {
        let pins = PeerTrust(organisation: TestPKI.migrationsverket, pinnedCertificates: [pki.cert("pinned-expired")])
        let server = try Harness.server(try pki.serverContext([pins]))
        defer { server.stop() }
        XCTAssertThrowsError(try Harness.client(server, try pki.clientContext("pinned-expired")).send(Harness.post())) { error in
            guard case let .tls(_, _, alert) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(alert, "certificate expired")
        }
    }

    func testClientWithoutCertificateIsRefused() throws {
        let called = Locked(false)
        let server = try Harness.server(try pki.serverContext()) { _, _ in
            called.set(true)
            return HTTPResponse(status: 200)
        }
        defer { server.stop() }
        let result = try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.path("ca.pem"),
                                               "https://127.0.0.1:\(server.port)/v1/messages"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.output, "000")
        XCTAssertFalse(called.get())
    }

    func testClientRefusesServerOfAnotherOrganisation() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let expectStranger = PeerTrust(organisation: TestPKI.stranger, caCertificates: [pki.cert("ca")])
        let client = Harness.client(server, try pki.clientContext(serverTrust: expectStranger))
        XCTAssertThrowsError(try client.send(Harness.post())) { error in
            guard case let .untrustedPeer(context, reason) = error as? TransportError else { return XCTFail("\(error)") }
            XCTAssertEqual(context.phase, .handshake)
            XCTAssertEqual(context.peer, TestPKI.stranger.description)
            XCTAssertTrue(reason.contains("212000-0142"), reason)
        }
    }

    func testClientRefusesServerFromAnotherCAAndAcceptsAPinnedServer() throws {
        let server = try Harness.server(try pki.serverContext())
        defer { server.stop() }
        let otherCA = PeerTrust(organisation: TestPKI.trelleborg, caCertificates: [pki.cert("ca2")])
        XCTAssertThrowsError(try Harness.client(server, try pki.clientContext(serverTrust: otherCA)).send(Harness.post())) { error in
            guard case .untrustedPeer = error as? TransportError else { return XCTFail("\(error)") }
        }
        let pinned = PeerTrust(organisation: TestPKI.trelleborg, pinnedCertificates: [pki.cert("server")])
        XCTAssertEqual(try Harness.client(server, try pki.clientContext(serverTrust: pinned)).send(Harness.post()).status, 200)
    }

    func testTLS12IsRefusedUnlessAllowed() throws {
        for allow in [false, true] {
            let server = try Harness.server(try pki.serverContext(allowTLS12: allow))
            defer { server.stop() }
            let result = try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--tls-max", "1.2",
                                                   "--cert", pki.path("client.pem"), "--key", pki.path("client.key"),
                                                   "--cacert", pki.path("ca.pem"), "https://127.0.0.1:\(server.port)/x"])
            XCTAssertEqual(result.output, allow ? "200" : "000")
        }
    }

    func testCurlPostsALargeBodyWithExpectContinue() throws {
        let received = Locked(Data())
        let server = try Harness.server(try pki.serverContext()) { request, peer in
            received.set(request.body)
            return .text(200, "accepted from \(peer.organisation)")
        }
        defer { server.stop() }
        let body = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let file = pki.path("body-\(UUID()).bin")
        try body.write(to: URL(fileURLWithPath: file))
        let result = try runTool("/usr/bin/curl", ["-s", "--fail", "--cert", pki.path("client.pem"), "--key", pki.path("client.key"),
                                               "--cacert", pki.path("ca.pem"), "--data-binary", "@\(file)",
                                               "-H", "Content-Type: application/xml",
                                               "https://127.0.0.1:\(server.port)/v1/messages"])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.output, "accepted from 202100-5489\n")
        XCTAssertEqual(received.get(), body)
    }
}

/// A value shared between a test and handler threads.
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
    func mutate(_ f: (inout T) -> Void) { lock.withLock { f(&value) } }
}
