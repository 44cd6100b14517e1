import Foundation
import StafettCrypto
import XCTest
@testable import StafettJournal

/// Not a test on its own (run directly, it skips): it runs in a child process spawned by
/// `AsyncAppendTests` and appends from 64 tasks with `appendAsync` until it is killed, printing
/// `ack <seq> <message id>` only after each append has returned.
final class AsyncCrashWriterHelper: XCTestCase {
    func testAsyncWriterLoop() async throws {
        let (dir, keyPath) = try crashWriterSetting(parent: "AsyncAppendTests")
        let journal = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: 32_768, checkpointEveryRecords: 64,
                                                                          signingKey: try Key.privateKey(path: keyPath)))
        let tag = UUID().uuidString.prefix(8)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<64 {
                group.addTask {
                    for i in 1... {
                        let id = "\(tag)-\(t)-\(i)"
                        guard let seq = try? await journal.appendAsync(sampleEntry(i).with(messageId: id)) else { return }
                        let line = Array("ack \(seq) \(id)\n".utf8)
                        _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
                    }
                }
            }
        }
    }
}

final class AsyncAppendTests: XCTestCase {
    /// 64 tasks appending at once: distinct, gap-free sequence numbers (with the checkpoints the
    /// journal adds and across rollovers), each naming its own record, durable on return, and
    /// fsyncs really shared.
    func testConcurrentTasksGetGapFreeSequencesAndShareFsyncs() async throws {
        let parent = try makeTempDirectory("async")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let (j, dir) = try openRollingJournal(in: parent)
        let tasks = 64, each = 40
        let acked = try await appendFromTasks(j, tasks: tasks, each: each, tag: "a")
        XCTAssertEqual(acked.count, tasks * each, "every append got its own sequence number")
        let syncs = j.syncCount
        XCTAssertLessThanOrEqual(syncs * 2, UInt64(tasks * each), "tasks shared fsyncs: \(syncs) for \(tasks * each) records")
        j.close()
        try checkJournal(dir, holds: acked, segments: 5)
    }

    /// Blocking threads and suspended tasks on one journal: they share batches, and each gets
    /// the record it appended, durable when it returns.
    func testBlockingAndAsyncAppendersMix() async throws {
        let parent = try makeTempDirectory("mixed")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let (j, dir) = try openRollingJournal(in: parent)
        let threads = 16, each = 40
        let fromThreads = AckTable()
        let group = onThreads(threads) { t in
            for i in 0..<each {
                let id = "thread-\(t)-\(i)"
                guard let seq = try? j.append(sampleEntry(i).with(messageId: id)) else { return XCTFail("append failed") }
                XCTAssertLessThanOrEqual(seq, j.lastSequence, "returned before durable")
                fromThreads.add(seq, id)
            }
        }
        var acked = try await appendFromTasks(j, tasks: 48, each: each, tag: "task")
        await withCheckedContinuation { done in group.notify(queue: .global()) { done.resume() } }
        acked.merge(fromThreads.all) { a, _ in XCTFail("sequence given twice"); return a }
        XCTAssertEqual(acked.count, (threads + 48) * each)
        XCTAssertLessThan(j.syncCount, UInt64(acked.count), "fsyncs were shared")
        j.close()
        try checkJournal(dir, holds: acked, segments: 5)
    }

    /// A closed journal refuses an async append, as it does a blocking one.
    func testAsyncAppendAfterCloseThrows() async throws {
        let parent = try makeTempDirectory("closed")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: parent + "/j")
        let seq = try await j.appendAsync(sampleEntry(1))
        XCTAssertEqual(seq, 1)
        j.close()
        do {
            _ = try await j.appendAsync(sampleEntry(2))
            XCTFail("a closed journal took an append")
        } catch {
            guard case JournalError.closed = error else { return XCTFail("\(error)") }
        }
    }

    /// A cancelled task's append is not withdrawn: it still returns only once its record is
    /// durable, with the record's sequence number.
    func testCancelledTaskStillWaitsForDurability() async throws {
        let parent = try makeTempDirectory("cancel")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: parent + "/j")
        let appends = (0..<16).map { i in
            Task { try await j.appendAsync(sampleEntry(i).with(messageId: "cancelled-\(i)")) }
        }
        for t in appends { t.cancel() }
        var seqs: Set<UInt64> = []
        for t in appends {
            let seq = try await t.value
            XCTAssertLessThanOrEqual(seq, j.lastSequence, "returned before durable")
            seqs.insert(seq)
        }
        XCTAssertEqual(seqs, Set(1...16))
        j.close()
    }

    /// A write that fails (here: the file-size limit, EFBIG) fails the tasks and threads waiting for
    /// it, and every later append of either kind; what was acknowledged before is on disk.
    func testFailedFlushFailsEveryWaiterAndRefusesLaterAppends() async throws {
        let parent = try makeTempDirectory("efbig")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        // No zero fill: every batch grows the file, so the limit stops one.
        let j = try Journal(directory: dir, options: JournalOptions(preallocationBytes: 0))
        var acked = try await appendFromTasks(j, tasks: 8, each: 5, tag: "before")
        let restoreLimit = try limitFileSize(journal: dir, room: 2_000)  // a few records, not 64 × 10
        let outcomes = await withTaskGroup(of: Result<(UInt64, String), JournalError>.self) { group in
            for t in 0..<64 {
                group.addTask {
                    var last: Result<(UInt64, String), JournalError> = .failure(.closed(reason: "no append"))
                    for i in 0..<10 {
                        let id = "during-\(t)-\(i)"
                        do throws(JournalError) { last = .success((try await j.appendAsync(sampleEntry(i).with(messageId: id)), id)) } catch {
                            return .failure(error)
                        }
                        if case let .success((seq, _)) = last { XCTAssertLessThanOrEqual(seq, j.lastSequence) }
                    }
                    return last
                }
            }
            return await group.reduce(into: [Result<(UInt64, String), JournalError>]()) { $0.append($1) }
        }
        var blockingError: JournalError?
        do throws(JournalError) { try j.append(sampleEntry(0)) } catch { blockingError = error }
        var asyncError: JournalError?
        do throws(JournalError) { _ = try await j.appendAsync(sampleEntry(0)) } catch { asyncError = error }
        restoreLimit()

        let failed = outcomes.filter { if case .failure = $0 { true } else { false } }
        XCTAssertGreaterThan(failed.count, 0, "some tasks were waiting when the write failed")
        for case let .failure(e) in failed {
            guard case let .io(_, _, code) = e, code == EFBIG else { return XCTFail("unexpected \(e)") }
        }
        for case let .success((seq, id)) in outcomes { acked[seq] = id }
        guard case .io = blockingError, case .io = asyncError else {
            return XCTFail("a failed journal took an append: \(String(describing: blockingError)), \(String(describing: asyncError))")
        }
        j.close()
        // Reopening cuts what the failed write left and keeps every acknowledged record.
        let reopened = try Journal(directory: dir)
        reopened.close()
        try checkJournal(dir, holds: acked, gapFree: false)
    }

    /// Killed with SIGKILL while 64 tasks append: nothing that `appendAsync` acknowledged is lost.
    func testSIGKILLDuringAsyncAppendsLosesNothingAcknowledged() throws {
        try killWriterRepeatedly(helper: "StafettJournalTests.AsyncCrashWriterHelper/testAsyncWriterLoop", rounds: 8)
    }

    /// A journal in `parent` that rolls over every 16 KiB and seals every 100 records, so that
    /// concurrent appends cross segment starts and checkpoints; and its directory.
    private func openRollingJournal(in parent: String) throws -> (Journal, String) {
        let dir = parent + "/j"
        let options = JournalOptions(maxSegmentBytes: 16_384, checkpointEveryRecords: 100, signingKey: TestNode.key)
        return (try Journal(directory: dir, options: options), dir)
    }

    /// Appends `each` records from each of `tasks` tasks, one at a time; returns sequence number →
    /// message id, checking each is durable when its append returns.
    private func appendFromTasks(_ j: Journal, tasks: Int, each: Int, tag: String) async throws -> [UInt64: String] {
        try await withThrowingTaskGroup(of: [(UInt64, String)].self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var mine: [(UInt64, String)] = []
                    for i in 0..<each {
                        let id = "\(tag)-\(t)-\(i)"
                        let seq = try await j.appendAsync(sampleEntry(i).with(messageId: id))
                        XCTAssertLessThanOrEqual(seq, j.lastSequence, "returned before durable")
                        mine.append((seq, id))
                    }
                    return mine
                }
            }
            var all: [UInt64: String] = [:]
            for try await mine in group {
                for (seq, id) in mine { XCTAssertNil(all.updateValue(id, forKey: seq), "sequence \(seq) given twice") }
            }
            return all
        }
    }

    /// The journal in `dir` verifies (chain and checkpoint signatures), holds every acknowledged
    /// record under its sequence number, and (when `gapFree`) holds nothing else but checkpoints.
    private func checkJournal(_ dir: String, holds acked: [UInt64: String], gapFree: Bool = true, segments: Int = 1,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        var found: [UInt64: String] = [:]
        var expected: UInt64 = 1
        let walk = try JournalWalker(directory: dir, checkpointKey: try TestNode.certificate.publicKey()).walk { r in
            let e = try EntryCodec.decode(r.payload)
            XCTAssertEqual(e.sequence, expected, file: file, line: line)
            expected += 1
            if e.kind == .checkpoint { return }
            if let m = e.messageId, gapFree || acked[e.sequence] != nil { found[e.sequence] = m }
        }
        XCTAssertNil(walk.damage, file: file, line: line)
        XCTAssertEqual(walk.tail, .clean, file: file, line: line)
        XCTAssertEqual(found, acked, "acknowledged records missing, different, or extra", file: file, line: line)
        XCTAssertGreaterThanOrEqual(walk.segments, segments, file: file, line: line)
    }
}

/// Sequence number → message id, filled from many threads.
final class AckTable: @unchecked Sendable {
    private let lock = NSLock()
    private var table: [UInt64: String] = [:]
    func add(_ seq: UInt64, _ id: String) { lock.withLock { XCTAssertNil(table.updateValue(id, forKey: seq)) } }
    var all: [UInt64: String] { lock.withLock { table } }
}
