import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettXML
@testable import StafettDaemon

final class QueueStoreTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-queue-\(UUID())")
    }
    override func tearDownWithError() throws {
        journal?.close()
        try? FileManager.default.removeItem(at: dir)
    }
    var journal: Journal?
    var batcher: CommitBatcher?

    /// Makes messages durable in the queue the way intake does: each staged beside its place,
    /// then one commit round syncs them and renames them into place.
    func queue(_ batch: [(QueueEntry, Data)], in q: QueueStore) throws {
        if batcher == nil {
            let state = dir.appendingPathComponent("state/journal")
            try AtomicFile.makeDirectories(state)
            let j = try Journal(directory: state.path)
            journal = j
            batcher = CommitBatcher(spool: dir, journal: j)
        }
        try XCTUnwrap(batcher).commit(CommitItem(files: try batch.map { try q.stage($0.1, for: $0.0) }, entries: []))
    }

    /// A real signed message and its queue entry, as intake makes them.
    func sealed(_ id: String, peer: String = "migrationsverket") throws -> (QueueEntry, Data) {
        let created = Date(timeIntervalSince1970: 1_445_558_400.25)
        let m = CaseMessage(header: MessageHeader(messageId: try MessageID(id), createdAt: created,
                                                  sender: try OrganisationNumber("2120001165"),
                                                  recipient: try OrganisationNumber("2021002163")),
                            child: Child(givenName: "Amina", familyName: "Åström",
                                         identifiers: ChildIdentifiers(intakeId: "TBG-\(id)")),
                            event: CaseEvent(type: .registered, time: created))
        let s = try MessageSealer(key: Key.generate(), certificate: nil).seal(m)
        let entry = QueueEntry(message: m, peer: peer, queuedAt: created, expiresAt: created.addingTimeInterval(72 * 3600),
                               digest: s.digest)
        return (entry, s.signedXML)
    }

    func testABatchIsDurableKnownAndReadBackFromTheMessagesAlone() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let a = try sealed("a-0"), b = try sealed("a-1"), c = try sealed("a-0", peer: "polisen")
        XCTAssertFalse(q.contains(peer: a.0.peer, id: a.0.messageId))
        try queue([a, b, c], in: q)
        // Re-reading the same intake file yields the same ids: intake asks this before staging,
        // so nothing is queued twice.
        XCTAssertTrue(q.contains(peer: a.0.peer, id: a.0.messageId))
        XCTAssertTrue(q.contains(peer: "polisen", id: c.0.messageId))
        XCTAssertFalse(q.contains(peer: "polisen", id: b.0.messageId))
        let reopened = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let loaded = reopened.loadAll()
        XCTAssertEqual(Set(loaded.map { "\($0.peer)/\($0.messageId)" }), ["migrationsverket/a-0", "migrationsverket/a-1", "polisen/a-0"])
        // Without a meta file the entry is rebuilt from the signed message, digest included.
        XCTAssertEqual(loaded.first { $0.messageId == b.0.messageId && $0.peer == "migrationsverket" }, b.0)
        XCTAssertEqual(try reopened.signedMessage(of: b.0), b.1)
        // Only the messages exist: no meta, no temporary files.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("queue/migrationsverket").path)
        XCTAssertEqual(Set(names), ["a-0.xml", "a-1.xml"])
    }

    func testUpdateKeepsRetryStateAndRemoveArchivesTheMessage() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        var (a, xml) = try sealed("m-1")
        try queue([(a, xml)], in: q)
        a.attempts = 3
        a.lastError = "connect: connection refused"
        try q.update(a)
        XCTAssertEqual(q.loadAll().first?.attempts, 3)
        XCTAssertEqual(q.reload(a)?.lastError, "connect: connection refused")
        let archive = dir.appendingPathComponent("archive")
        try q.remove(a, archivingTo: archive)
        XCTAssertTrue(q.loadAll().isEmpty)
        XCTAssertNil(q.reload(a))
        XCTAssertEqual(try Data(contentsOf: archive.appendingPathComponent("migrationsverket/m-1.xml")), xml)
    }

    /// A torn or empty `.meta` (it is not synced) does not hide its message: the entry is read
    /// from the message again, and the damage is reported.
    func testATornRetryStateFallsBackToTheMessage() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        var (a, xml) = try sealed("t-1")
        try queue([(a, xml)], in: q)
        a.attempts = 2
        try q.update(a)
        for torn in [Data(), Data("{\"messageId\":\"t-".utf8)] {
            try torn.write(to: URL(fileURLWithPath: q.metaPath(peer: a.peer, id: a.messageId)))
            var errors: [String] = []
            let loaded = q.loadAll { errors.append($0) }
            XCTAssertEqual(loaded.map(\.messageId), [a.messageId])
            XCTAssertEqual(loaded.first?.attempts, 0, "rebuilt from the message")
            XCTAssertEqual(errors.count, 1, "\(errors)")
        }
    }

    /// Retry state written by root (`sudo stafett queue hold`) belongs to the queue directory's
    /// owner, so the daemon running as that user can read and replace it.
    func testRetryStateWrittenByRootBelongsToTheQueueOwner() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to write as root") }
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        var (a, xml) = try sealed("h-1")
        try queue([(a, xml)], in: q)
        let peerDir = dir.appendingPathComponent("queue/migrationsverket").path
        XCTAssertEqual(chown(peerDir, 65534, 65534), 0)
        a.attempts = 1
        try q.update(a)
        var st = stat()
        XCTAssertEqual(stat(q.metaPath(peer: a.peer, id: a.messageId), &st), 0)
        XCTAssertEqual(st.st_uid, 65534)
        XCTAssertEqual(st.st_gid, 65534)
        XCTAssertEqual(q.reload(a)?.attempts, 1)
    }

    /// The archive directory of a peer is made when the first message moves there (the rename's
    /// ENOENT says so); a second remove of the same message (a crash after the move) is harmless,
    /// and the meta goes either way.
    func testRemoveMakesTheArchiveDirectoryOnDemandAndToleratesAGoneMessage() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        var (a, xml) = try sealed("r-1")
        let (b, xmlB) = try sealed("r-2")
        try queue([(a, xml), (b, xmlB)], in: q)
        a.attempts = 1
        try q.update(a)
        let archive = dir.appendingPathComponent("spool/archive").path
        XCTAssertFalse(AtomicFile.isDirectory(archive))
        try q.remove(a, archivingTo: archive)
        XCTAssertEqual(try AtomicFile.readIfPresent(archive + "/migrationsverket/r-1.xml"), xml)
        XCTAssertNil(try AtomicFile.readIfPresent(dir.path + "/queue/migrationsverket/r-1.meta"))
        try q.remove(a, archivingTo: archive)
        try q.remove(b, archivingTo: archive)
        XCTAssertEqual(try AtomicFile.readIfPresent(archive + "/migrationsverket/r-2.xml"), xmlB)
        XCTAssertTrue(q.loadAll().isEmpty)
        // Something in the way of the archive is reported with the target's path.
        let (c, xmlC) = try sealed("r-3", peer: "polisen")
        try queue([(c, xmlC)], in: q)
        try Data().write(to: URL(fileURLWithPath: archive + "/polisen"))
        XCTAssertThrowsError(try q.remove(c, archivingTo: archive)) { e in
            XCTAssertTrue("\(e)".contains(archive + "/polisen"), "\(e)")
        }
        XCTAssertEqual(try q.signedMessage(of: c), xmlC)
    }

    /// A temporary left by a crash mid-intake does not stand in the way: staging takes a fresh
    /// name, the message is queued and read back alone, and the leftover goes at the next start.
    func testAStaleTemporaryDoesNotStandInTheWayAndGoesAtStart() throws {
        let layout = SpoolLayout(spool: dir.appendingPathComponent("spool"), state: dir.appendingPathComponent("state"))
        let q = try QueueStore(directory: layout.queue)
        let (a, xml) = try sealed("s-1")
        let peerDir = layout.queue.appendingPathComponent("migrationsverket")
        try FileManager.default.createDirectory(at: peerDir, withIntermediateDirectories: true)
        try Data("<half".utf8).write(to: peerDir.appendingPathComponent(".s-1.xml.1234.tmp"))
        try queue([(a, xml)], in: q)
        XCTAssertEqual(try q.signedMessage(of: a), xml)
        XCTAssertEqual(q.loadAll().map(\.messageId), [a.messageId])
        let removed = layout.removeStaleTemporaries(olderThan: 0, now: Date().addingTimeInterval(5))
        XCTAssertEqual(removed.map { URL(fileURLWithPath: $0).lastPathComponent }, [".s-1.xml.1234.tmp"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: peerDir.path), ["s-1.xml"])
    }

    /// A message id may start with '.' (the schema allows it); its queue file must still be found
    /// after a restart, while temporary files (which end in .tmp) stay ignored.
    func testAMessageWhoseIdStartsWithADotIsReloaded() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let dotted = try sealed(".dot-1")
        try queue([dotted], in: q)
        let reopened = try QueueStore(directory: dir.appendingPathComponent("queue"))
        XCTAssertEqual(reopened.loadAll().map(\.messageId.rawValue), [".dot-1"])
    }

    func testTemporaryFilesAreIgnoredAndGarbageIsReported() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let peerDir = dir.appendingPathComponent("queue/migrationsverket")
        try FileManager.default.createDirectory(at: peerDir, withIntermediateDirectories: true)
        try Data("<half".utf8).write(to: peerDir.appendingPathComponent(".x-1.xml.tmp"))
        try Data("garbage".utf8).write(to: peerDir.appendingPathComponent("x-2.xml"))
        var errors: [String] = []
        XCTAssertTrue(q.loadAll(onError: { errors.append($0) }).isEmpty)
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors[0].contains("x-2.xml"))
    }
}

/// `stafett queue hold` (another process) and the delivery worker recording a failed attempt both
/// write `<id>.meta`; the operator's hold must survive every interleaving.
extension QueueStoreTests {
    /// Many rounds of: a worker records attempt after attempt while an operator holds the message
    /// at an arbitrary moment. Unlocked read-then-write loses the hold whenever the operator's
    /// write lands between the worker's read and its write.
    func testAHoldWrittenWhileAttemptsAreRecordedIsNeverLost() throws {
        let store = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let (entry, xml) = try sealed("race-1")
        try queue([(entry, xml)], in: store)

        let rounds = 40
        var lost = 0
        for round in 0..<rounds {
            var fresh = entry
            fresh.held = false
            try store.update(fresh)
            let start = DispatchSemaphore(value: 0)
            let done = DispatchSemaphore(value: 0)
            // The operator: a snapshot read earlier, `held` set and written whole (the old way of
            // `stafett queue`, and still the worst case for the worker's side).
            let operatorThread = Thread {
                var held = store.reload(entry) ?? entry
                held.held = true
                start.wait()
                usleep(UInt32.random(in: 0...3_000))
                _ = try? store.update(held)
                done.signal()
            }
            operatorThread.start()
            start.signal()
            // The worker: attempts failing back to back for longer than the operator takes to act,
            // each from the retry state it read at its start, as DeliveryScheduler.attempt does.
            let until = Date().addingTimeInterval(0.008)
            var attempt = entry
            var started = store.retryState(of: entry)
            while Date() < until {
                attempt.attempts += 1
                attempt.lastError = "HTTP 503 round \(round)"
                attempt.held = false  // what the worker picked up was not held
                _ = try store.recordAttempt(attempt, startedFrom: started)
                started = store.retryState(of: entry)
            }
            done.wait()
            _ = try store.recordAttempt(attempt, startedFrom: started)  // and once more after the operator surely acted
            if store.reload(entry)?.held != true { lost += 1 }
        }
        XCTAssertEqual(lost, 0, "the hold was overwritten in \(lost) of \(rounds) rounds")
    }
}

/// `stafett queue retry|hold|release` changes only what it is about, on the state on disk under
/// the message's lock; a worker's attempt keeps what the operator asked for meanwhile.
extension QueueStoreTests {
    /// The CLI read the queue, then the worker recorded an attempt, then the CLI acts: the
    /// attempt count and last error are the worker's, the hold (or next attempt) the operator's.
    func testAnOperatorChangeKeepsTheAttemptRecordedSinceItsRead() throws {
        let store = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let (entry, xml) = try sealed("cli-1")
        try queue([(entry, xml)], in: store)
        let snapshot = try XCTUnwrap(store.loadAll().first)  // what `stafett queue hold` read

        var attempt = entry
        attempt.attempts = 1
        attempt.lastError = "HTTP 503 Service Unavailable"
        attempt.nextAttempt = Date().addingTimeInterval(600)
        let recorded = try XCTUnwrap(try store.recordAttempt(attempt, startedFrom: nil))
        XCTAssertFalse(recorded.operatorActed)

        let held = try XCTUnwrap(try store.update(snapshot) { $0.held = true })
        XCTAssertTrue(held.held)
        XCTAssertEqual(held.attempts, 1)
        XCTAssertEqual(held.lastError, "HTTP 503 Service Unavailable")
        let onDisk = try XCTUnwrap(store.reload(entry))
        XCTAssertEqual(onDisk, held)
        XCTAssertEqual(onDisk.nextAttempt.timeIntervalSinceNow, 600, accuracy: 5, "a hold leaves the back-off alone")

        let now = Date()
        let retried = try XCTUnwrap(try store.update(snapshot) { $0.nextAttempt = now })
        XCTAssertTrue(retried.held, "retry leaves the hold alone")
        XCTAssertEqual(retried.attempts, 1)

        // Nothing is written for a message that left the queue.
        try store.remove(entry, archivingTo: dir.appendingPathComponent("archive"))
        XCTAssertNil(try store.update(snapshot) { $0.held = true })
        XCTAssertNil(store.retryState(of: entry))
    }

    /// `retry` (or `release`) while an attempt is in flight: the attempt's failure records its
    /// count and error, but the next attempt stays "now", not the attempt's back-off.
    func testARetryDuringAnAttemptIsNotPushedBackByItsBackoff() throws {
        let store = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let (entry, xml) = try sealed("cli-2")
        try queue([(entry, xml)], in: store)
        for (round, action) in ["retry", "release", "retry-with-meta"].enumerated() {
            if action == "retry-with-meta" {
                var earlier = entry
                earlier.attempts = 5
                earlier.nextAttempt = Date().addingTimeInterval(-1)
                try store.update(earlier)
            }
            let started = store.retryState(of: entry)  // the worker picks the message up
            var attempt = started ?? entry
            let asked = Date()
            _ = try store.update(entry) { e in   // the operator acts while the attempt is on the wire
                e.nextAttempt = asked
                if action == "release" { e.held = false }
            }
            attempt.attempts += 1
            attempt.lastError = "connect: connection refused (round \(round))"
            attempt.nextAttempt = Date().addingTimeInterval(900)  // the attempt's back-off
            let saved = try XCTUnwrap(try store.recordAttempt(attempt, startedFrom: started))
            XCTAssertTrue(saved.operatorActed, action)
            XCTAssertEqual(saved.entry.nextAttempt.timeIntervalSince1970, asked.timeIntervalSince1970, accuracy: 1, action)
            XCTAssertEqual(saved.entry.attempts, attempt.attempts, action)
            XCTAssertEqual(saved.entry.lastError, attempt.lastError, action)
            let onDisk = try XCTUnwrap(store.reload(entry))
            XCTAssertEqual(onDisk.attempts, saved.entry.attempts, action)
            XCTAssertEqual(onDisk.nextAttempt.timeIntervalSince1970, asked.timeIntervalSince1970, accuracy: 1, action)

            // The next attempt, with no operator in between, backs off as usual.
            let next = store.retryState(of: entry)
            var again = try XCTUnwrap(next)
            again.attempts += 1
            again.nextAttempt = Date().addingTimeInterval(900)
            let backedOff = try XCTUnwrap(try store.recordAttempt(again, startedFrom: next))
            XCTAssertFalse(backedOff.operatorActed, action)
            XCTAssertEqual(backedOff.entry.nextAttempt.timeIntervalSinceNow, 900, accuracy: 5, action)
        }
    }

    /// The CLI and a worker, many times over, in every interleaving the scheduler gives: the
    /// attempt count on disk never goes back, the last error is the worker's, and the hold stays.
    func testConcurrentOperatorActionsNeverLoseAttempts() throws {
        let store = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let (entry, xml) = try sealed("cli-3")
        try queue([(entry, xml)], in: store)
        let rounds = 40
        var problems: [String] = []
        for round in 0..<rounds {
            var fresh = entry
            fresh.held = false
            fresh.attempts = 0
            try store.update(fresh)
            let snapshot = store.reload(entry) ?? entry  // what `stafett queue` read before acting
            let go = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
            let operatorThread = Thread {
                go.wait()
                usleep(UInt32.random(in: 0...3_000))
                _ = try? store.update(snapshot) { $0.held = true }
                done.signal()
            }
            operatorThread.start()
            go.signal()
            var attempts = 0
            let until = Date().addingTimeInterval(0.008)
            while Date() < until {
                let started = store.retryState(of: entry)
                var attempt = started ?? entry
                guard !attempt.held else { break }  // the worker does not attempt a held message
                attempts = attempt.attempts + 1
                attempt.attempts = attempts
                attempt.lastError = "HTTP 503 round \(round) attempt \(attempts)"
                _ = try store.recordAttempt(attempt, startedFrom: started)
            }
            done.wait()
            let onDisk = try XCTUnwrap(store.reload(entry))
            if !onDisk.held { problems.append("round \(round): hold lost") }
            if onDisk.attempts != attempts { problems.append("round \(round): \(onDisk.attempts) attempts on disk, \(attempts) made") }
            if attempts > 0 && onDisk.lastError != "HTTP 503 round \(round) attempt \(attempts)" {
                problems.append("round \(round): last error \(onDisk.lastError ?? "none")")
            }
        }
        XCTAssertEqual(problems, [])
    }
}

