import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettXML
@testable import StafettDaemon
import StafettSignature

/// The per-message paths made cheaper for end-to-end throughput: each must keep what it did.
final class HotPathTests: XCTestCase {
    /// Label values are escaped as the exposition format asks; plain values are taken as they are.
    func testMetricsKeysSortAndEscapeLabels() {
        XCTAssertEqual(Metrics.key("m", [:]), "m")
        XCTAssertEqual(Metrics.key("m", ["peer": "verket", "status": "accepted"]), #"m{peer="verket",status="accepted"}"#)
        XCTAssertEqual(Metrics.key("m", ["b": "say \"hi\"", "a": "C:\\dir\nnext"]), #"m{a="C:\\dir\nnext",b="say \"hi\""}"#)
        XCTAssertEqual(Metrics.key("m", ["a": "Malmö"]), #"m{a="Malmö"}"#)
        let metrics = Metrics()
        metrics.count("c", labels: ["peer": "x\"y"])
        metrics.count("c", labels: ["peer": "x\"y"], by: 2)
        XCTAssertEqual(metrics.value("c", labels: ["peer": "x\"y"]), 3)
        XCTAssertTrue(metrics.render().contains(#"c{peer="x\"y"} 3"#), metrics.render())
    }

    /// The outcomes of one batch answer share one `SignedBatchReceipt`, whose digest is the one the
    /// archive names it by: the receipt is hashed once per batch, not once per message it covers.
    func testABatchAnswerIsHashedOnceForAllItsMessages() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()
        let sealed = try (0..<3).map { try a.seal(a.message("hashed-once-\($0)", to: b)) }
        let answer = try a.postBatch(sealed.map(\.signedXML), to: b)
        let peer = try XCTUnwrap(try a.runtime().peers[b.name])
        let chunk = sealed.map { s in
            DeliveryScheduler.ReadyMessage(entry: QueueEntry(message: s.message, peer: b.name, queuedAt: Date(),
                                                             expiresAt: Date().addingTimeInterval(3600), digest: s.digest),
                                           start: nil, peer: peer, body: s.signedXML)
        }
        let outcomes = try XCTUnwrap(DeliveryScheduler.checkBatchAnswer(answer, for: chunk, to: a.organisation))
        let receipts = outcomes.compactMap { outcome -> SignedBatchReceipt? in
            if case let .batchReceipt(_, signed) = outcome { return signed }
            return nil
        }
        XCTAssertEqual(receipts.count, 3, "every message settled by the batch receipt: \(outcomes)")
        XCTAssertTrue(receipts.allSatisfy { $0 === receipts[0] }, "one object for the whole answer")
        XCTAssertEqual(receipts[0].bytes, answer.body)
        XCTAssertEqual(receipts[0].digest, BatchReceiptArchive.digest(of: answer.body))
        XCTAssertEqual(receipts[0].digest, SHA256.hex(answer.body))
    }

    /// Accepted receipts are signed as text; the signature verifies against the tree (as the
    /// sender and xmlsec1 check it) and covers the same content a tree-signed receipt would.
    /// Receipts with a detail text still take the tree path and verify too.
    func testReceiptsSignedAsTextVerifyLikeTreeSignedOnes() throws {
        let net = try TestNetwork()
        net.configureAllPeers()
        let rt = try net.b.runtime()
        let cert = try XCTUnwrap(rt.sealer.certificate)
        let accepted = Receipt(receiptId: MessageID.random(), refToMessageId: try MessageID("m-1.2_x:y"), issuedAt: Date(),
                               issuer: net.b.organisation, addressee: net.a.organisation, status: .accepted,
                               digest: Data(repeating: 0xAB, count: 32).base64EncodedString())
        let rejected = Receipt(receiptId: MessageID.random(), refToMessageId: nil, issuedAt: Date(), issuer: net.b.organisation,
                               addressee: net.a.organisation, status: .rejected, reason: .schema,
                               detail: "element <Child> & \"friends\"\r\nline 2")
        for receipt in [accepted, rejected] {
            let signed = try ReceiptSealer.seal(receipt, with: rt.receiptSigner)
            let doc = try SchemaValidator.receipt.parseAndValidate(signed)
            XCTAssertNoThrow(try XMLSignature.verify(doc, trustingAnyOf: [cert]))
            var decoded = try ReceiptXML.decode(doc)
            XCTAssertEqual(decoded.issuedAt.timeIntervalSince1970, receipt.issuedAt.timeIntervalSince1970, accuracy: 0.001)
            decoded.issuedAt = receipt.issuedAt
            XCTAssertEqual(decoded, receipt)

            let tree = try XMLDocument.parse(ReceiptXML.encode(receipt))
            try XMLSignature.sign(tree, key: rt.sealer.key, certificate: cert)
            let treeSigned = try XMLDocument.parse(tree.serialized())
            XCTAssertEqual(try XMLSignature.signedDigestValue(doc), try XMLSignature.signedDigestValue(treeSigned))
        }
        let encoded = ReceiptXML.encode(accepted)
        let root = try XCTUnwrap(ReceiptSealer.canonicalRootRange(encoded))
        XCTAssertTrue(String(decoding: encoded[root], as: UTF8.self).hasPrefix("<Receipt xmlns="))
        XCTAssertTrue(String(decoding: encoded[root], as: UTF8.self).hasSuffix("</Receipt>"))
        XCTAssertNil(ReceiptSealer.canonicalRootRange(Data("<Other/>".utf8)))
    }

    /// A round whose files go to two directories leaves each under its final name with its
    /// content and no temporary behind; the names' flush finds each file's directory.
    func testCommitRoundAcrossTwoDirectoriesPutsEveryFileInPlace() throws {
        let (dir, layout, journal, batcher) = try makeBatcher()
        defer { journal.close(); try? FileManager.default.removeItem(at: dir) }
        let queueDir = SpoolLayout.join(layout.spool.path, "queue/verket")
        let files = [try AtomicFile.stage(Data("to the inbox".utf8), in: layout.inboxPath, as: "a.xml"),
                     try AtomicFile.stage(Data("to the queue".utf8), in: queueDir, as: "b.xml")]
        let seqs = try batcher.commit(CommitItem(files: files, entries: [JournalEntry(kind: .received, messageId: "a")]))
        XCTAssertEqual(seqs.count, 1)
        XCTAssertEqual(try String(contentsOfFile: SpoolLayout.join(layout.inboxPath, "a.xml"), encoding: .utf8), "to the inbox")
        XCTAssertEqual(try String(contentsOfFile: SpoolLayout.join(queueDir, "b.xml"), encoding: .utf8), "to the queue")
        for d in [layout.inboxPath, queueDir] {
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: d).filter { $0.hasSuffix(".tmp") }, [], d)
        }
        XCTAssertEqual(CommitBatcher.parentDirectory(of: "/var/spool/stafett/inbox/a.xml"), "/var/spool/stafett/inbox")
        XCTAssertEqual(CommitBatcher.parentDirectory(of: "/a.xml"), "/")
        XCTAssertEqual(CommitBatcher.parentDirectory(of: "a.xml"), ".")
    }

    /// A round tells whether it flushed the spool's file system: one with files does (intake then
    /// leaves its inputs' data to that flush), one with records alone does not; the file system
    /// it names is the spool's.
    func testACommitRoundTellsWhetherItFlushedTheFileSystem() throws {
        let (dir, layout, journal, batcher) = try makeBatcher()
        defer { journal.close(); try? FileManager.default.removeItem(at: dir) }
        var st = stat()
        XCTAssertEqual(stat(layout.spool.path, &st), 0)
        XCTAssertEqual(batcher.fileSystem, UInt64(st.st_dev))
        let staged = try AtomicFile.stage(Data("queued".utf8), in: SpoolLayout.join(layout.spool.path, "queue/verket"), as: "m.xml")
        let withFiles = try batcher.commitReportingFlush(CommitItem(files: [staged], entries: [JournalEntry(kind: .queued, messageId: "m")],
                                                                    renameAfterJournal: true))
        XCTAssertTrue(withFiles.flushedFileSystem)
        XCTAssertEqual(withFiles.sequences.count, 1)
        let recordsOnly = try batcher.commitReportingFlush(CommitItem(files: [], entries: [JournalEntry(kind: .intakeAccepted, file: "x.csv")]))
        XCTAssertFalse(recordsOnly.flushedFileSystem)
        XCTAssertEqual(recordsOnly.sequences, [withFiles.sequences[0] + 1])
    }

    /// Many callers committing at once share rounds; each gets its own sequence numbers, and every
    /// staged file is under its final name when its commit returns.
    func testConcurrentCommitsShareRoundsAndEachGetsItsOwnRecords() throws {
        let (dir, layout, journal, batcher) = try makeBatcher()
        defer { journal.close(); try? FileManager.default.removeItem(at: dir) }
        let callers = 48
        let results = UnsafeSendableBox([[UInt64]?](repeating: nil, count: callers))
        let failures = UnsafeSendableBox([String?](repeating: nil, count: callers))
        let inbox = layout.inboxPath
        DispatchQueue.concurrentPerform(iterations: callers) { i in
            do {
                let staged = try AtomicFile.stage(Data("message \(i)".utf8), in: inbox, as: "m-\(i).xml")
                let entries = (0..<(i % 3 + 1)).map { k in JournalEntry(kind: .received, messageId: "m-\(i)", status: "\(k)") }
                let seqs = try batcher.commit(CommitItem(files: [staged], entries: entries))
                if access(staged.final, F_OK) != 0 { failures.set(i, "m-\(i).xml not in place when its commit returned") }
                results.set(i, seqs)
            } catch {
                failures.set(i, "\(error)")
            }
        }
        XCTAssertEqual(failures.value.compactMap { $0 }, [])
        let all = results.value.map { $0 ?? [] }
        XCTAssertEqual(all.map(\.count), (0..<callers).map { $0 % 3 + 1 })
        XCTAssertEqual(Set(all.joined()).count, all.joined().count, "sequence numbers handed out twice")
        // Each caller's records are its own, in its order.
        var byCaller: [String: [String]] = [:]
        try JournalStream(directory: layout.journal.path).readAvailable { raw in
            if let e = try? EntryCodec.decode(raw.payload), e.kind == .received, let id = e.messageId {
                byCaller[id, default: []].append(e.status ?? "")
                XCTAssertTrue(all[Int(id.dropFirst(2))!].contains(e.sequence), "record \(e.sequence) of \(id) went to another caller")
            }
        }
        for i in 0..<callers { XCTAssertEqual(byCaller["m-\(i)"], (0..<(i % 3 + 1)).map(String.init)) }
        XCTAssertLessThanOrEqual(batcher.roundCount, callers)
        XCTAssertGreaterThan(batcher.roundCount, 0)
    }

    /// Receipts coming back on several connections at once are journaled (in shared commits) once
    /// each, and every message leaves the queue for the archive.
    func testManyReceiptsAtOnceAreEachJournaledOnceAndArchived() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        net.configureAllPeers()
        try b.startReceiver()
        net.configurePeers(of: a)
        a.config.delivery.connectionsPerPeer = 6
        a.config.delivery.batch = 1  // single receipts on many connections at once (BatchDeliveryTests has batches)
        try a.startSender()
        let count = 60
        var sealed: [SealedMessage] = []
        for i in 0..<count { sealed.append(try a.seal(a.message("many-\(i)", to: b))) }
        for s in sealed { try a.enqueue(s, for: b) }
        XCTAssertTrue(waitUntil(30) { a.queueFiles().isEmpty }, "still queued: \(a.queueFiles().count)\n\(a.logs.text)")
        let delivered = try a.journalEntries().filter { $0.kind == .delivered }
        XCTAssertEqual(delivered.count, count)
        XCTAssertEqual(Set(delivered.compactMap(\.messageId)), Set((0..<count).map { "many-\($0)" }))
        for record in delivered {
            let receipt = try ReceiptXML.read(try ArchivedReceipt.read(for: record, archive: a.layout.archivePath))
            XCTAssertEqual(receipt.status, .accepted)
            XCTAssertEqual(receipt.digest, record.digest)
        }
        for s in sealed {
            let archived = a.layout.archive.appendingPathComponent("\(b.name)/\(s.message.header.messageId.rawValue).xml")
            XCTAssertEqual(try Data(contentsOf: archived), s.signedXML)
        }
        XCTAssertEqual(b.inbox().count, count)
        XCTAssertEqual(a.metrics.value("stafett_delivered_total", labels: ["peer": b.name, "status": "accepted"]), Double(count))
        XCTAssertEqual(a.metrics.value("stafett_peer_up", labels: ["peer": b.name]), 1)
    }

    /// Messages handed over by intake (`addQueued`) are sent from the bytes kept in memory and
    /// their first attempt does not look for retry state; a hold that `stafett queue` writes
    /// before that attempt (announced with SIGUSR1, a rescan) still keeps it back, and after the
    /// release it is delivered and leaves neither message nor retry state in the queue.
    func testIntakeQueuedMessagesAreSentFromMemoryAndStillHonourHolds() throws {
        let net = try TestNetwork()
        let (a, b) = (net.a, net.b)
        let peer = try net.gatedReceiverAndSender()  // one connection: the first message holds the lane at the gate
        let store = try XCTUnwrap(a.store)
        func queue(_ id: String) throws -> (entry: QueueEntry, signedXML: Data) {
            let sealed = try a.seal(a.message(id, to: b))
            let m = sealed.message
            let entry = QueueEntry(messageId: m.header.messageId, peer: b.name, recipient: m.header.recipient,
                                   eventType: m.event.type, caseRef: m.caseReference, queuedAt: Date(),
                                   expiresAt: Date().addingTimeInterval(3600), digest: sealed.digest)
            try a.batcher.commit(CommitItem(files: [try store.stage(sealed.signedXML, for: entry)], entries: []))
            a.scheduler?.addQueued([(entry, sealed.signedXML)])
            return (entry, sealed.signedXML)
        }
        let first = try queue("mem-1")
        XCTAssertTrue(peer.waitForRequests(1, timeout: 10), a.logs.text)
        let second = try queue("mem-2")
        var held = second.entry
        held.held = true
        XCTAssertTrue(try store.update(held))
        a.scheduler?.rescan()
        peer.open()
        XCTAssertTrue(waitUntil(10) { Set(a.queueFiles()) == ["\(b.name)/mem-2.xml", "\(b.name)/mem-2.meta"] },
                      "queue: \(a.queueFiles())\n\(a.logs.text)")
        usleep(300_000)
        XCTAssertEqual(peer.requests, 1, "the held message was attempted")
        XCTAssertEqual(try Data(contentsOf: b.layout.inbox.appendingPathComponent("\(a.organisation.digits)_mem-1.xml")), first.signedXML)

        var released = held
        released.held = false
        released.nextAttempt = Date()
        XCTAssertTrue(try store.update(released))
        a.scheduler?.rescan()
        XCTAssertTrue(waitUntil(10) { a.queueFiles().isEmpty }, "left in the queue: \(a.queueFiles())")
        XCTAssertEqual(try Data(contentsOf: b.layout.inbox.appendingPathComponent("\(a.organisation.digits)_mem-2.xml")), second.signedXML)
        XCTAssertEqual(try a.journalEntries().filter { $0.kind == .delivered }.compactMap(\.messageId), ["mem-1", "mem-2"])
    }

    /// A fresh spool and journal in a temporary directory, with a batcher over them.
    private func makeBatcher() throws -> (URL, SpoolLayout, Journal, CommitBatcher) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-batcher-\(UUID().uuidString.prefix(8))")
        let layout = SpoolLayout(spool: dir.appendingPathComponent("spool"), state: dir.appendingPathComponent("state"))
        try layout.create()
        let journal = try Journal(directory: layout.journal.path)
        return (dir, layout, journal, CommitBatcher(spool: layout.spool, journal: journal))
    }
}
