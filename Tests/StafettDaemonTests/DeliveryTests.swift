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
        XCTAssertEqual(rejected.reason, "duplicate-id", "the peer's reason code alone: its detail stays in the receipt")
        XCTAssertEqual(rejected.digest, reused.digest)
        XCTAssertEqual(rejected.caseRef, "TBG-reuse-2")
        XCTAssertEqual(rejected.intakeId, "TBG-reuse-2")
        XCTAssertEqual(rejected.eventTimeMillis, Int64((reused.message.event.time.timeIntervalSince1970 * 1000).rounded()))
        // The peer's signed rejection is the sender's evidence (`stafett receipt ID`), in the
        // archive beside the message, bound by its digest.
        XCTAssertNil(rejected.receipt)
        let signed = try ArchivedReceipt.read(for: rejected, archive: a.layout.archivePath)
        XCTAssertEqual(rejected.receiptDigest, SHA256.hex(signed))
        let receipt = try ReceiptXML.read(signed)
        XCTAssertEqual(receipt.reason, .duplicateId)
        XCTAssertEqual(receipt.detail?.hasPrefix("message id reuse-2 already used for different content"), true, receipt.detail ?? "no detail")
        XCTAssertEqual(receipt.issuer, b.organisation)
        XCTAssertEqual(try Data(contentsOf: a.layout.archive.appendingPathComponent("migrationsverket/reuse-2.xml")), reused.signedXML)
        XCTAssertTrue(a.logs.text.contains("was rejected: duplicate-id"), a.logs.text)

        // Several back-off periods (from 50 ms) later: no second attempt, no retry state, the inbox as it was.
        usleep(600_000)
        XCTAssertEqual(b.metrics.value("stafett_received_total", labels: ["status": "rejected", "reason": "duplicate-id"]), 1)
        XCTAssertNil(a.metrics.value("stafett_delivery_failures_total", labels: ["peer": "migrationsverket"]))
        XCTAssertEqual(a.metrics.value("stafett_delivered_total", labels: ["peer": "migrationsverket", "status": "rejected"]), 1)
        XCTAssertTrue(a.queueFiles().isEmpty)
        XCTAssertEqual(try Data(contentsOf: b.layout.inbox.appendingPathComponent("\(a.organisation.digits)_reuse-2.xml")),
                       earlier.signedXML)
    }

    /// A peer writes free text into a rejection's detail: the journal can never be edited, so the
    /// text must not enter it. Every byte of the sender's journal directory is searched for it; it
    /// is in the receipt kept in the archive, which the journal binds by digest.
    func testAPeersFreeTextStaysOutOfTheJournal() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        let marker = "MARKER-\(UUID().uuidString)"
        let signer = try b.runtime().receiptSigner
        let me = a.organisation, peer = b.organisation
        try b.serve { request, _ in
            let id = try? CaseXML.decode(XMLDocument.parse(request.body)).header.messageId
            let receipt = Receipt(receiptId: MessageID.random(), refToMessageId: id, issuedAt: Date(), issuer: peer, addressee: me,
                                  status: .rejected, reason: .schema, detail: "the child's name \(marker) is wrong")
            guard let signed = try? ReceiptSealer.seal(receipt, with: signer) else { return HTTPResponse.text(500, "cannot sign\n") }
            return HTTPResponse(status: 200, headers: ["Content-Type": "application/xml"], body: signed)
        }
        net.configurePeers(of: a)
        try a.startSender()
        let sealed = try a.seal(a.message("free-text-1", to: b))
        try a.enqueue(sealed, for: b)
        XCTAssertTrue(waitUntil(10) { a.queueFiles().isEmpty }, "still queued: \(a.queueFiles())\n\(a.logs.text)")
        a.shutdown()

        let needle = Data(marker.utf8)
        let journalFiles = try FileManager.default.subpathsOfDirectory(atPath: a.layout.journal.path)
        XCTAssertFalse(journalFiles.isEmpty)
        for name in journalFiles {
            let path = a.layout.journal.appendingPathComponent(name).path
            guard let bytes = FileManager.default.contents(atPath: path) else { continue }  // a directory
            XCTAssertNil(bytes.range(of: needle), "the peer's free text is in the journal's \(name)")
        }
        let rejected = try XCTUnwrap(try a.journalEntries().first { $0.messageId == "free-text-1" })
        XCTAssertEqual(rejected.kind, .rejected)
        XCTAssertEqual(rejected.reason, "schema")
        let archived = try Data(contentsOf: a.layout.archive.appendingPathComponent("migrationsverket/free-text-1.receipt"))
        XCTAssertNotNil(archived.range(of: needle), "the detail is kept in the archived receipt")
        XCTAssertEqual(rejected.receiptDigest, SHA256.hex(archived))
        XCTAssertEqual(try ReceiptXML.read(archived).detail, "the child's name \(marker) is wrong")
    }

    /// `stafett queue hold` while an attempt is on the wire: that attempt completes (a 503 here),
    /// then the hold wins: no further attempt, the hold and the attempt both on disk; release
    /// resumes delivery.
    func testAHoldDuringAnAttemptWinsForTheNextAttempt() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        let peer = try net.busyPeer()
        try a.startSender()
        let entry = try a.enqueue(try a.seal(a.message("hold-1", to: b)), for: b)
        XCTAssertTrue(peer.waitForRequests(1, timeout: 10), a.logs.text)

        try operatorHolds(entry, in: a)
        peer.open()
        usleep(800_000)  // several back-off periods (50, 100, 200, 400 ms)
        XCTAssertEqual(peer.requests, 1, "a held message must not be attempted again")
        let store = try QueueStore(directory: a.layout.queue)
        let onDisk = try XCTUnwrap(store.reload(entry))
        XCTAssertTrue(onDisk.held, "the hold survives the attempt that was in flight")
        XCTAssertEqual(onDisk.attempts, 1)
        XCTAssertTrue(onDisk.lastError?.contains("HTTP 503") ?? false, onDisk.lastError ?? "no last error")
        XCTAssertTrue(a.logs.text.contains("held by an operator"), a.logs.text)

        var released = onDisk
        released.held = false
        released.nextAttempt = Date()
        XCTAssertTrue(try store.update(released))
        a.scheduler?.rescan()
        XCTAssertTrue(peer.waitForRequests(2, timeout: 5), "release resumes delivery")
    }

    /// A hold that comes too late for an attempt already on the wire: the attempt may complete
    /// (accepted), and then nothing of the message, nor of the hold, stays in the queue.
    func testAnAttemptOnTheWireMayCompleteDespiteAHold() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        let peer = try net.gatedReceiverAndSender()
        let entry = try a.enqueue(try a.seal(a.message("hold-2", to: b)), for: b)
        XCTAssertTrue(peer.waitForRequests(1, timeout: 10), a.logs.text)

        try operatorHolds(entry, in: a)
        peer.open()
        XCTAssertTrue(waitUntil(10) { a.queueFiles().isEmpty }, "left in the queue: \(a.queueFiles())")
        XCTAssertEqual(try a.journalEntries().filter { $0.messageId == "hold-2" }.map(\.kind), [.delivered])
        XCTAssertEqual(b.inbox(), ["\(a.organisation.digits)_hold-2.xml"])
        XCTAssertEqual(peer.requests, 1)
    }

    /// Back-off bounds below a second count in full: `max-backoff = 500ms` caps at half a second
    /// (it was read as 0 s, and every retry came after the 10 ms floor).
    /// A message filed due again by its own failed attempt while still in flight (another worker
    /// reaching the due list first) keeps its place and is picked once its attempt ends.
    func testADueMessageStillInFlightIsNotDropped() throws {
        let lane = DeliveryScheduler.Lane(name: "migrationsverket")
        let id = try MessageID("m-inflight")
        let now = Date()
        let entry = QueueEntry(messageId: id, peer: "migrationsverket", recipient: try OrganisationNumber("2021002163"),
                               eventType: .registered, caseRef: nil, queuedAt: now, expiresAt: now.addingTimeInterval(3600),
                               digest: "d")
        lane.file(entry, now: now)
        XCTAssertEqual(lane.next(now: now)?.messageId, id)
        lane.inFlight.insert(id)
        lane.file(entry, now: now)  // its attempt failed, past its lifetime: due at once
        XCTAssertNil(lane.next(now: now), "not while its attempt runs")
        lane.inFlight.remove(id)
        XCTAssertEqual(lane.next(now: now)?.messageId, id, "picked once the attempt ended")
    }

    func testSubSecondBackoffBoundsAreHonoured() throws {
        let config = try StafettConfig.parse(text: ConfigTests.minimal + """

            [delivery]
            initial-backoff = 125ms
            max-backoff = 500ms
            jitter = 0
            """, file: "/etc/stafett/stafett.conf")
        let d = config.delivery
        XCTAssertEqual((1...6).map { DeliveryScheduler.backoff(attempt: $0, d) }, [0.125, 0.25, 0.5, 0.5, 0.5, 0.5])
        var spread = d
        spread.maxBackoff = .milliseconds(1500)
        spread.jitter = 0.2
        for _ in 0..<200 {
            let delay = DeliveryScheduler.backoff(attempt: 20, spread)
            XCTAssertEqual(delay, 1.5, accuracy: 0.3 + 1e-9)
            XCTAssertLessThanOrEqual(delay, 1.5, "jitter never goes past max-backoff")
        }
        XCTAssertEqual(DeliveryScheduler.describe(0.4996), "500ms")
        XCTAssertEqual(DeliveryScheduler.describe(0.9996), "1s")
        XCTAssertEqual(DeliveryScheduler.describe(28.7), "29s")
    }

    /// The scheduler waits the sub-second cap between attempts at a peer that answers 503.
    func testRetriesAtAFailingPeerKeepTheSubSecondCap() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        let peer = try net.busyPeer()
        peer.open()
        a.config.delivery.initialBackoff = .milliseconds(100)
        a.config.delivery.maxBackoff = .milliseconds(300)
        a.config.delivery.jitter = 0
        try a.startSender()
        _ = try a.enqueue(try a.seal(a.message("cap-1", to: b)), for: b)
        XCTAssertTrue(peer.waitForRequests(1, timeout: 10), a.logs.text)
        let first = Date()
        usleep(1_500_000)
        let attempts = peer.requests
        // After the first: 100, 200, then 300 ms apart: 6 more by 1.5 s, fewer if the machine is slow.
        XCTAssertLessThanOrEqual(attempts, 8, "attempts \(attempts) in \(Date().timeIntervalSince(first)) s: the cap was not kept")
        XCTAssertGreaterThanOrEqual(attempts, 3, "the message is still retried")
        XCTAssertTrue(a.logs.text.contains("next try in 100ms"), a.logs.text)
    }

    /// `stafett queue retry` while an attempt is on the wire (a 503 here, back-off 60 s): that
    /// attempt's failure is recorded, but the next attempt comes now, as the operator asked.
    func testARetryDuringAnAttemptIsNotReplacedByItsBackoff() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        let peer = try net.busyPeer()
        a.config.delivery.initialBackoff = .seconds(60)
        a.config.delivery.maxBackoff = .seconds(60)
        try a.startSender()
        let entry = try a.enqueue(try a.seal(a.message("retry-1", to: b)), for: b)
        XCTAssertTrue(peer.waitForRequests(1, timeout: 10), a.logs.text)

        try operatorRetries(entry, in: a)
        peer.open()
        XCTAssertTrue(peer.waitForRequests(2, timeout: 10), "the retry must not wait for the 60 s back-off\n\(a.logs.text)")
        // The second attempt fails too and backs off as usual; both attempts are on record.
        let store = try QueueStore(directory: a.layout.queue)
        XCTAssertTrue(waitUntil(5) { store.reload(entry)?.attempts == 2 }, "\(String(describing: store.reload(entry)))")
        let onDisk = try XCTUnwrap(store.reload(entry))
        XCTAssertGreaterThan(onDisk.nextAttempt.timeIntervalSinceNow, 30)
        XCTAssertTrue(onDisk.lastError?.contains("HTTP 503") ?? false, onDisk.lastError ?? "no last error")
        usleep(300_000)
        XCTAssertEqual(peer.requests, 2)
    }

    /// The same with the peer failing below HTTP (its TLS handshake never completes): the peer's
    /// back-off, set by the failure after the operator's rescan, must not hold the retry back either.
    func testARetryDuringAnAttemptAtAnUnreachablePeerIsNotReplacedByThePeersBackoff() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        // As stafettd does at start: the client's TLS alert to a dropped connection is an EPIPE,
        // not a signal that ends the test process.
        Signals.ignoreSIGPIPE()
        let silent = try SilentListener()
        defer { silent.stop() }
        a.config.peers = [StafettConfig.Peer(name: b.name, organisation: b.organisation,
                                             address: HostPort(host: "127.0.0.1", port: silent.port),
                                             signingCerts: [b.signingCertPath])]
        a.config.delivery.initialBackoff = .seconds(60)
        a.config.delivery.maxBackoff = .seconds(60)
        try a.startSender()
        let entry = try a.enqueue(try a.seal(a.message("retry-2", to: b)), for: b)
        XCTAssertTrue(silent.waitForConnections(1, timeout: 10), a.logs.text)

        try operatorRetries(entry, in: a)
        silent.dropConnections()  // the handshake fails: the whole peer backs off 60 s
        XCTAssertTrue(silent.waitForConnections(2, timeout: 10), "the retry must not wait for the peer's back-off\n\(a.logs.text)")
        let store = try QueueStore(directory: a.layout.queue)
        silent.dropConnections()
        XCTAssertTrue(waitUntil(5) { store.reload(entry)?.attempts == 2 }, "\(String(describing: store.reload(entry)))")
        usleep(300_000)
        XCTAssertEqual(silent.connections, 2, "after the retry, the peer's back-off applies again")
    }

    /// What `stafett queue retry ID` does: next attempt now, under the message's lock, then SIGUSR1's rescan.
    func operatorRetries(_ entry: QueueEntry, in node: TestNode) throws {
        let store = try QueueStore(directory: node.layout.queue)
        XCTAssertNotNil(try store.update(entry) { $0.nextAttempt = Date() })
        node.scheduler?.rescan()
    }

    /// What `stafett queue hold ID` does: read the queue, set the hold, write it, tell the daemon (SIGUSR1).
    func operatorHolds(_ entry: QueueEntry, in node: TestNode) throws {
        let store = try QueueStore(directory: node.layout.queue)
        var held = try XCTUnwrap(store.loadAll().first { $0.messageId == entry.messageId })
        held.held = true
        XCTAssertTrue(try store.update(held))
        node.scheduler?.rescan()
    }
}

extension TestNetwork {
    /// B as a stand-in peer that answers every request with 503 once the gate opens; A configured
    /// to send to it, not yet started (tests set its delivery timers first).
    func busyPeer() throws -> GatedPeer {
        configureAllPeers()
        let peer = GatedPeer { _, _ in HTTPResponse.text(503, "busy\n") }
        try b.serve(peer.handle)
        configurePeers(of: a)
        return peer
    }

    /// `b` receives behind a gate (a real receiver once the gate opens); `a` sends to it, with one connection.
    func gatedReceiverAndSender() throws -> GatedPeer {
        configureAllPeers()
        try b.startReceiver()
        let receiver = try XCTUnwrap(b.receiver)
        b.stopServer()
        let peer = GatedPeer { request, identity in receiver.handle(request, peer: identity) }
        try b.serve(peer.handle)
        configurePeers(of: a)
        try a.startSender()
        return peer
    }
}

/// A stand-in peer that holds every request until the test opens the gate, then answers with `inner`.
final class GatedPeer: @unchecked Sendable {
    private let cond = NSCondition()
    private var isOpen = false
    private var count = 0
    private let inner: HTTPHandler

    init(_ inner: @escaping HTTPHandler) { self.inner = inner }

    /// The server's handler.
    var handle: HTTPHandler {
        { [self] request, identity in
            cond.lock()
            count += 1
            cond.broadcast()
            while !isOpen { cond.wait() }
            cond.unlock()
            return inner(request, identity)
        }
    }

    /// Requests received so far.
    var requests: Int { cond.withLock { count } }

    /// Lets every waiting and later request through.
    func open() { cond.withLock { isOpen = true; cond.broadcast() } }

    /// Waits until `n` requests have arrived.
    func waitForRequests(_ n: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        cond.lock()
        defer { cond.unlock() }
        while count < n { if !cond.wait(until: deadline) { return count >= n } }
        return true
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never answers: a TLS client waits in
/// its handshake until the test drops the connections.
final class SilentListener: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let cond = NSCondition()
    private var accepted: [Int32] = []
    private var count = 0
    private var stopped = false

    init() throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) == 0 && listen(s, 16) == 0 && getsockname(s, $0, &len) == 0 }
        }
        guard bound else { close(s); throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        fd = s
        port = UInt16(bigEndian: addr.sin_port)
        Thread { [self] in
            while true {
                let c = accept(fd, nil, nil)
                cond.lock()
                defer { cond.unlock() }
                if c < 0 || stopped { if c >= 0 { close(c) }; return }
                accepted.append(c)
                count += 1
                cond.broadcast()
            }
        }.start()
    }

    /// Connections accepted so far.
    var connections: Int { cond.withLock { count } }

    /// Waits until `n` connections have been accepted.
    func waitForConnections(_ n: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        cond.lock()
        defer { cond.unlock() }
        while count < n { if !cond.wait(until: deadline) { return count >= n } }
        return true
    }

    /// Closes every accepted connection (the client sees its handshake fail).
    func dropConnections() {
        let open = cond.withLock { () -> [Int32] in defer { accepted.removeAll() }; return accepted }
        for c in open { close(c) }
    }

    func stop() {
        cond.withLock { stopped = true }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        dropConnections()
    }
}

