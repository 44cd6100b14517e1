import Foundation
import XCTest
import StafettJournal
@testable import StafettDaemon

/// A round with more messages than a window is signed, staged, journaled and queued window by
/// window, so that it never holds every signed message at once; the file is still taken whole.
final class IntakeWindowTests: XCTestCase {
    /// Three files, 36 messages, windows of 8: every message queued once, each window handed on
    /// as soon as it is durable (while the inputs are still in the outbox), the round's end told
    /// once, last, and every `queued` journaled before its file's `intake-accepted`.
    func testALargeRoundIsQueuedWindowByWindow() throws {
        let net = try TestNetwork()
        let (a, store) = try sender(net)
        let files = [("stor.csv", "BIG", 30), ("liten.csv", "SMALL", 3), ("annan.csv", "OTHER", 3)].map { name, tag, rows in
            let f = a.layout.outbox.appendingPathComponent(name)
            return (f, Data(IntakeProcessorTests.csv(tag, rows: rows).utf8))
        }
        for (f, data) in files { try AtomicFile.write(data, to: f) }
        var processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: store, batcher: a.batcher)
        processor.messagesPerWindow = 8
        let calls = WindowCalls()
        processor.onQueued = { queued, roundDone in
            let waiting = files.filter { FileManager.default.fileExists(atPath: $0.0.path) }.count
            for (e, _) in queued { XCTAssertTrue(FileManager.default.fileExists(atPath: store.messageURL(e).path), "told before it is in the queue") }
            calls.add(queued.map(\.entry.messageId.rawValue), roundDone: roundDone, inputsWaiting: waiting)
        }
        let results = processor.processRound(files.map(\.0))

        XCTAssertEqual(results.map { r in (try? r.get().queued.count) ?? -1 }, [30, 3, 3])
        let told = calls.all
        XCTAssertGreaterThanOrEqual(told.count, 5, "36 messages in windows of 8")
        XCTAssertEqual(told.map(\.roundDone), Array(repeating: false, count: told.count - 1) + [true])
        XCTAssertTrue(told.allSatisfy { $0.inputsWaiting == 3 }, "handed on before any input moved")
        let ids = told.flatMap(\.ids)
        XCTAssertEqual(ids.count, 36)
        XCTAssertEqual(Set(ids).count, 36)
        XCTAssertEqual(store.loadAll().count, 36)

        let journal = try a.journalEntries()
        XCTAssertEqual(Set(journal.filter { $0.kind == .queued }.compactMap(\.messageId)), Set(ids), "each queued message journaled")
        XCTAssertEqual(journal.filter { $0.kind == .queued }.count, 36)
        let lastQueued = try XCTUnwrap(journal.lastIndex { $0.kind == .queued })
        let firstAccepted = try XCTUnwrap(journal.firstIndex { $0.kind == .intakeAccepted })
        XCTAssertLessThan(lastQueued, firstAccepted)
        XCTAssertEqual(journal.filter { $0.kind == .intakeAccepted }.count, 3)
        for (f, _) in files {
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.path))
            XCTAssertTrue(FileManager.default.fileExists(atPath: a.layout.accepted.appendingPathComponent(f.lastPathComponent).path))
        }
        // No temporary queue file is left behind.
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: a.layout.queue.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [])
    }

    /// A crash between windows leaves the file in the outbox with part of it queued: taken again,
    /// it queues only the rest, and nothing twice.
    func testAFileTakenAgainAfterACrashBetweenWindowsQueuesOnlyTheRest() throws {
        let net = try TestNetwork()
        let (a, store) = try sender(net)
        let file = a.layout.outbox.appendingPathComponent("export.csv")
        let data = Data(IntakeProcessorTests.csv("PART", rows: 30).utf8)
        try AtomicFile.write(data, to: file)
        var processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: store, batcher: a.batcher)
        processor.messagesPerWindow = 8
        let first = try processor.process(file)
        XCTAssertEqual(first.1.count, 30)

        // As a crash after the first windows would leave it: 18 queued, 12 never staged, the input still in the outbox.
        let never = first.1.suffix(12)
        for e in never { XCTAssertEqual(unlink(store.messageURL(e).path), 0) }
        try AtomicFile.write(data, to: file)
        let queuedBefore = try a.journalEntries().filter { $0.kind == .queued }.count

        let again = try processor.process(file)
        guard case .accepted(30, _) = again.0 else { return XCTFail("\(again.0)") }
        XCTAssertEqual(Set(again.1.map(\.messageId)), Set(never.map(\.messageId)))
        XCTAssertEqual(store.loadAll().count, 30)
        XCTAssertEqual(try a.journalEntries().filter { $0.kind == .queued }.count - queuedBefore, 12)
    }
}

/// A sending node whose files go to its one peer.
private func sender(_ net: TestNetwork) throws -> (TestNode, QueueStore) {
    net.configureAllPeers()
    net.a.config.routing.defaultPeer = net.b.name
    return (net.a, try QueueStore(directory: net.a.layout.queue))
}

/// What `onQueued` was told, call by call, from the intake's threads.
private final class WindowCalls: @unchecked Sendable {
    struct Call { var ids: [String]; var roundDone: Bool; var inputsWaiting: Int }
    private let lock = NSLock()
    private var calls: [Call] = []
    func add(_ ids: [String], roundDone: Bool, inputsWaiting: Int) {
        lock.withLock { calls.append(Call(ids: ids, roundDone: roundDone, inputsWaiting: inputsWaiting)) }
    }
    var all: [Call] { lock.withLock { calls } }
}
