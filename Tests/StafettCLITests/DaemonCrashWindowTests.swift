import Foundation
import XCTest
@testable import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettJournal
import StafettModel
import StafettXML

/// The crash windows of intake, reproduced exactly instead of by a lucky SIGKILL: the disk is
/// left as a crash at that point would leave it, then the real daemon starts on it.
final class DaemonCrashWindowTests: XCTestCase {
    let A = Members.a.0, B = Members.b.0

    /// Where a crash left intake: which of its durable steps were done.
    enum Window {
        /// `queued` and `intake-accepted` journaled, queue files not yet named (the input is still
        /// in the outbox): what a round's commit leaves when the crash comes between its journal
        /// flush and its renames (`renameAfterJournal`).
        case journaledNotQueued
        /// `queued` journaled and the messages queued, the input not yet moved to accepted/.
        case queuedNotMoved
        /// Queue files renamed into place but nothing journaled: what one group commit of files
        /// and records (files first) leaves when the crash comes between the two; a spool from
        /// before the fix must still not re-send.
        case queuedNotJournaled
    }

    func testCrashAfterJournalBeforeQueue() throws { try crash(in: .journaledNotQueued) }
    func testCrashAfterQueueBeforeMove() throws { try crash(in: .queuedNotMoved) }
    func testCrashAfterQueueBeforeJournalInAnOldSpool() throws { try crash(in: .queuedNotJournaled) }

    /// Leaves A's disk as a crash in `window` would, then starts the real daemon on it. At restart
    /// the queue is delivered at once while the input is read again. Every message must be sent
    /// once and journaled `delivered` once, never `queued` after `delivered` (that would reopen it
    /// in the follow-up report), and nothing may be queued again after delivery.
    func crash(in window: Window) throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(B)
        let n = 6
        let tag = "WIN-\(UUID().uuidString.prefix(6))"
        let csv = DaemonHarness.csv(tag: tag, count: n)

        // Intake the file with the real processor, its outbox moves going to a scratch spool, and
        // its queue and journal either A's own or scratch ones, as the window needs.
        let entries = try simulate(window, h: h, inputs: [(tag, csv)])
        XCTAssertEqual(entries.count, n)
        XCTAssertEqual(h.queue(A).count, window == .journaledNotQueued ? 0 : n)
        try h.drop(csv, as: "\(tag).csv", into: A)

        try h.start(A)
        XCTAssertTrue(h.wait(30) {
            h.queue(A).isEmpty && h.inbox(B).count == n
                && FileManager.default.fileExists(atPath: h.a.layout.accepted.appendingPathComponent("\(tag).csv").path)
        }, "queue \(h.queue(A).count), inbox \(h.inbox(B).count)\n\(h.log(A))")
        usleep(1_000_000)  // a message queued again would be sent again by now
        XCTAssertTrue(h.queue(A).isEmpty, "nothing queued again after delivery: \(h.queue(A).map(\.lastError))")
        let ids = Set(entries.map(\.messageId.rawValue))
        XCTAssertEqual(try h.journaled(A, kind: "delivered").sorted(), ids.sorted(), "each message delivered (and journaled) once")
        XCTAssertEqual(try h.journaled(B, kind: "received").count, n)
        let queued = try h.journaled(A, kind: "queued")
        if window == .queuedNotMoved { XCTAssertEqual(queued.sorted(), ids.sorted(), "queued journaled once") }
        if window == .journaledNotQueued { XCTAssertEqual(Set(queued), ids, "queued journaled (twice is allowed)") }
        let kinds = try h.journal(A).compactMap { r -> (String, String)? in
            guard let k = r["kind"] as? String, let m = r["msg"] as? String else { return nil }
            return (m, k)
        }
        for id in ids {
            let order = kinds.filter { $0.0 == id }.map(\.1)
            XCTAssertEqual(order.last, "delivered", "\(id): \(order)")
            if window != .queuedNotJournaled { XCTAssertEqual(order.first, "queued", "\(id): \(order)") }
        }
        h.stop(A)
        let verify = try h.cli.run(["journal", "verify", "--journal", h.a.layout.journal.path, "--cert", h.a.tls("signing.crt")])
        XCTAssertEqual(verify.code, 0, verify.out + verify.err)
    }

    /// A round of three files, cut off after its commits while its inputs moved: every file's
    /// messages are queued and journaled, the first input is in accepted/ already, the others
    /// still in the outbox. At restart each message is sent once, journaled `queued` once and
    /// `delivered` once, and every input ends in accepted/.
    func testCrashInARoundOfFilesWhileItsInputsMove() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(B)
        let inputs = (0..<3).map { i -> (tag: String, csv: String) in
            let tag = "ROUND\(i)-\(UUID().uuidString.prefix(6))"
            return (tag, DaemonHarness.csv(tag: tag, count: 2))
        }
        let entries = try simulate(.queuedNotMoved, h: h, inputs: inputs)
        XCTAssertEqual(entries.count, 6)
        XCTAssertEqual(h.queue(A).count, 6)
        try AtomicFile.write(Data(inputs[0].csv.utf8), to: h.a.layout.accepted.appendingPathComponent("\(inputs[0].tag).csv"))
        for input in inputs.dropFirst() { try h.drop(input.csv, as: "\(input.tag).csv", into: A) }

        try h.start(A)
        let accepted = inputs.map { h.a.layout.accepted.appendingPathComponent("\($0.tag).csv").path }
        XCTAssertTrue(h.wait(30) {
            h.queue(A).isEmpty && h.inbox(B).count == 6 && accepted.allSatisfy { FileManager.default.fileExists(atPath: $0) }
        }, "queue \(h.queue(A).count), inbox \(h.inbox(B).count)\n\(h.log(A))")
        usleep(1_000_000)  // a message queued again would be sent again by now
        XCTAssertTrue(h.queue(A).isEmpty, "nothing queued again after delivery")
        let ids = entries.map(\.messageId.rawValue).sorted()
        XCTAssertEqual(try h.journaled(A, kind: "delivered").sorted(), ids, "each message delivered (and journaled) once")
        XCTAssertEqual(try h.journaled(A, kind: "queued").sorted(), ids, "queued journaled once")
        XCTAssertEqual(try h.journaled(B, kind: "received").count, 6)
        for input in inputs.dropFirst() {
            XCTAssertFalse(FileManager.default.fileExists(atPath: h.a.layout.outbox.appendingPathComponent("\(input.tag).csv").path))
        }
        h.stop(A)
        let verify = try h.cli.run(["journal", "verify", "--journal", h.a.layout.journal.path, "--cert", h.a.tls("signing.crt")])
        XCTAssertEqual(verify.code, 0, verify.out + verify.err)
    }

    /// A case worker drops the same export again after it was delivered: the same message ids
    /// come out, and nothing is queued or sent a second time (the receiver would answer with the
    /// original receipt, whose digest a re-signed copy can never match).
    func testSameFileDroppedAgainSendsNothingTwice() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(B)
        try h.start(A)
        let tag = "AGAIN-\(UUID().uuidString.prefix(6))"
        let csv = DaemonHarness.csv(tag: tag, count: 3)
        try h.drop(csv, as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "delivered", casePrefix: tag).count == 3 }, h.log(A))
        try h.drop(csv, as: "\(tag)-igen.csv", into: A)
        XCTAssertTrue(h.wait(20) { FileManager.default.fileExists(atPath: h.a.layout.accepted.appendingPathComponent("\(tag)-igen.csv").path) },
                      h.log(A))
        usleep(1_000_000)
        XCTAssertEqual(h.queueCount(A), 0, "nothing queued again: \(h.queue(A).map(\.lastError))")
        XCTAssertEqual(try h.journaled(A, kind: "queued", casePrefix: tag).count, 3)
        XCTAssertEqual(try h.journaled(A, kind: "delivered", casePrefix: tag).count, 3)
        XCTAssertEqual(try h.journaled(B, kind: "received").count, 3)
        let second = try XCTUnwrap(try h.journal(A).last { $0["kind"] as? String == "intake-accepted" && $0["file"] as? String == "\(tag)-igen.csv" })
        XCTAssertEqual(second["reason"] as? String, "3 message(s), 3 already queued or sent (same message ids)")
    }

    /// The receiver's crash window: the message is in B's inbox, but B died before journaling
    /// `received` (a group commit renames its files, then journals). A sends again (it never
    /// got the receipt): B is not fooled into a duplicate, stores it again and journals it once.
    func testReceiverCrashBetweenStoringAndJournaling() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(A)  // B is down: the message waits in A's queue
        let tag = "RCV-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: 1), as: "\(tag).csv", into: A)
        XCTAssertTrue(h.wait(20) { h.queue(A).first?.attempts ?? 0 > 0 }, h.log(A))
        let entry = try XCTUnwrap(h.queue(A).first)
        let signed = try Data(contentsOf: h.a.layout.queue.appendingPathComponent("\(B)/\(entry.messageId).xml"))
        try h.b.layout.create()
        let inboxName = "\(h.a.organisation.digits)_\(entry.messageId).xml"
        try signed.write(to: h.b.layout.inbox.appendingPathComponent(inboxName))

        try h.start(B)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "delivered", casePrefix: tag).count == 1 }, h.log(A))
        XCTAssertEqual(h.inbox(B), [inboxName])
        XCTAssertEqual(try h.journaled(B, kind: "received"), [entry.messageId.rawValue], "journaled once")
        let receipt = try ReceiptXML.read(try h.receipt(of: entry.messageId.rawValue, heldBy: A))
        XCTAssertEqual(receipt.status, .accepted)
        h.stop(B)
        let verify = try h.cli.run(["journal", "verify", "--journal", h.b.layout.journal.path, "--cert", h.b.tls("signing.crt")])
        XCTAssertEqual(verify.code, 0, verify.out + verify.err)
    }

    /// The sender's settling window: killed (SIGKILL, by its own crash point) after a receipt's
    /// outcome is journaled and before its message leaves the queue, 20 times over. A restart
    /// must take such a message out of the queue unsent: sent again, the peer answers with the
    /// original receipt, and the message would be journaled `delivered` a second time. In the
    /// end every message is journaled `delivered` exactly once, its receipt archived and bound.
    func testSenderKilledBetweenJournalingAndSettling20Times() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b]) { name, config in
            // One connection: a few receipts per run, so the kills spread over the messages.
            if name == Members.a.0 { config.delivery.connectionsPerPeer = 1 }
        }
        try h.start(B)
        let n = 60
        let tag = "KILL-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: n), as: "\(tag).csv", into: A)
        var kills = 0
        for _ in 0..<20 {
            let d = try h.start(A, environment: ["STAFETT_CRASH_AT": "after-outcome-journaled"], waitForPort: false)
            guard h.wait(60, { !d.isRunning }) else { XCTFail("A was not killed in the window\n\(h.lastLog(A))"); break }
            XCTAssertEqual(d.process.terminationReason, .uncaughtSignal, h.lastLog(A))
            XCTAssertEqual(d.process.terminationStatus, SIGKILL, h.lastLog(A))
            kills += 1
        }
        XCTAssertEqual(kills, 20)
        let before = try h.journaled(A, kind: "delivered", casePrefix: tag)
        XCTAssertGreaterThanOrEqual(before.count, 20, "each kill came after at least one delivery was journaled")
        XCTAssertLessThan(before.count, n, "some messages are left for the last run")

        try h.start(A)
        XCTAssertTrue(try h.wait(60) {
            try h.queueCount(A) == 0 && h.inbox(B).count == n && h.journaled(A, kind: "delivered", casePrefix: tag).count >= n
        }, "queue \(h.queueCount(A))\n\(h.lastLog(A))")
        usleep(1_000_000)  // a message sent again would be journaled again by now
        let delivered = try h.journaled(A, kind: "delivered", casePrefix: tag)
        XCTAssertEqual(delivered.count, n, "delivered records == messages")
        XCTAssertEqual(Set(delivered).count, n)
        XCTAssertEqual(try h.journaled(B, kind: "received").count, n, "the peer stored each once")
        XCTAssertTrue(h.log(A).contains("taken out of the queue now, not sent again"), "the window was hit and recovered")
        h.stop(A)
        var bound = 0
        try JournalStream(directory: h.a.layout.journal.path).readAvailable { raw in
            guard let e = try? EntryCodec.decode(raw.payload), e.kind == .delivered else { return }
            XCTAssertNil(e.receipt)
            let receipt = try ArchivedReceipt.read(for: e, archive: h.a.layout.archivePath)
            // Alone, its own receipt; in a batch, the batch receipt with an entry for it.
            let doc = try SchemaValidator.receipt.parseAndValidate(receipt)
            let covered = BatchReceiptXML.isBatch(doc)
                ? try BatchReceiptXML.decode(doc).receipt(for: MessageID(e.messageId ?? ""))?.refToMessageId
                : try ReceiptXML.decode(doc).refToMessageId
            XCTAssertEqual(covered?.rawValue, e.messageId)
            XCTAssertNotNil(e.intakeId)
            XCTAssertNotNil(e.eventTimeMillis)
            bound += 1
        }
        XCTAssertEqual(bound, n, "every delivered record binds an archived receipt")
        let verify = try h.cli.run(["journal", "verify", "--journal", h.a.layout.journal.path, "--cert", h.a.tls("signing.crt")])
        XCTAssertEqual(verify.code, 0, verify.out + verify.err)
    }

    /// Runs the real intake on copies of the files (one round) so that A's disk ends up as
    /// `window` describes. (A function of its own so the journal, and its lock, are released before A starts.)
    func simulate(_ window: Window, h: DaemonHarness, inputs: [(tag: String, csv: String)]) throws -> [QueueEntry] {
        let scratch = h.root.appendingPathComponent("scratch")
        let scratchLayout = SpoolLayout(spool: scratch.appendingPathComponent("spool"), state: scratch.appendingPathComponent("state"))
        try scratchLayout.create()
        try h.a.layout.create()
        let runtime = try NodeRuntime.load(StafettConfig.load(path: h.a.configPath))
        let journalDir = window == .queuedNotJournaled ? scratchLayout.journal : h.a.layout.journal
        let queueDir = window == .journaledNotQueued ? scratchLayout.queue : h.a.layout.queue
        let journal = try Journal(directory: journalDir.path, options: JournalOptions(signingKey: runtime.sealer.key))
        defer { journal.close() }
        let processor = IntakeProcessor(runtime: runtime, layout: scratchLayout, store: try QueueStore(directory: queueDir),
                                        batcher: CommitBatcher(spool: scratchLayout.spool, journal: journal))
        let scratchInputs = inputs.map { scratchLayout.outbox.appendingPathComponent("\($0.tag).csv") }
        for (input, file) in zip(inputs, scratchInputs) { try Data(input.csv.utf8).write(to: file) }
        var entries: [QueueEntry] = []
        for result in processor.processRound(scratchInputs) {
            let (outcome, queued) = try result.get()
            guard case .accepted = outcome else { throw StartupError("intake: \(outcome)") }
            entries += queued.map(\.entry)
        }
        return entries
    }
}
