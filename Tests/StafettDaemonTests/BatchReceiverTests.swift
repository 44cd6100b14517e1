import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML
@testable import StafettDaemon

/// A verified batch receipt (`verifiedReceiptDocument`).
func verifiedBatchReceipt(_ body: Data, from issuer: TestNode) throws -> BatchReceipt {
    try BatchReceiptXML.decode(verifiedReceiptDocument(body, from: issuer))
}

extension TestNode {
    /// POSTs `messages` to `peer` as one framed batch over mutual TLS with this node's identity.
    func postBatch(_ messages: [Data], to peer: TestNode) throws -> HTTPResponse {
        try post(BatchFraming.encode(messages), to: peer, contentType: BatchFraming.contentType)
    }
}

/// The receiver's side of batches, over real mutual TLS on 127.0.0.1: each message checked,
/// journaled and answered on its own inside one signed batch receipt.
final class BatchReceiverTests: XCTestCase {

    /// Five messages, the middle one with a broken signature: the four others are accepted, in the
    /// inbox and journaled; the bad one is refused; one receipt, archived once, answers all five.
    func testABadMessageInTheMiddleFailsOnlyItself() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()

        let sealed = try (0..<5).map { try a.seal(a.message("batch-\($0)", to: b)) }
        var frames = sealed.map(\.signedXML)
        var tampered = String(decoding: frames[2], as: UTF8.self)
        tampered = tampered.replacingOccurrences(of: "Trelleborg", with: "Tralleborg")
        frames[2] = Data(tampered.utf8)

        let answer = try a.postBatch(frames, to: b)
        XCTAssertEqual(answer.status, 200, String(decoding: answer.body, as: UTF8.self))
        XCTAssertEqual(answer.headers[BatchFraming.offerHeader], "max=\(b.config.limits.maxBatch)")
        let receipt = try verifiedBatchReceipt(answer.body, from: b)
        XCTAssertEqual(receipt.issuer, b.organisation)
        XCTAssertEqual(receipt.addressee, a.organisation)
        XCTAssertEqual(receipt.entries.count, 5)
        for (i, e) in receipt.entries.enumerated() {
            XCTAssertEqual(e.refToMessageId, sealed[i].message.header.messageId)
            XCTAssertEqual(e.receivedDigest, SHA256.hash(frames[i]).base64EncodedString(), "entry \(i) names what was received")
            if i == 2 {
                XCTAssertEqual(e.status, .rejected)
                XCTAssertEqual(e.reason, .signature)
                XCTAssertNil(e.digest)
            } else {
                XCTAssertEqual(e.status, .accepted)
                XCTAssertEqual(e.digest, sealed[i].digest)
            }
        }
        XCTAssertEqual(b.inbox(), [0, 1, 3, 4].map { "\(a.organisation.digits)_batch-\($0).xml" })
        let records = try b.journalEntries()
        XCTAssertEqual(records.filter { $0.kind == .received }.compactMap(\.messageId).sorted(), ["batch-0", "batch-1", "batch-3", "batch-4"])
        XCTAssertEqual(records.filter { $0.kind == .refused }.compactMap(\.messageId), ["batch-2"])
        let digest = BatchReceiptArchive.digest(of: answer.body)
        XCTAssertEqual(Set(records.compactMap(\.receiptDigest)), [digest], "every record names the one archived receipt")
        XCTAssertTrue(records.allSatisfy { $0.receipt == nil }, "the batch receipt is not copied into each record")
        XCTAssertEqual(try BatchReceiptArchive.read(digest: digest, archive: b.layout.archivePath), answer.body)
        b.shutdown()
    }

    /// A message already accepted, the same message twice in one batch, and an id reused for other
    /// content: answered exactly as single messages would be, nothing stored twice. A single resend
    /// afterwards gets the batch receipt that covers it, also after a restart.
    func testDuplicatesInsideABatch() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()

        let first = try a.seal(a.message("dup-0", to: b))
        XCTAssertEqual(try verifiedReceipt(try a.post(first.signedXML, to: b).body, from: b).status, .accepted)
        let second = try a.seal(a.message("dup-1", to: b))
        var reusedMessage = first.message
        reusedMessage.event.place = "Malmö"
        let reused = try a.seal(reusedMessage)
        let resigned = try a.seal(first.message)

        let answer = try a.postBatch([resigned.signedXML, second.signedXML, second.signedXML, reused.signedXML], to: b)
        XCTAssertEqual(answer.status, 200, String(decoding: answer.body, as: UTF8.self))
        let entries = try verifiedBatchReceipt(answer.body, from: b).entries
        XCTAssertEqual(entries.map(\.status), [.accepted, .accepted, .accepted, .rejected])
        XCTAssertEqual(entries.map(\.digest), [first.digest, second.digest, second.digest, reused.digest])
        XCTAssertEqual(entries[3].reason, .duplicateId)
        let records = try b.journalEntries()
        XCTAssertEqual(records.filter { $0.kind == .received }.compactMap(\.messageId), ["dup-0", "dup-1"])
        XCTAssertEqual(records.filter { $0.kind == .refused }.map(\.reason), ["duplicate-id"])
        XCTAssertEqual(try Data(contentsOf: b.layout.inbox.appendingPathComponent("\(a.organisation.digits)_dup-0.xml")), first.signedXML)

        let resend = try a.post(second.signedXML, to: b)
        XCTAssertEqual(resend.headers["Stafett-Duplicate"], "yes")
        XCTAssertEqual(resend.body, answer.body, "a single resend gets the batch receipt that covers it")

        b.stopServer()
        try b.startReceiver()
        let afterRestart = try a.post(second.signedXML, to: b)
        XCTAssertEqual(afterRestart.headers["Stafett-Duplicate"], "yes")
        XCTAssertEqual(afterRestart.body, answer.body, "read from the archive the journal record names")
        XCTAssertEqual(try b.journalEntries().filter { $0.kind == .received }.count, 2)
        b.shutdown()
    }

    /// A body that cannot be split into messages is refused as a whole, before any message is
    /// looked at; more messages than offered likewise. A single message (curl) is still taken,
    /// and every answer offers batches.
    func testUnreadableBatchesAreRefusedAndSingleMessagesStillWork() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        b.config.limits.maxBatch = 3
        try b.startReceiver()
        let m = try a.seal(a.message("single-0", to: b))

        var broken = BatchFraming.encode([m.signedXML])
        broken.removeLast()
        for body in [broken, Data("0\n\n".utf8), Data(), BatchFraming.encode([m.signedXML]) + Data("x".utf8)] {
            let r = try a.post(body, to: b, contentType: BatchFraming.contentType)
            XCTAssertEqual(r.status, 400)
        }
        XCTAssertEqual(try a.postBatch(Array(repeating: m.signedXML, count: 4), to: b).status, 400)
        XCTAssertTrue(try b.journalEntries().isEmpty, "nothing of an unreadable batch is journaled")

        let single = try a.post(m.signedXML, to: b)
        XCTAssertEqual(single.status, 200)
        XCTAssertEqual(single.headers[BatchFraming.offerHeader], "max=3")
        XCTAssertEqual(try verifiedReceipt(single.body, from: b).status, .accepted)
        b.shutdown()
    }

    /// xmlsec1, trusting only the receiver's signing certificate, verifies a batch receipt (one
    /// with rejections, signed through the tree, and one of acceptances only, signed as text).
    func testXmlsec1VerifiesABatchReceipt() throws {
        let xmlsec = "/usr/bin/xmlsec1"
        guard FileManager.default.isExecutableFile(atPath: xmlsec) else {
            throw XCTSkip("\(xmlsec) is not installed (Debian package xmlsec1): cannot check batch receipts with it")
        }
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()
        let good = try (0..<2).map { try a.seal(a.message("x-\($0)", to: b)).signedXML }
        for (name, frames) in [("mixed", good + [Data("<not-xml".utf8)]), ("accepted", try (2..<4).map { try a.seal(a.message("x-\($0)", to: b)).signedXML })] {
            let answer = try a.postBatch(frames, to: b)
            XCTAssertEqual(answer.status, 200)
            let file = net.root.appendingPathComponent("batch-receipt-\(name).xml")
            try answer.body.write(to: file)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: xmlsec)
            p.arguments = ["--verify", "--pubkey-cert-pem", b.signingCertPath, "--enabled-key-data", "key-name",
                           "--enabled-reference-uris", "empty", file.path]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = Pipe()
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "\(name): " + String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        b.shutdown()
    }
}
