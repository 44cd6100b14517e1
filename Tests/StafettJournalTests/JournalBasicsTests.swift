import Foundation
import StafettCrypto
import StafettModel
import XCTest
@testable import StafettJournal

final class JournalBasicsTests: XCTestCase {
    func testCRC32CCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Data("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum(Data(repeating: 0, count: 32)), 0x8A91_36AA)
    }

    func testPayloadRoundTripWithEscapesAndStableOrder() throws {
        var e = JournalEntry(kind: .refused, time: Date(timeIntervalSince1970: 1_448_000_000.123), messageId: "m-1",
                             caseRef: "case \"x\"\\y", intakeId: "TRE-1", dossierNumber: "15-123456",
                             personKey: "ff", eventType: "TransferSent", sender: "2120001124",
                             recipient: "2021005489", digest: "00", status: "400", reason: "tab\there\nåäö", file: "a.csv")
        e.sequence = 42
        let bytes = EntryCodec.encode(e)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"seq":42,"t":"2015-11-20T06:13:20.123Z","kind":"refused","msg":"m-1","case":"#), text)
        let back = try bytes.withUnsafeBytes { try EntryCodec.decode($0) }
        XCTAssertEqual(back, e)
        // Foundation agrees it is JSON.
        let obj = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        XCTAssertEqual(obj?["reason"] as? String, "tab\there\nåäö")
    }

    func testAppendReadVerifyAcrossRolloverWithCheckpoints() throws {
        let parent = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/journal"
        let opts = JournalOptions(maxSegmentBytes: 8_192, checkpointEveryRecords: 50, signingKey: TestNode.key)
        do {
            let j = try Journal(directory: dir, options: opts)
            for i in 0..<120 { XCTAssertEqual(try j.append(sampleEntry(i)), UInt64(i + 1 + i / 50)) }
            let seqs = try j.appendBatch((0..<300).map { sampleEntry($0, kind: .delivered) })
            XCTAssertEqual(seqs.count, 300)
            j.close()
        }
        let segments = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThan(segments.count, 5)
        var st = stat()
        stat(segments[0], &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o640, "operators read segments through the directory's group, whatever the umask")
        stat(dir, &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)

        let walk = try JournalWalker(directory: dir, checkpointKey: try TestNode.certificate.publicKey()).walk()
        XCTAssertNil(walk.damage)
        XCTAssertEqual(walk.tail, .clean)
        XCTAssertEqual(walk.firstSequence, 1)
        XCTAssertGreaterThanOrEqual(walk.checkpointsVerified, 8)
        XCTAssertEqual(walk.lastCheckpoint, walk.lastSequence, "close seals the journal")

        // Reopen continues the chain.
        let j = try Journal(directory: dir, options: opts)
        XCTAssertEqual(j.recovery.lastSequence, walk.lastSequence)
        XCTAssertEqual(try j.append(sampleEntry(1)), walk.lastSequence + 1)
        XCTAssertThrowsError(try Journal(directory: dir, options: opts)) { error in
            guard case JournalError.locked = error else { return XCTFail("\(error)") }
        }
        j.close()
        XCTAssertNil(try JournalWalker(directory: dir).walk().damage)
    }
}

final class CheckpointTimerTests: XCTestCase {
    /// An idle journal seals what it has after `checkpointInterval`, without further appends.
    func testTimerSealsIdleJournalAndVerifyFromSkipsEarlyHashes() throws {
        let parent = try makeTempDirectory("timer")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let j = try Journal(directory: dir, options: JournalOptions(checkpointInterval: 0.2, signingKey: TestNode.key))
        for i in 0..<5 { try j.append(sampleEntry(i)) }
        let deadline = Date().addingTimeInterval(5)
        var w = try JournalWalker(directory: dir).walk()
        while w.lastCheckpoint != 6 && Date() < deadline {
            usleep(50_000)
            w = try JournalWalker(directory: dir).walk()
        }
        XCTAssertEqual(w.lastCheckpoint, 6, "the timer wrote a checkpoint sealing records 1–5")
        j.close()
        // --from still reads (and CRC-checks) every record, hashing from record 4 on.
        let all = try JournalWalker(directory: dir, fromSequence: 4).walk()
        XCTAssertNil(all.damage)
        XCTAssertEqual(all.records, 6)
    }
}

final class GroupCommitTests: XCTestCase {
    /// Many threads appending at once: every append gets its own sequence number, all are durable
    /// when they return, and fsyncs are shared.
    func testConcurrentAppendersShareFsyncsAndGetDistinctSequences() throws {
        let parent = try makeTempDirectory("gc")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: parent + "/j", options: JournalOptions(maxSegmentBytes: 16_384))
        let threads = 32, each = 40
        let seen = SeqSet()
        onThreads(threads) { t in
            for i in 0..<each {
                if i % 10 == 9 {
                    let seqs = (try? j.appendBatch((0..<5).map { sampleEntry(t * 1000 + i * 10 + $0) })) ?? []
                    XCTAssertEqual(seqs.count, 5)
                    XCTAssertTrue(seqs.allSatisfy { $0 <= j.lastSequence })
                    seen.add(seqs)
                } else if let s = try? j.append(sampleEntry(t * 1000 + i)) {
                    XCTAssertLessThanOrEqual(s, j.lastSequence, "returned before durable")
                    seen.add([s])
                }
            }
        }.wait()
        let total = threads * (each - each / 10) + threads * (each / 10) * 5
        XCTAssertEqual(seen.count, total)
        XCTAssertEqual(seen.max, UInt64(total))
        XCTAssertLessThan(j.syncCount, UInt64(total), "appenders shared fsyncs")
        j.close()
        let w = try JournalWalker(directory: parent + "/j").walk()
        XCTAssertNil(w.damage)
        XCTAssertEqual(w.records, UInt64(total))
    }

    /// A lone appender on an idle journal flushes its own record: one fsync per append, each
    /// durable on return (no hand-off to the flush queue when nothing else queued).
    func testLoneAppenderMakesOneFsyncPerAppend() throws {
        let parent = try makeTempDirectory("lone")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let j = try Journal(directory: parent + "/j")
        for i in 1...20 {
            let seq = try j.append(sampleEntry(i))
            XCTAssertEqual(seq, UInt64(i))
            XCTAssertEqual(j.lastSequence, seq, "returned before durable")
            XCTAssertEqual(j.syncCount, UInt64(i))
        }
        j.close()
    }

    /// A write that fails (the file-size limit, EFBIG) while many threads wait for their batches:
    /// each waiter learns of the failure (the flusher wakes one, which relays to the rest), none
    /// reports success for a record that is not durable, and later appends are refused.
    /// A batch holding one entry over the size limit is refused whole, before any of it is
    /// written, and the journal goes on taking appends.
    func testABatchWithAnOversizedEntryWritesNothing() throws {
        let dir = try makeTempDirectory("big") + "/j"
        let j = try Journal(directory: dir)
        var big = sampleEntry(1)
        big.receipt = String(repeating: "x", count: JournalFormat.maxPayload)
        XCTAssertThrowsError(try j.appendBatch([sampleEntry(0), big, sampleEntry(2)])) { error in
            guard case JournalError.entryTooLarge = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try j.append(sampleEntry(3)), 1, "nothing of the refused batch took a sequence number")
        j.close()
        XCTAssertEqual(try JournalWalker(directory: dir).walk().records, 1)
    }

    func testFailedFlushWakesEveryWaitingThreadWithTheError() throws {
        let parent = try makeTempDirectory("efbig-threads")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let j = try Journal(directory: dir, options: JournalOptions(preallocationBytes: 0))
        try j.append(sampleEntry(0))
        let restoreLimit = try limitFileSize(journal: dir, room: 2_000)
        let acked = SeqSet(), failures = SeqSet()
        onThreads(48) { t in
            for i in 0..<10 {
                do throws(JournalError) {
                    let seq = try j.append(sampleEntry(t * 100 + i))
                    XCTAssertLessThanOrEqual(seq, j.lastSequence, "returned before durable")
                    acked.add([seq])
                } catch {
                    guard case let .io(_, _, code) = error, code == EFBIG else { return XCTFail("unexpected \(error)") }
                    failures.add([UInt64(t)])
                    return
                }
            }
        }.wait()
        var later: JournalError?
        do throws(JournalError) { try j.append(sampleEntry(1)) } catch { later = error }
        restoreLimit()
        XCTAssertEqual(failures.count, 48, "every thread saw the failure")
        guard case .io = later else { return XCTFail("a failed journal took an append: \(String(describing: later))") }
        j.close()
        let reopened = try Journal(directory: dir)
        // Records of the failed batch that reached the disk whole may survive too; none acknowledged is lost.
        XCTAssertGreaterThanOrEqual(reopened.recovery.lastSequence, acked.max, "every acknowledged record kept")
        if acked.count > 0 { XCTAssertEqual(acked.max, UInt64(acked.count + 1), "acknowledged records are gap-free") }
        reopened.close()
    }
}

final class SeqSet: @unchecked Sendable {
    private let lock = NSLock()
    private var set = Set<UInt64>()
    func add(_ s: [UInt64]) { lock.lock(); set.formUnion(s); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return set.count }
    var max: UInt64 { lock.lock(); defer { lock.unlock() }; return set.max() ?? 0 }
}

final class EntryBuilderTests: XCTestCase {
    /// A case message becomes a record with identifiers only, the personnummer keyed.
    func testAboutMessageKeepsOnlyMetadataAndKeysThePersonnummer() throws {
        let pin = try PersonalIdentityNumber("20050304-0008")
        let message = CaseMessage(
            header: MessageHeader(messageId: try MessageID("m-77"), createdAt: Date(), sender: try OrganisationNumber("2120001124"),
                                  recipient: try OrganisationNumber("2021005489")),
            child: Child(givenName: "Amir", familyName: "Rahimi",
                         identifiers: ChildIdentifiers(intakeId: "TRE-1", dossierNumber: "15-1", personalIdentityNumber: pin)),
            event: CaseEvent(type: .reportedMissing, time: Date(), place: "Trelleborg", note: "seen at the station"))
        let keyer = try PersonKeyer(secret: Data(repeating: 1, count: 32))
        let e = JournalEntry.about(message, kind: .queued, digest: "ab", keyer: keyer)
        let text = String(decoding: EntryCodec.encode(e), as: UTF8.self)
        for secret in ["Amir", "Rahimi", "station", "Trelleborg", "200503040008", "0503040008"] {
            XCTAssertFalse(text.contains(secret), "\(secret) leaked into \(text)")
        }
        XCTAssertEqual(e.personKey, keyer.key(pin))
        XCTAssertEqual(e.personKey?.count, 64)
        XCTAssertEqual(e.eventType, "ReportedMissing")
        XCTAssertEqual(e.sender, "2120001124")
        let f = JournalEntry.intake(accepted: false, file: "a.csv", digest: "cd", keyer: keyer, reason: "line 3: bad date")
        XCTAssertEqual(f.kind, .intakeFailed)
        XCTAssertEqual(f.reason, "line 3: bad date")
    }
}
