import Foundation
import XCTest
@testable import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettSignature
import StafettXML

/// Acceptance tests against two running `stafettd` (A = trelleborg sends, B = migrationsverket
/// receives, C = stockholm is configured but not running) that share one network: end to end,
/// curl, refusals and `/metrics`.
final class DaemonDeliveryTests: XCTestCase {
    nonisolated(unsafe) static var shared: DaemonHarness?
    nonisolated(unsafe) static var metricsPorts: [String: UInt16] = [:]
    var h: DaemonHarness { Self.shared! }
    let A = Members.a.0, B = Members.b.0, C = Members.c.0

    override func setUpWithError() throws {
        guard Self.shared == nil else { return }
        let ports = [Members.a.0: try DemoNetwork.freeLoopbackPort(), Members.b.0: try DemoNetwork.freeLoopbackPort()]
        let h = try DaemonHarness { name, config in
            if let port = ports[name] {
                config.metrics.enabled = true
                config.metrics.listen = HostPort(host: "127.0.0.1", port: port)
            }
        }
        Self.metricsPorts = ports
        try h.start(B)
        try h.start(A)
        Self.shared = h
    }

    override class func tearDown() {
        shared = nil  // stops both daemons and removes the network
        super.tearDown()
    }

    func cert(_ node: String) throws -> Certificate { try Certificate.load(path: h.node(node).tls("signing.crt")) }

    func inboxName(from sender: String, id: String) -> String { "\(h.node(sender).organisation.digits)_\(id).xml" }

    /// 1. An intake CSV dropped into A's outbox arrives in B's inbox; A journals queued and
    /// delivered (holding B's signed receipt, which verifies), archives the signed original, and
    /// the input moves to accepted/.
    func testIntakeFileIsDeliveredWithSignedReceipt() throws {
        let tag = "E2E-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: 3), as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(30) { try h.journaled(A, kind: "delivered", casePrefix: tag).count == 3 }, h.log(A))
        let queued = try h.journaled(A, kind: "queued", casePrefix: tag)
        let delivered = try h.journaled(A, kind: "delivered", casePrefix: tag)
        XCTAssertEqual(queued.count, 3)
        XCTAssertEqual(Set(queued), Set(delivered))

        let inbox = Set(h.inbox(B))
        let aCert = try cert(A), bCert = try cert(B)
        for id in queued {
            XCTAssertTrue(inbox.contains(inboxName(from: A, id: id)), "\(id) not in B's inbox")
            let received = try Data(contentsOf: h.b.layout.inbox.appendingPathComponent(inboxName(from: A, id: id)))
            XCTAssertNoThrow(try XMLSignature.verify(XMLDocument.parse(received), trusting: aCert), "inbox copy signed by A")

            let data = try h.receipt(of: id, heldBy: A)
            XCTAssertNoThrow(try XMLSignature.verify(XMLDocument.parse(data), trusting: bCert), "receipt signed by B")
            XCTAssertThrowsError(try XMLSignature.verify(XMLDocument.parse(data), trusting: aCert), "and not by anyone else")
            let receipt = try ReceiptXML.read(data)
            XCTAssertEqual(receipt.status, .accepted)
            XCTAssertEqual(receipt.refToMessageId?.rawValue, id)
            XCTAssertEqual(receipt.issuer, h.b.organisation)
            XCTAssertTrue(FileManager.default.fileExists(atPath: h.a.layout.archive.appendingPathComponent("\(B)/\(id).xml").path),
                          "the signed original is archived")
        }
        XCTAssertTrue(h.wait(5) { FileManager.default.fileExists(atPath: h.a.layout.accepted.appendingPathComponent("\(tag).csv").path) })
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.a.layout.outbox.appendingPathComponent("\(tag).csv").path))
        XCTAssertTrue(h.queue(A).filter { queued.contains($0.messageId.rawValue) }.isEmpty)
        XCTAssertEqual(try h.journaled(B, kind: "received").filter(queued.contains).count, 3)
    }

    /// 2. Any HTTPS client with a client certificate can submit: curl gets a signed receipt
    /// that `stafett verify` and xmlsec1 accept; a resend gets the same receipt, one inbox file.
    func testCurlSubmitsAndGetsTheSameReceiptTwice() throws {
        let id = UUID().uuidString.lowercased()
        let signed = try h.message(from: A, to: B, signedBy: A, id: id)
        let first = try h.post(signed, to: B, identity: h.tlsIdentity(A))
        XCTAssertEqual(first.exit, 0)
        XCTAssertEqual(first.http, 200, String(decoding: first.body, as: UTF8.self))
        let receipt = try ReceiptXML.read(first.body)
        XCTAssertEqual(receipt.status, .accepted)
        XCTAssertEqual(receipt.refToMessageId?.rawValue, id)
        XCTAssertEqual(receipt.digest, try ReceiptDigest.of(verified: XMLDocument.parse(signed)), "the receipt binds the exact message")

        let receiptPath = h.cli.path("receipt-\(id).xml")
        try first.body.write(to: URL(fileURLWithPath: receiptPath))
        let verify = try h.cli.run(["verify", "--cert", h.b.tls("signing.crt"), receiptPath])
        XCTAssertEqual(verify.code, 0, verify.out + verify.err)
        XCTAssertTrue(verify.out.contains("signature OK"), verify.out)
        let wrongKey = try h.cli.run(["verify", "--cert", h.a.tls("signing.crt"), receiptPath])
        XCTAssertEqual(wrongKey.code, ExitCode.invalid, "B's receipt does not verify with A's key")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/xmlsec1") {
            let (status, out) = try h.cli.tool("/usr/bin/xmlsec1", ["--verify", "--pubkey-cert-pem", h.b.tls("signing.crt"),
                                                                  "--enabled-key-data", "key-name", "--enabled-reference-uris", "empty", receiptPath])
            XCTAssertEqual(status, 0, out)
        }

        let second = try h.post(signed, to: B, identity: h.tlsIdentity(A))
        XCTAssertEqual(second.http, 200)
        XCTAssertEqual(second.body, first.body, "a duplicate gets the original receipt, byte for byte")
        XCTAssertEqual(h.inbox(B).filter { $0 == inboxName(from: A, id: id) }.count, 1)
        XCTAssertEqual(try h.journaled(B, kind: "received").filter { $0 == id }.count, 1, "journaled once")
    }

    /// The same message submitted eight times at once: one inbox file, one `received`, and every
    /// answer the same signed receipt.
    func testConcurrentDuplicatesGetOneReceipt() throws {
        let id = UUID().uuidString.lowercased()
        let signed = try h.message(from: A, to: B, signedBy: A, id: id)
        let answers = Answers(count: 8)
        let harness = h, identity = h.tlsIdentity(A), b = B
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            answers.set(i, try? harness.post(signed, to: b, identity: identity).body)
        }
        let bodies = answers.value.compactMap { $0 }
        XCTAssertEqual(bodies.count, 8)
        XCTAssertEqual(Set(bodies).count, 1, "every submission gets the one stored receipt")
        XCTAssertEqual(try ReceiptXML.read(bodies[0]).status, .accepted)
        XCTAssertEqual(h.inbox(B).filter { $0 == inboxName(from: A, id: id) }.count, 1)
        XCTAssertEqual(try h.journaled(B, kind: "received").filter { $0 == id }.count, 1)
    }

    /// 3. Refusals: no client certificate and another CA's certificate fail at TLS; a wrong
    /// sender, a bad signature and a schema-invalid message get rejected receipts signed by B.
    /// Nothing reaches the inbox.
    func testRefusedSubmissions() throws {
        let inboxBefore = Set(h.inbox(B))
        let bCert = try cert(B)

        let plainId = UUID().uuidString.lowercased()
        let noCert = try h.post(try h.message(from: A, to: B, signedBy: A, id: plainId), to: B, identity: nil)
        XCTAssertTrue(noCert.exit != 0 || noCert.http != 200, "without a client certificate: curl \(noCert.exit), HTTP \(noCert.http)")
        XCTAssertNil(try? ReceiptXML.read(noCert.body), "no receipt without a client certificate")

        let otherDir = h.root.appendingPathComponent("other-ca")
        let other = try DemoNetwork.create(in: otherDir, members: [Members.a, Members.b])
        let foreign = try h.post(try h.message(from: A, to: B, signedBy: A), to: B,
                                 identity: (other.node(A).tls("node.crt"), other.node(A).tls("node.key")))
        XCTAssertTrue(foreign.exit != 0 || foreign.http != 200, "another CA: curl \(foreign.exit), HTTP \(foreign.http)")
        XCTAssertNil(try? ReceiptXML.read(foreign.body), "no receipt for a certificate from another CA")

        func rejected(_ body: Data, _ reason: RejectionReason, id: String?, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try h.post(body, to: B, identity: h.tlsIdentity(A))
            XCTAssertEqual(r.http, 200, file: file, line: line)
            let receipt = try ReceiptXML.read(r.body)
            XCTAssertEqual(receipt.status, .rejected, file: file, line: line)
            XCTAssertEqual(receipt.reason, reason, receipt.detail ?? "", file: file, line: line)
            XCTAssertEqual(receipt.refToMessageId?.rawValue, id, file: file, line: line)
            XCTAssertEqual(receipt.issuer, h.b.organisation, file: file, line: line)
            XCTAssertNoThrow(try XMLSignature.verify(XMLDocument.parse(r.body), trusting: bCert), "rejection signed by B", file: file, line: line)
        }
        // A's TLS identity submitting in C's name (C is a configured peer of B, and signs it itself).
        let mismatchId = UUID().uuidString.lowercased()
        try rejected(try h.message(from: C, to: B, signedBy: C, id: mismatchId), .senderMismatch, id: mismatchId)

        // TLS 1.2 is refused unless the config allows it.
        let tls12 = try h.post(try h.message(from: A, to: B, signedBy: A), to: B, identity: h.tlsIdentity(A),
                               curlOptions: ["--tlsv1.2", "--tls-max", "1.2"])
        XCTAssertNotEqual(tls12.exit, 0, "TLS 1.2 must be refused: HTTP \(tls12.http)")

        // Addressed to C, submitted to B.
        let wrongId = UUID().uuidString.lowercased()
        try rejected(try h.message(from: A, to: C, signedBy: A, id: wrongId), .wrongRecipient, id: wrongId)

        // One character changed after signing.
        let tamperId = UUID().uuidString.lowercased()
        let signed = String(decoding: try h.message(from: A, to: B, signedBy: A, id: tamperId), as: UTF8.self)
        let tampered = signed.replacingOccurrences(of: "<GivenName>Amir Ali</GivenName>", with: "<GivenName>Amir Alo</GivenName>")
        XCTAssertNotEqual(tampered, signed)
        try rejected(Data(tampered.utf8), .signature, id: tamperId)

        // Not a case message at all by the schema.
        let invalid = Data(#"<CaseMessage xmlns="urn:stafett:case:1"><Header><MessageId>x</MessageId></Header></CaseMessage>"#.utf8)
        try rejected(invalid, .schema, id: nil)

        // Over the body limit (4 MiB by default): refused before the body is read, with a signed
        // too-large receipt (and 413), so a sender stops retrying at once.
        var huge = try h.message(from: A, to: B, signedBy: A)
        huge.append(Data(repeating: 0x20, count: (4 << 20) + 1 - huge.count + 1))
        let tooBig = try h.post(huge, to: B, identity: h.tlsIdentity(A))
        XCTAssertEqual(tooBig.http, 413)
        let bigReceipt = try ReceiptXML.read(tooBig.body)
        XCTAssertEqual(bigReceipt.status, .rejected)
        XCTAssertEqual(bigReceipt.reason, .tooLarge)
        XCTAssertNil(bigReceipt.refToMessageId, "the body was never read")
        XCTAssertEqual(bigReceipt.addressee, h.a.organisation, "addressed to the TLS identity")
        XCTAssertNoThrow(try XMLSignature.verify(XMLDocument.parse(tooBig.body), trusting: bCert), "signed by B")

        XCTAssertEqual(Set(h.inbox(B)), inboxBefore, "nothing refused reaches the inbox")
        let refused = try h.journal(B).filter { $0["kind"] as? String == "refused" }.compactMap { $0["reason"] as? String }
        for reason in ["sender-mismatch", "wrong-recipient", "signature", "schema", "too-large"] { XCTAssertTrue(refused.contains(reason), "refused \(reason) journaled") }
    }

    /// 7. `/metrics` on loopback shows deliveries on A and receptions on B.
    func testMetricsEndpoint() throws {
        let tag = "MET-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: 1), as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(30) { try h.journaled(A, kind: "delivered", casePrefix: tag).count == 1 }, h.log(A))
        let (aStatus, aText) = try h.httpGet(port: Self.metricsPorts[A]!, path: "/metrics")
        XCTAssertEqual(aStatus, 0, aText)
        XCTAssertTrue(aText.contains("# TYPE stafett_delivered_total counter"), aText)
        let line = try XCTUnwrap(aText.split(separator: "\n").first { $0.hasPrefix(#"stafett_delivered_total{peer="migrationsverket",status="accepted"}"#) })
        XCTAssertGreaterThanOrEqual(Int(line.split(separator: " ").last!) ?? 0, 1)
        XCTAssertTrue(aText.contains("stafett_intake_records_total"), aText)
        let (bStatus, bText) = try h.httpGet(port: Self.metricsPorts[B]!, path: "/metrics")
        XCTAssertEqual(bStatus, 0, bText)
        XCTAssertTrue(bText.contains(#"stafett_received_total{status="accepted"}"#), bText)
        let (_, notFound) = try h.cli.tool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(Self.metricsPorts[B]!)/other"])
        XCTAssertEqual(notFound, "404")
    }

    /// 8. The queue gauges follow the queue: once A's queue for B is empty on disk, `/metrics`
    /// says 0 within a second (they were once pushed on events, at most once a second, and a
    /// queue that emptied in the same second stayed at its old count until the next event).
    func testQueueGaugeIsZeroWithinASecondOfTheQueueEmptying() throws {
        let tag = "GAUGE-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: 3), as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(30) { try h.journaled(A, kind: "queued", casePrefix: tag).count == 3 }, h.log(A))
        XCTAssertTrue(h.wait(30) { !h.queue(A).contains { $0.peer == B } }, h.log(A))
        let series = #"stafett_queue_messages{peer="migrationsverket"}"#
        func gauge() throws -> Int? {
            let (status, text) = try h.httpGet(port: Self.metricsPorts[A]!, path: "/metrics")
            XCTAssertEqual(status, 0, text)
            return text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Int($0.split(separator: " ").last!) }
        }
        let zero = try h.wait(1) { try gauge() == 0 }
        let last = try gauge()
        XCTAssertTrue(zero, "\(series) is \(last.map(String.init) ?? "missing") a second after the queue emptied")
    }
}
