import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
@testable import StafettTransport
@testable import StafettDaemon

/// Issue 14, item 5: bad peers as the sender sees them. A peer that completes TLS and never
/// answers, one that answers garbage, and receipts that are wrong (for another message, for
/// other content, signed by another key): each attempt is retried with back-off, the queue shows
/// why (the retry state `stafett queue` lists), the read timeout bounds the stall, and nothing
/// is journaled `delivered` until a true receipt comes back.
final class BadPeerTests: XCTestCase {
    override func setUp() {
        // As stafettd does: a peer closing mid-write shows up as EPIPE, not a dead process.
        Signals.ignoreSIGPIPE()
    }

    /// What the stand-in for the peer does with a message.
    enum Answer: Sendable {
        /// Completes TLS, reads the request, never answers.
        case silence
        /// 200 with a body that is no receipt.
        case garbage
        /// The receiver's own answer.
        case passOn
        /// The receipt kept from the last message passed on, whatever was sent.
        case replay
    }

    /// A sender `a` and its peer `b`, whose server answers as `answer` says; `b` runs a real
    /// receiver behind it.
    final class StandIn: @unchecked Sendable {
        let net: TestNetwork
        let answer = LockedBox<Answer>(.passOn)
        let kept = LockedBox<Data?>(nil)
        /// Lets silent handlers go at the end (their client gave up long before).
        let release = DispatchSemaphore(value: 0)

        /// `adjust` changes the sender's configuration before it starts.
        init(readTimeout: Duration = .seconds(30),
             members: [(String, String)] = [("trelleborg", "2120001165"), ("migrationsverket", "2021002163")],
             adjust: (TestNetwork) throws -> Void = { _ in }) throws {
            net = try TestNetwork(members)
            let a = net.a, b = net.b
            net.configureAllPeers()
            let rt = try b.runtime()
            let window = Receiver.duplicateWindow(maxLifetime: b.config.delivery.maxLifetime.timeInterval)
            let receiver = Receiver(runtime: { rt }, layout: b.layout, batcher: b.batcher, metrics: b.metrics, log: b.log,
                                    accepted: try Receiver.acceptedMessages(journal: b.layout.journal, since: Date().addingTimeInterval(-window)))
            try b.serve(runtime: rt) { [answer, kept, release] request, peer in
                switch answer.get() {
                case .silence:
                    _ = release.wait(timeout: .now() + 20)
                    return HTTPResponse.text(503, "too late\n")
                case .garbage:
                    return HTTPResponse(status: 200, headers: ["Content-Type": "application/xml"], body: Data("<html>busy</html>".utf8))
                case .passOn:
                    let response = receiver.handle(request, peer: peer)
                    if response.status == 200 { kept.set(response.body) }
                    return response
                case .replay:
                    return HTTPResponse(status: 200, headers: ["Content-Type": "application/xml"], body: kept.get() ?? Data())
                }
            }
            net.configurePeers(of: a)
            a.config.limits.readTimeout = readTimeout
            try adjust(net)
            try a.startSender()
        }

        deinit { for _ in 0..<64 { release.signal() } }

        var a: TestNode { net.a }
        var b: TestNode { net.b }

        /// Seals and queues a message from `a` to `b`.
        @discardableResult
        func send(_ id: String, place: String = "Trelleborg") throws -> QueueEntry {
            try a.enqueue(try a.seal(try a.message(id, to: b, place: place)), for: b)
        }

        /// The retry state of `entry` on disk once it records at least `attempts` attempts.
        func retried(_ entry: QueueEntry, attempts: Int = 2, within seconds: Double = 20) throws -> QueueEntry {
            let store = try XCTUnwrap(a.store)
            var state: QueueEntry?
            waitUntil(seconds) {
                state = store.retryState(of: entry)
                return (state?.attempts ?? 0) >= attempts
            }
            return try XCTUnwrap(state, "no retry state for \(entry.messageId) after \(seconds) s")
        }

        /// How often the sender journaled `id` delivered.
        func deliveredCount(_ id: String) throws -> Int {
            try a.journalEntries().filter { $0.kind == .delivered && $0.messageId == id }.count
        }

        func waitForDelivered(_ id: String) throws -> Bool {
            try waitUntil(20) { try deliveredCount(id) == 1 }
        }
    }

    func testAPeerThatNeverAnswersHoldsAnAttemptOnlyForTheReadTimeoutAndIsRetried() throws {
        let peer = try StandIn(readTimeout: .seconds(1))
        peer.answer.set(.silence)
        let started = Date()
        let entry = try peer.send("silent-1")
        let first = try peer.retried(entry, attempts: 1)
        let stall = Date().timeIntervalSince(started)
        XCTAssertLessThan(stall, 5, "one attempt at a silent peer took \(stall) s with a 1 s read timeout")
        XCTAssertTrue(first.lastError?.contains("timed out") == true, first.lastError ?? "no last error")
        // A network error backs the whole peer off: the queue's peer line says why too.
        XCTAssertTrue(try XCTUnwrap(peer.a.store?.peerBackoff(peer.b.name)).lastError.contains("timed out"))
        let again = try peer.retried(entry, attempts: 2)
        XCTAssertGreaterThan(again.attempts, 1)
        XCTAssertEqual(try peer.deliveredCount("silent-1"), 0)

        // The peer comes back: delivered once.
        peer.answer.set(.passOn)
        XCTAssertTrue(try peer.waitForDelivered("silent-1"))
        XCTAssertEqual(peer.b.inbox().count, 1)
    }

    func testAnAnswerThatIsNoReceiptIsRetriedAndNeverDelivered() throws {
        let peer = try StandIn()
        peer.answer.set(.garbage)
        let entry = try peer.send("garbage-1")
        let state = try peer.retried(entry)
        XCTAssertTrue(state.lastError?.hasPrefix("unusable receipt") == true, state.lastError ?? "no last error")
        XCTAssertEqual(try peer.deliveredCount("garbage-1"), 0)
        peer.answer.set(.passOn)
        XCTAssertTrue(try peer.waitForDelivered("garbage-1"))
    }

    /// A receipt for another message, then for the same id but other content: neither settles
    /// the message, however validly signed.
    func testReceiptsForAnotherMessageOrOtherContentAreRetriedAndNeverDelivered() throws {
        let peer = try StandIn()
        try peer.send("first")
        XCTAssertTrue(try peer.waitForDelivered("first"))

        peer.answer.set(.replay)
        let other = try peer.send("second")
        let state = try peer.retried(other)
        XCTAssertEqual(state.lastError, "receipt refers to first, expected second")
        XCTAssertEqual(try peer.deliveredCount("second"), 0)

        // The same id sent again with other content: the kept receipt quotes the first digest.
        let changed = try peer.send("first", place: "Malmö")
        let changedState = try peer.retried(changed)
        XCTAssertTrue(changedState.lastError?.hasPrefix("accepted receipt carries digest") == true,
                      changedState.lastError ?? "no last error")
        XCTAssertEqual(try peer.deliveredCount("first"), 1, "a receipt for other content was journaled as delivered")

        peer.answer.set(.passOn)
        XCTAssertTrue(try peer.waitForDelivered("second"))
        XCTAssertEqual(try peer.deliveredCount("second"), 1)
    }

    func testAReceiptSignedByAnotherKeyIsRetriedAndNeverDelivered() throws {
        // The sender knows b by a third node's signing certificate: b's own receipts are then
        // signed by a key it does not trust for b.
        let peer = try StandIn(members: [("trelleborg", "2120001165"), ("migrationsverket", "2021002163"),
                                          ("malmo", "2120001207")]) { net in
            net.a.config.peers[0].signingCerts = [net.nodes[2].signingCertPath]
        }
        let entry = try peer.send("forged-1")
        let state = try peer.retried(entry)
        XCTAssertTrue(state.lastError?.hasPrefix("unusable receipt") == true, state.lastError ?? "no last error")
        XCTAssertEqual(try peer.deliveredCount("forged-1"), 0)
        // The peer did take the message: only its receipt was not trusted.
        XCTAssertEqual(peer.b.inbox().count, 1)
    }

    /// A "peer" that completes TLS and then answers bytes that are not HTTP.
    func testAPeerAnsweringBytesThatAreNotHTTPIsRetriedAsNetworkTrouble() throws {
        let stop = LockedBox(false)
        let answered = LockedBox(0)
        defer { stop.set(true) }
        // b's identity, on a listener of its own that the sender is told b listens on.
        let peer = try StandIn { net in
            let rt = try net.b.runtime()
            let tls = try TLSServerContext(rt.tls, clientTrust: ClientTrust(rt.peers.values.map(\.trust)))
            let (listenFD, port) = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 8)
            Thread.detachNewThread {
                defer { close(listenFD) }
                while !stop.get() {
                    do { try Socket.wait(listenFD, for: Int16(POLLIN), until: .after(.milliseconds(200))) } catch { continue }
                    let fd = accept(listenFD, nil, nil)
                    guard fd >= 0 else { continue }
                    Socket.setNonBlocking(fd)
                    guard let channel = try? Channel(tls: fd, context: tls.context) else { close(fd); continue }
                    guard (try? channel.handshake(until: .after(.seconds(5)))) != nil else { channel.close(); continue }
                    var buffer = ByteBuffer(capacity: 4096)
                    try? buffer.fill(from: channel, until: .after(.seconds(2)))
                    try? channel.write(Array("SSH-2.0-OpenSSH_9.2\r\n\u{0}\u{1}garbage".utf8), until: .after(.seconds(1)))
                    answered.mutate { $0 += 1 }
                    channel.close()
                }
            }
            net.a.config.peers[0].address = HostPort(host: "127.0.0.1", port: port)
        }
        let entry = try peer.send("noise-1")
        let state = try peer.retried(entry)
        XCTAssertGreaterThanOrEqual(answered.get(), 2)
        XCTAssertNotNil(state.lastError)
        XCTAssertFalse(state.lastError?.hasPrefix("unusable receipt") ?? true, "a broken HTTP answer is network trouble: \(state.lastError ?? "")")
        XCTAssertNotNil(peer.a.store?.peerBackoff(peer.b.name), "network trouble backs the peer off")
        XCTAssertEqual(try peer.deliveredCount("noise-1"), 0)
    }
}
