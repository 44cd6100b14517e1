import Foundation
import StafettCrypto
import XCTest
@testable import StafettDaemon

/// `[node] tls-crl`: the lists are loaded into every peer's trust, and a list that has run out,
/// or will within a day, is named in the start-up and reload warnings (and in the metrics).
final class RevocationListTests: XCTestCase {
    func testListsReachEveryPeerAndRunningOutIsWarned() throws {
        let net = try TestNetwork()
        net.configureAllPeers()
        let node = net.a
        // A CRL of the test CA, two days long, made by the openssl CLI from the CA's own key.
        let dir = net.root.appendingPathComponent("crl")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try net.ca.write(keyPath: dir.appendingPathComponent("ca.key").path, certificatePath: dir.appendingPathComponent("ca.crt").path)
        let script = """
            set -e
            mkdir db; : > db/index.txt; echo 01 > db/crlnumber
            printf '[ca]\\ndefault_ca = d\\n[d]\\ndatabase = db/index.txt\\ncrlnumber = db/crlnumber\\ndefault_crl_days = 2\\ndefault_md = sha256\\n' > ca.cnf
            openssl ca -config ca.cnf -cert ca.crt -keyfile ca.key -gencrl -out ca.crl
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = dir
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)

        var config = node.config
        config.node.tlsCRL = dir.appendingPathComponent("ca.crl").path
        let now = Date()
        let fresh = try NodeRuntime.load(config, now: now)
        XCTAssertEqual(fresh.revocationLists.count, 1)
        XCTAssertTrue(fresh.revocationLists[0].issuerLine.contains("Stafett test CA"), fresh.revocationLists[0].issuerLine)
        XCTAssertFalse(fresh.peers.isEmpty)
        for peer in fresh.peers.values { XCTAssertEqual(peer.trust.revocationLists.count, 1, peer.config.name) }
        XCTAssertFalse(fresh.warnings.contains { $0.contains("tls-crl") }, "\(fresh.warnings)")

        let nextUpdate = try XCTUnwrap(fresh.revocationLists[0].nextUpdate)
        XCTAssertEqual(nextUpdate.timeIntervalSince(now), 2 * 86_400, accuracy: 600)
        let soon = try NodeRuntime.load(config, now: nextUpdate.addingTimeInterval(-3600))
        XCTAssertTrue(soon.warnings.contains { $0.contains("runs out on") }, "\(soon.warnings)")
        let late = try NodeRuntime.load(config, now: nextUpdate.addingTimeInterval(3600))
        XCTAssertTrue(late.warnings.contains { $0.contains("expired on") && $0.contains("are refused") }, "\(late.warnings)")

        // The gauge operators alert on: seconds until the next update, by issuer; negative once run out.
        let metrics = Metrics()
        Daemon.recordExpiry(of: late, in: metrics, now: nextUpdate.addingTimeInterval(3600))
        let issuer = ["issuer": fresh.revocationLists[0].issuerLine]
        XCTAssertEqual(try XCTUnwrap(metrics.value("stafett_crl_next_update_seconds", labels: issuer)), -3600, accuracy: 1)
        Daemon.recordExpiry(of: fresh, in: metrics, now: now)
        XCTAssertEqual(try XCTUnwrap(metrics.value("stafett_crl_next_update_seconds", labels: issuer)), 2 * 86_400, accuracy: 600)
        XCTAssertTrue(metrics.render().contains("stafett_crl_next_update_seconds{issuer="), metrics.render())

        // Without tls-crl nothing is loaded and nothing is checked.
        XCTAssertTrue(try NodeRuntime.load(node.config, now: now).revocationLists.isEmpty)
    }
}
