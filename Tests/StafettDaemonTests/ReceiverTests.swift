import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML
@testable import StafettDaemon

/// The receiver over real mutual TLS on 127.0.0.1: duplicates, reused message ids, and what it
/// remembers of the messages it accepted.
final class ReceiverTests: XCTestCase {
    /// Verifies a receipt with the issuer's signing certificate only, and checks it against the schema.
    func verifiedReceipt(_ body: Data, from issuer: TestNode, file: StaticString = #filePath, line: UInt = #line) throws -> Receipt {
        let doc = try XMLDocument.parse(body)
        try SchemaValidator.receipt.validate(doc)
        _ = try XMLSignature.verify(doc, trustingAnyOf: [Certificate.load(path: issuer.signingCertPath)])
        return try ReceiptXML.decode(doc)
    }

    /// Same sender, same id, other signed content: a signed `duplicate-id` rejection, the inbox and
    /// the original receipt untouched; the same content sent again is still a duplicate. Both hold
    /// after a restart, when the receiver knows the accepted digest only from its journal.
    func testAnIdReusedForOtherContentIsRejectedAndTheInboxKept() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()

        let first = try a.seal(a.message("reuse-1", to: b, place: "Trelleborg"))
        let answer = try a.post(first.signedXML, to: b)
        XCTAssertEqual(answer.status, 200, String(decoding: answer.body, as: UTF8.self))
        let accepted = try verifiedReceipt(answer.body, from: b)
        XCTAssertEqual(accepted.status, .accepted)
        XCTAssertEqual(accepted.digest, first.digest)
        let inboxFile = b.layout.inbox.appendingPathComponent("\(a.organisation.digits)_reuse-1.xml")
        XCTAssertEqual(try Data(contentsOf: inboxFile), first.signedXML)

        // The same content signed again (ECDSA signatures differ each time): a retry, not a reuse.
        let resigned = try a.seal(first.message)
        XCTAssertNotEqual(resigned.signedXML, first.signedXML)
        XCTAssertEqual(resigned.digest, first.digest)
        let again = try a.post(resigned.signedXML, to: b)
        XCTAssertEqual(again.headers["Stafett-Duplicate"], "yes")
        XCTAssertEqual(again.body, answer.body, "a duplicate gets the original receipt")

        var other = first.message
        other.event.place = "Malmö"
        let reused = try a.seal(other)
        XCTAssertNotEqual(reused.digest, first.digest)

        func checkRefused(_ response: HTTPResponse, file: StaticString = #filePath, line: UInt = #line) throws {
            XCTAssertEqual(response.status, 200, file: file, line: line)
            XCTAssertNil(response.headers["Stafett-Duplicate"], file: file, line: line)
            let r = try verifiedReceipt(response.body, from: b)
            XCTAssertEqual(r.status, .rejected, file: file, line: line)
            XCTAssertEqual(r.reason, .duplicateId, file: file, line: line)
            XCTAssertEqual(r.refToMessageId?.rawValue, "reuse-1", file: file, line: line)
            XCTAssertEqual(r.addressee, a.organisation, file: file, line: line)
            XCTAssertNil(r.digest, file: file, line: line)
            let detail = r.detail ?? ""
            XCTAssertTrue(detail.contains("already used for different content") && detail.contains(first.digest)
                          && detail.contains(reused.digest), detail, file: file, line: line)
            // Nothing of the refused content reached the inbox.
            XCTAssertEqual(b.inbox(), ["\(a.organisation.digits)_reuse-1.xml"], file: file, line: line)
            XCTAssertEqual(try Data(contentsOf: inboxFile), first.signedXML, file: file, line: line)
        }
        try checkRefused(try a.post(reused.signedXML, to: b))

        // A restart: what was accepted, and under which digest, now comes from the journal alone.
        b.stopServer()
        try b.startReceiver()
        try checkRefused(try a.post(reused.signedXML, to: b))
        let afterRestart = try a.post(resigned.signedXML, to: b)
        XCTAssertEqual(afterRestart.headers["Stafett-Duplicate"], "yes")
        XCTAssertEqual(afterRestart.body, answer.body)

        let journal = try b.journalEntries().filter { $0.messageId == "reuse-1" }
        XCTAssertEqual(journal.filter { $0.kind == .received }.count, 1)
        let refused = journal.filter { $0.kind == .refused }
        XCTAssertEqual(refused.count, 2)
        XCTAssertEqual(Set(refused.map(\.reason)), ["duplicate-id"])
        XCTAssertEqual(Set(refused.map(\.digest)), [reused.digest], "the refused content's digest is on record")
        XCTAssertEqual(b.metrics.value("stafett_received_total", labels: ["status": "rejected", "reason": "duplicate-id"]), 2)
    }
}
