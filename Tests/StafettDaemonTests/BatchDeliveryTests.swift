import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML
@testable import StafettDaemon
import StafettSignature

/// The sender's side of batches, against a real receiver over mutual TLS on 127.0.0.1.
final class BatchDeliveryTests: XCTestCase {
    /// A backlog goes out in few requests once the peer has offered batches; each message is
    /// settled on its own, its record naming the one archived batch receipt that covers it.
    /// A message due alone afterwards goes out at once, alone.
    func testABacklogGoesOutInBatchesAndEachMessageIsSettledOnItsOwn() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        let gate = try net.gatedReceiverAndSender()
        let sealed = try (0..<30).map { try a.seal(a.message("bl-\($0)", to: b)) }
        try a.enqueue(sealed[0], for: b)
        XCTAssertTrue(gate.waitForRequests(1, timeout: 10), a.logs.text)
        for s in sealed.dropFirst() { try a.enqueue(s, for: b) }
        gate.open()
        XCTAssertTrue(waitUntil(20) { a.queueFiles().isEmpty }, "still queued: \(a.queueFiles())\n\(a.logs.text)")

        let delivered = try a.journalEntries().filter { $0.kind == .delivered }
        XCTAssertEqual(delivered.compactMap(\.messageId).sorted(), sealed.map(\.message.header.messageId.rawValue).sorted())
        XCTAssertLessThanOrEqual(gate.requests, 6, "30 messages in a few requests")
        let inBatches = try delivered.filter { r in
            try BatchReceiptArchive.read(digest: try XCTUnwrap(r.receiptDigest), archive: a.layout.archivePath) != nil
        }
        XCTAssertGreaterThanOrEqual(inBatches.count, 20, "most went in batches")
        XCTAssertLessThanOrEqual(Set(inBatches.compactMap(\.receiptDigest)).count, 5, "each batch receipt archived once")
        let certificate = try Certificate.load(path: b.signingCertPath)
        for record in inBatches {
            XCTAssertNil(record.receipt, "a batch receipt is archived, not copied into the record")
            let signed = try ArchivedReceipt.read(for: record, archive: a.layout.archivePath)
            let doc = try XMLDocument.parse(signed)
            _ = try XMLSignature.verify(doc, trustingAnyOf: [certificate])
            let receipt = try XCTUnwrap(try BatchReceiptXML.decode(doc).receipt(for: try MessageID(try XCTUnwrap(record.messageId))))
            XCTAssertEqual(receipt.status, .accepted)
            XCTAssertEqual(receipt.digest, record.digest)
        }
        XCTAssertEqual(try b.journalEntries().filter { $0.kind == .received }.count, 30, "each received once")
        XCTAssertEqual(b.inbox().count, 30)
        XCTAssertEqual(b.metrics.value("stafett_received_duplicates_total"), nil)

        // Alone in the queue: sent at once, as a single message, not held back for a batch to fill.
        let before = gate.requests
        let started = Date()
        try a.enqueue(try a.seal(a.message("alone", to: b)), for: b)
        XCTAssertTrue(try waitUntil(10) { try a.journalEntries().contains { $0.messageId == "alone" && $0.kind == .delivered } })
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertEqual(gate.requests, before + 1)
        let alone = try XCTUnwrap(try a.journalEntries().last { $0.messageId == "alone" })
        XCTAssertEqual(try ReceiptXML.read(ArchivedReceipt.read(for: alone, archive: a.layout.archivePath)).refToMessageId?.rawValue, "alone",
                       "a single receipt, archived as before")
        a.shutdown()
        b.shutdown()
    }

    /// A peer that does not offer batches (an older node) gets one message per request; one that
    /// offers them but reads a batch as one message (answering with a single rejected receipt) is
    /// not believed again, and nothing is rejected on its account.
    func testPeersThatDoNotTakeBatchesGetOneMessagePerRequest() throws {
        for offers in [false, true] {
            let net = try TestNetwork()
            let (a, b) = (net.a, net.b)
            net.configureAllPeers()
            try b.startReceiver()
            let receiver = try XCTUnwrap(b.receiver)
            b.stopServer()
            let seen = ContentTypes()
            let gate = GatedPeer { request, identity in
                seen.add(request.headers["Content-Type"] ?? "")
                // The older node: every body is one message, and no offer unless a proxy adds one.
                var r = receiver.receive(request.body, from: identity)
                if offers { r.headers.set(BatchFraming.offerHeader, "max=10") }
                return r
            }
            try b.serve(gate.handle)
            net.configurePeers(of: a)
            try a.startSender()
            let sealed = try (0..<12).map { try a.seal(a.message("old-\($0)", to: b)) }
            try a.enqueue(sealed[0], for: b)
            XCTAssertTrue(gate.waitForRequests(1, timeout: 10))
            for s in sealed.dropFirst() { try a.enqueue(s, for: b) }
            gate.open()
            XCTAssertTrue(waitUntil(20) { a.queueFiles().isEmpty }, "still queued: \(a.queueFiles())\n\(a.logs.text)")
            let outcomes = try a.journalEntries().filter { $0.kind == .delivered || $0.kind == .rejected }
            XCTAssertEqual(outcomes.filter { $0.kind == .delivered }.count, 12, "offers: \(offers)\n\(a.logs.text)")
            XCTAssertTrue(try outcomes.allSatisfy { try ReceiptXML.read(ArchivedReceipt.read(for: $0, archive: a.layout.archivePath)).status == .accepted })
            XCTAssertEqual(seen.values.filter(BatchFraming.isBatch).count, offers ? 1 : 0, "\(seen.values)")
            a.shutdown()
            b.shutdown()
        }
    }

    /// The settler takes every receipt waiting into one commit round: the room for receipts
    /// waiting must hold many full batches, or one batch's receipts fill it and every other
    /// worker waits for that round's flushes before it can take its next messages.
    func testReceiptsOfManyFullBatchesMayWaitForOneSettle() {
        let batch = StafettConfig.Delivery().batch
        XCTAssertGreaterThanOrEqual(DeliveryScheduler.settleSlotCount, 16 * batch,
                                    "sixteen connections' full batches (e2e's setting) wait for one settle without blocking")
    }
}

/// Content types of the requests a stand-in peer saw.
final class ContentTypes: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String] = []
    func add(_ v: String) { lock.withLock { seen.append(v) } }
    var values: [String] { lock.withLock { seen } }
}
