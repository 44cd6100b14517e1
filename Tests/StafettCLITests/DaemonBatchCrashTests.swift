import Foundation
import XCTest
@testable import StafettCLI
import StafettDaemon
import StafettModel
import StafettXML

private let A = Members.a.0
private let B = Members.b.0

/// Batches between two real `stafettd`, each killed (SIGKILL) while batches are on the wire:
/// nothing is lost and nothing is received or delivered twice.
final class DaemonBatchCrashTests: XCTestCase {
    func testKillingSenderAndReceiverMidBatchLosesAndDuplicatesNothing() throws {
        let count = 60
        let h = try DaemonHarness(members: [Members.a, Members.b]) { _, config in config.delivery.batch = 4 }
        try h.start(B)
        try h.start(A)
        // One message first, so A has heard B offer batches.
        let warm = "BW-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: warm, count: 1), as: "\(warm).csv", into: A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "delivered", casePrefix: warm).count == 1 }, h.log(A))

        // A backlog while B is down, then both sides die in turn while it drains.
        h.stop(B)
        let tag = "BCR-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: count), as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "queued", casePrefix: tag).count == count }, h.log(A))
        try h.start(B)
        XCTAssertTrue(try h.wait(20) { try h.journaled(B, kind: "received", casePrefix: tag).count >= 1 }, h.log(B))
        h.kill9(A)
        let afterSenderCrash = try h.journaled(B, kind: "received", casePrefix: tag).count
        try h.start(A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(B, kind: "received", casePrefix: tag).count > afterSenderCrash }, h.log(B))
        h.kill9(B)
        try h.start(B)
        let drained = try h.wait(60) { try h.journaled(A, kind: "delivered", casePrefix: tag).count >= count && h.queueCount(A) == 0 }
        let deliveredSoFar = try h.journaled(A, kind: "delivered", casePrefix: tag).count
        XCTAssertTrue(drained, "delivered \(deliveredSoFar) of \(count)\n" + h.log(A))

        let queued = try h.journaled(A, kind: "queued", casePrefix: tag)
        let delivered = try h.journaled(A, kind: "delivered", casePrefix: tag)
        let received = try h.journaled(B, kind: "received", casePrefix: tag)
        XCTAssertEqual(Set(queued).count, count)
        XCTAssertEqual(delivered.sorted(), queued.sorted(), "each delivered exactly once, none lost")
        XCTAssertEqual(received.sorted(), queued.sorted(), "each received exactly once, none twice")
        XCTAssertEqual(h.inbox(B).count, count + 1)
        XCTAssertEqual(try h.journaled(A, kind: "rejected", casePrefix: tag), [])

        // `stafett receipt ID` for a message delivered in a batch: the batch receipt covering it, signed by B.
        // Not every delivery is batched: a sender that has just restarted sends singly until it hears B
        // offer batches again, so look back from the end for one that was.
        let withReceipts = try h.journal(A).filter { $0["kind"] as? String == "delivered" && $0["rdigest"] != nil
                                                     && (($0["case"] as? String) ?? "").hasPrefix(tag) }
        var found: (id: String, printed: Data, batch: BatchReceipt)?
        for record in withReceipts.reversed() {
            let id = try XCTUnwrap(record["msg"] as? String)
            let printed = try h.receipt(of: id, heldBy: A)
            if let batch = try? BatchReceiptXML.decode(SchemaValidator.receipt.parseAndValidate(printed)) {
                found = (id, printed, batch)
                break
            }
        }
        let (id, printed, batch) = try XCTUnwrap(found, "no message of \(withReceipts.count) was delivered in a batch")
        XCTAssertEqual(batch.receipt(for: try MessageID(id))?.status, .accepted)
        let file = h.root.appendingPathComponent("batch-receipt.xml")
        try printed.write(to: file)
        let verified = try h.cli.run(["verify", "--cert", h.b.tls("signing.crt"), file.path])
        XCTAssertEqual(verified.code, 0, verified.out + verified.err)

        h.stop(A)
        h.stop(B)
        for (name, node) in [(A, h.a), (B, h.b)] {
            let verify = try h.cli.run(["journal", "verify", "--journal", node.layout.journal.path, "--cert", node.tls("signing.crt")])
            XCTAssertEqual(verify.code, 0, "\(name): " + verify.out + verify.err)
        }
    }
}
