import Foundation
import XCTest
@testable import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettSignature
import StafettXML

/// The two ways a message leaves the queue without being accepted: a rejected receipt
/// (permanent, never retried) and expiry after the maximum lifetime.
final class DaemonOutcomeTests: XCTestCase {
    let A = Members.a.0, B = Members.b.0

    /// B holds the wrong signing certificate for A, so it rejects A's messages (`signature`):
    /// A journals `rejected`, keeps the signed rejection, and does not retry.
    func testRejectedReceiptIsPermanent() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b]) { name, config in
            guard name == Members.b.0 else { return }
            for i in config.peers.indices { config.peers[i].signingCerts = [config.node.signingCert] }
        }
        try h.start(B)
        try h.start(A)
        let tag = "REJ-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: 2), as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "rejected", casePrefix: tag).count == 2 }, h.log(A))
        let ids = try h.journaled(A, kind: "rejected", casePrefix: tag)
        // The record comes first and the queue file leaves after it (settlement): wait for the move.
        XCTAssertTrue(h.wait(5) { h.queueCount(A) == 0 }, "a rejected message leaves the queue")
        XCTAssertTrue(h.inbox(B).isEmpty)
        let record = try XCTUnwrap(try h.journal(A).first { $0["kind"] as? String == "rejected" })
        XCTAssertTrue((record["reason"] as? String ?? "").hasPrefix("signature"), "\(record)")
        let bCert = try Certificate.load(path: h.b.tls("signing.crt"))
        for id in ids {
            let data = try h.receipt(of: id, heldBy: A)
            XCTAssertNoThrow(try XMLSignature.verify(XMLDocument.parse(data), trusting: bCert))
            let receipt = try ReceiptXML.read(data)
            XCTAssertEqual(receipt.status, .rejected)
            XCTAssertEqual(receipt.reason, .signature)
        }
        usleep(1_500_000)  // longer than the maximum back-off: a retry would show as a second refusal
        let refused = try h.journal(B).filter { $0["kind"] as? String == "refused" }
        XCTAssertEqual(refused.count, 2, "each message refused once, never retried")
        XCTAssertEqual(try h.journaled(A, kind: "rejected", casePrefix: tag).count, 2)
    }

    /// With the peer down past the maximum lifetime, messages expire: journaled `expired` with
    /// the last error, moved to archive/expired/, gone from the queue, never sent later.
    func testMessagesExpireAfterMaximumLifetime() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b]) { _, config in
            config.delivery.maxLifetime = .seconds(2)
        }
        try h.start(A)
        let tag = "EXP-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: 2), as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "expired", casePrefix: tag).count == 2 }, h.log(A))
        // A record can be read before its flush returns; the message leaves the queue after.
        XCTAssertTrue(h.wait(10) { h.queueCount(A) == 0 && h.log(A).contains("expired after") && h.log(A).contains("refused") }, h.log(A))
        let expired = try h.journal(A).filter { $0["kind"] as? String == "expired" }
        for r in expired {
            // A code: the last error may quote a peer's answer, which never enters the journal.
            XCTAssertEqual(r["reason"] as? String, "max-lifetime", "\(r)")
            let id = try XCTUnwrap(r["msg"] as? String)
            XCTAssertTrue(FileManager.default.fileExists(atPath: h.a.layout.archive.appendingPathComponent("expired/\(B)/\(id).xml").path))
        }
        try h.start(B)
        usleep(1_000_000)
        XCTAssertTrue(h.inbox(B).isEmpty, "an expired message is never sent")
    }
}
