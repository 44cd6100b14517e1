import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML
@testable import StafettDaemon

/// The delivery scheduler against a real receiver (or a stand-in peer) over mutual TLS on 127.0.0.1.
final class DeliveryTests: XCTestCase {
    /// A sender whose message id the receiver already accepted with other content (its earlier
    /// installation sent it; its state was lost) gets `duplicate-id` once, journals it as rejected
    /// with the reason, takes it out of the queue and never tries again.
    func testADuplicateIdRejectionIsFinal() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()
        net.configurePeers(of: a)

        let earlier = try a.seal(a.message("reuse-2", to: b, place: "Trelleborg"))
        XCTAssertEqual(try a.post(earlier.signedXML, to: b).status, 200)
        XCTAssertEqual(b.inbox().count, 1)

        try a.startSender()
        var other = earlier.message
        other.event.place = "Malmö"
        let reused = try a.seal(other)
        try a.enqueue(reused, for: b)

        XCTAssertTrue(waitUntil(10) { a.queueFiles().isEmpty }, "still queued: \(a.queueFiles())\n\(a.logs.text)")
        let outcome = try a.journalEntries().filter { $0.messageId == "reuse-2" }
        XCTAssertEqual(outcome.map(\.kind), [.rejected], "one final outcome, never delivered")
        let rejected = try XCTUnwrap(outcome.first)
        XCTAssertEqual(rejected.status, "rejected")
        XCTAssertTrue(rejected.reason?.hasPrefix("duplicate-id: message id reuse-2 already used for different content") ?? false,
                      rejected.reason ?? "no reason")
        XCTAssertEqual(rejected.digest, reused.digest)
        XCTAssertEqual(rejected.caseRef, "TBG-reuse-2")
        // The peer's signed rejection is the sender's evidence (`stafett receipt ID`).
        let receipt = try ReceiptXML.read(Data(try XCTUnwrap(rejected.receipt).utf8))
        XCTAssertEqual(receipt.reason, .duplicateId)
        XCTAssertEqual(receipt.issuer, b.organisation)
        XCTAssertEqual(try Data(contentsOf: a.layout.archive.appendingPathComponent("migrationsverket/reuse-2.xml")), reused.signedXML)
        XCTAssertTrue(a.logs.text.contains("was rejected: duplicate-id"), a.logs.text)

        // Several back-off periods (50–200 ms) later: no second attempt, no retry state, the inbox as it was.
        usleep(600_000)
        XCTAssertEqual(b.metrics.value("stafett_received_total", labels: ["status": "rejected", "reason": "duplicate-id"]), 1)
        XCTAssertNil(a.metrics.value("stafett_delivery_failures_total", labels: ["peer": "migrationsverket"]))
        XCTAssertEqual(a.metrics.value("stafett_delivered_total", labels: ["peer": "migrationsverket", "status": "rejected"]), 1)
        XCTAssertTrue(a.queueFiles().isEmpty)
        XCTAssertEqual(try Data(contentsOf: b.layout.inbox.appendingPathComponent("\(a.organisation.digits)_reuse-2.xml")),
                       earlier.signedXML)
    }
}
