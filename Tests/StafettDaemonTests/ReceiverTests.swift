import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML
@testable import StafettDaemon
import StafettSignature

/// Verifies a receipt (single or batch) with the issuer's signing certificate only, and checks it against the schema.
func verifiedReceiptDocument(_ body: Data, from issuer: TestNode) throws -> XMLDocument {
    let doc = try XMLDocument.parse(body)
    try SchemaValidator.receipt.validate(doc)
    _ = try XMLSignature.verify(doc, trustingAnyOf: [Certificate.load(path: issuer.signingCertPath)])
    return doc
}

/// A verified single receipt (`verifiedReceiptDocument`).
func verifiedReceipt(_ body: Data, from issuer: TestNode) throws -> Receipt {
    try ReceiptXML.decode(verifiedReceiptDocument(body, from: issuer))
}

/// The receiver over real mutual TLS on 127.0.0.1: duplicates, reused message ids, and what it
/// remembers of the messages it accepted.
final class ReceiverTests: XCTestCase {

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

    /// The inbox never holds a message the journal lacks: a message is staged, journaled, then
    /// named. What a crash left staged is finished at start if it was journaled, else removed.
    func testStagedMessagesAreFinishedOrRemovedAtStart() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()
        let sent = try a.seal(try a.message("staged-1", to: b))
        XCTAssertEqual(try verifiedReceipt(try a.post(sent.signedXML, to: b).body, from: b).status, .accepted)
        let inbox = b.layout.inboxPath
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: inbox).sorted(),
                       ["\(a.organisation.digits)_staged-1.xml"], "no stage file left after a receipt")
        b.stopServer()

        // As a crash leaves it: journaled but not yet named, and staged but never journaled.
        let journaled = "\(a.organisation.digits)_staged-1.xml"
        try FileManager.default.moveItem(atPath: SpoolLayout.join(inbox, journaled), toPath: SpoolLayout.join(inbox, ".\(journaled).stage"))
        let orphan = ".\(a.organisation.digits)_never-1.xml.stage"
        try Data("x".utf8).write(to: URL(fileURLWithPath: SpoolLayout.join(inbox, orphan)))
        let window = try Receiver.acceptedMessages(journal: b.layout.journal, since: Date().addingTimeInterval(-3600))
        let recovered = try b.layout.recoverStagedInbox(accepted: window)
        XCTAssertEqual(recovered.finished, [journaled])
        XCTAssertEqual(recovered.removed, [orphan])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: inbox).sorted(), [journaled])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: SpoolLayout.join(inbox, journaled))), sent.signedXML)
    }

    /// A duplicate's receipt is read from the journal record the accepted window names, and found
    /// by a scan if that record is not where the window says.
    func testADuplicatesReceiptIsReadFromTheRecordTheWindowNames() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()
        var receipts: [String: Data] = [:]
        for i in 0..<5 {
            let id = "seek-\(i)"
            receipts[id] = try a.post(try a.seal(try a.message(id, to: b)).signedXML, to: b).body
        }
        let window = try Receiver.acceptedMessages(journal: b.layout.journal, since: Date().addingTimeInterval(-3600))
        let receiver = try XCTUnwrap(b.receiver)
        for i in 0..<5 {
            let id = try MessageID("seek-\(i)")
            let entry = try XCTUnwrap(window["\(a.organisation.digits)/seek-\(i)"])
            let seq = try XCTUnwrap(entry.sequence)
            XCTAssertEqual(try receiver.originalReceipt(sender: a.organisation, id: id, at: seq), receipts[id.rawValue])
            XCTAssertEqual(try receiver.originalReceipt(sender: a.organisation, id: id, at: seq + 100), receipts[id.rawValue],
                           "a hint past the record falls back to a scan")
        }
        XCTAssertNil(try receiver.originalReceipt(sender: b.organisation, id: try MessageID("seek-0"), at: nil))
    }

    /// A message refused before its signature verified is journaled with the TLS peer, the id and
    /// the reason only: none of its claimed identifiers, which follow-up would join cases by.
    func testUnverifiedContentNeverReachesTheJournal() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()

        var claim = try a.message("forged-1", to: b)
        claim.child.identifiers.dossierNumber = "15-777777"
        let sealed = try a.seal(claim)
        let tampered = Data(String(decoding: sealed.signedXML, as: UTF8.self)
            .replacingOccurrences(of: ">Trelleborg<", with: ">Malmö<").utf8)
        XCTAssertNotEqual(tampered, sealed.signedXML, "the test must change signed content")
        let badSignature = try verifiedReceipt(try a.post(tampered, to: b).body, from: b)
        XCTAssertEqual(badSignature.reason, .signature)

        // Addressed to another organisation: refused before the signature is looked at.
        let elsewhere = try a.seal(try a.message("forged-2", to: a))
        XCTAssertEqual(try verifiedReceipt(try a.post(elsewhere.signedXML, to: b).body, from: b).reason, .wrongRecipient)

        let refused = try b.journalEntries().filter { $0.kind == .refused }
        XCTAssertEqual(Set(refused.compactMap(\.messageId)), ["forged-1", "forged-2"])
        for e in refused {
            XCTAssertEqual(e.sender, a.organisation.digits, "the sender is who spoke over TLS")
            XCTAssertNil(e.intakeId)
            XCTAssertNil(e.dossierNumber)
            XCTAssertNil(e.personKey)
            XCTAssertNil(e.caseRef)
            XCTAssertNil(e.eventType)
        }
        XCTAssertEqual(b.inbox(), [])
    }

    /// A peer's signing certificate is checked against the time each message arrives: an expired
    /// one listed beside the current (a rotation) does not stop the node, and once the current
    /// one has expired too, messages are refused with a reason that says so.
    func testSigningCertificatesAreValidWhenTheMessageArrives() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        let old = try net.ca.issueNode(NodeIdentity(organisationName: "Test old", organisationNumber: a.organisation, host: "localhost"),
                                       notBefore: Date().addingTimeInterval(-400 * 86400), notAfter: Date().addingTimeInterval(-35 * 86400))
        let oldPath = a.directory.appendingPathComponent("tls/old-signing.crt").path
        try old.certificate.write(to: oldPath)
        let i = try XCTUnwrap(b.config.peers.firstIndex { $0.organisation == a.organisation })
        b.config.peers[i].signingCerts.insert(oldPath, at: 0)
        let rt = try b.runtime()
        XCTAssertTrue(rt.warnings.contains { $0.contains("old-signing.crt") && $0.contains("not now") }, "\(rt.warnings)")

        try b.startReceiver()
        let today = try verifiedReceipt(try a.post(try a.seal(try a.message("valid-1", to: b)).signedXML, to: b).body, from: b)
        XCTAssertEqual(today.status, .accepted)
        b.stopServer()

        try b.startReceiver(now: { Date().addingTimeInterval(2 * 365 * 86400) })
        let later = try verifiedReceipt(try a.post(try a.seal(try a.message("valid-2", to: b)).signedXML, to: b).body, from: b)
        XCTAssertEqual(later.status, .rejected)
        XCTAssertEqual(later.reason, .signature)
        XCTAssertTrue(later.detail?.contains("not valid now") == true, later.detail ?? "")
        XCTAssertEqual(b.inbox(), ["\(a.organisation.digits)_valid-1.xml"])
    }
}

/// What the receiver remembers of accepted messages stays within the duplicate window while it runs.
final class AcceptedWindowTests: XCTestCase {
    let window = Receiver.duplicateWindow(maxLifetime: 72 * 3600)

    /// Accepted messages older than the window are forgotten as new requests arrive; fresh ones,
    /// and their digests, are kept; a restart reads the same from the journal.
    func testMessagesOlderThanTheWindowAreForgottenWhileRunning() throws {
        XCTAssertEqual(window, 144 * 3600, "twice the 72 h lifetime")
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        let clock = TestClock()
        try b.startReceiver(now: { clock.now })
        let receiver = try XCTUnwrap(b.receiver)
        func key(_ id: String) -> String { "\(a.organisation.digits)/\(id)" }
        var sent: [String: CaseMessage] = [:]
        func send(_ id: String, place: String = "Trelleborg") throws -> HTTPResponse {
            let m = try a.message(id, to: b, place: place)
            sent[id] = m
            return try a.post(try a.seal(m).signedXML, to: b)
        }

        XCTAssertEqual(try send("old-1").status, 200)
        clock.advance(window - 3600)  // old-1 is an hour from leaving the window
        XCTAssertEqual(try send("fresh-1").status, 200)
        XCTAssertEqual(receiver.rememberedKeys, [key("old-1"), key("fresh-1")])
        // Still inside the window: other content under old-1 is a reused id.
        XCTAssertEqual(try ReceiptXML.read(send("old-1", place: "Malmö").body).reason, .duplicateId)

        clock.advance(3600 + 1)  // old-1 is now past the window, fresh-1 an hour inside it
        XCTAssertEqual(try send("fresh-2").status, 200)
        XCTAssertEqual(receiver.rememberedKeys, [key("fresh-1"), key("fresh-2")])
        // fresh-1 still answers a resend (the same content, signed again) with its original receipt.
        let resend = try a.post(try a.seal(XCTUnwrap(sent["fresh-1"])).signedXML, to: b)
        XCTAssertEqual(resend.headers["Stafett-Duplicate"], "yes")
        XCTAssertEqual(try ReceiptXML.read(resend.body).status, .accepted)

        // A restart at the same moment remembers exactly the same, from the journal's times.
        b.stopServer()
        try b.startReceiver(now: { clock.now })
        XCTAssertEqual(try XCTUnwrap(b.receiver).rememberedKeys, [key("fresh-1"), key("fresh-2")])
    }

    /// Past the window the id is forgotten, but a message the local system has not yet taken
    /// out of the inbox is never written over: other content is refused as `duplicate-id`, the
    /// same bytes get a fresh receipt and stay as they are, and once the inbox file is gone the
    /// id is free again.
    func testAnUnconsumedInboxFileIsNeverOverwrittenAfterTheWindow() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        let clock = TestClock()
        try b.startReceiver(now: { clock.now })
        let first = try a.seal(a.message("late-1", to: b, place: "Trelleborg"))
        XCTAssertEqual(try a.post(first.signedXML, to: b).status, 200)
        let inboxFile = b.layout.inbox.appendingPathComponent("\(a.organisation.digits)_late-1.xml")
        clock.advance(window + 60)

        var other = first.message
        other.event.place = "Malmö"
        let reused = try a.seal(other)
        let refused = try verifiedReceipt(try a.post(reused.signedXML, to: b).body, from: b)
        XCTAssertEqual(refused.status, .rejected)
        XCTAssertEqual(refused.reason, .duplicateId)
        XCTAssertTrue(refused.detail?.contains("still in the inbox") == true, refused.detail ?? "")
        XCTAssertEqual(try Data(contentsOf: inboxFile), first.signedXML, "the waiting message is kept")

        let same = try verifiedReceipt(try a.post(first.signedXML, to: b).body, from: b)
        XCTAssertEqual(same.status, .accepted)
        XCTAssertEqual(same.digest, first.digest)
        XCTAssertEqual(try Data(contentsOf: inboxFile), first.signedXML)
        XCTAssertEqual(b.inbox(), ["\(a.organisation.digits)_late-1.xml"])

        // The local system took the message: the id may carry new content again.
        try FileManager.default.removeItem(at: inboxFile)
        clock.advance(window + 60)
        let taken = try verifiedReceipt(try a.post(reused.signedXML, to: b).body, from: b)
        XCTAssertEqual(taken.status, .accepted)
        XCTAssertEqual(try Data(contentsOf: inboxFile), reused.signedXML)
    }

    /// Many acceptances over a long run: the set and its ordering never hold much more than the
    /// window's worth, and a key accepted again is kept for its latest acceptance.
    func testMemoryStaysBoundedOverALongRun() throws {
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var w = AcceptedWindow([:])
        let perMessage: TimeInterval = 60
        let live = Int(window / perMessage)  // messages accepted within one window
        var peakKeys = 0, peakOrder = 0
        for i in 0..<(live * 4) {
            let at = start.addingTimeInterval(Double(i) * perMessage)
            w.forget(acceptedBefore: at.addingTimeInterval(-window))
            w.insert("k\(i)", AcceptedMessage(digest: "d\(i)", acceptedAt: at))
            peakKeys = max(peakKeys, w.keys.count)
            peakOrder = max(peakOrder, w.storedOrderCount)
        }
        XCTAssertEqual(peakKeys, live + 1, "one window's worth, never more")
        XCTAssertLessThanOrEqual(peakOrder, 2 * (live + 1), "the forgotten prefix is reclaimed")
        XCTAssertNil(w["k0"])
        XCTAssertNotNil(w["k\(live * 4 - 1)"])

        // k5 accepted again (its receipt was missing from the journal): its first acceptance leaving
        // the window must not forget the second.
        var again = AcceptedWindow(["k5": AcceptedMessage(digest: "d", acceptedAt: start)])
        again.insert("k5", AcceptedMessage(digest: "d", acceptedAt: start.addingTimeInterval(3600)))
        again.forget(acceptedBefore: start.addingTimeInterval(60))
        XCTAssertEqual(again["k5"]?.acceptedAt, start.addingTimeInterval(3600))
        again.forget(acceptedBefore: start.addingTimeInterval(3601))
        XCTAssertNil(again["k5"])
        XCTAssertEqual(again.storedOrderCount, 0)
    }
}
