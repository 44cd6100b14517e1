import Foundation
import StafettCrypto

/// How a journal writes.
public struct JournalOptions: Sendable {
    /// A new segment starts when the current one would grow past this many bytes.
    public var maxSegmentBytes: Int64 = 64 << 20
    /// A signed checkpoint after this many records...
    public var checkpointEveryRecords: UInt64 = 10_000
    /// ...or this many seconds after the last one, whichever comes first (when records were added).
    public var checkpointInterval: TimeInterval = 60
    /// The node key that signs checkpoints; nil writes no checkpoints.
    public var signingKey: Key?
    /// Check every segment (CRC, chain, checkpoints) at open; false checks the last segment, and of
    /// the others only how they fit together (`segmentLinkDamage`), so open does not grow with the journal.
    public var verifyAllAtOpen = true
    /// Zeros written ahead of the records, this many bytes at a time; 0 writes none.
    ///
    /// An fdatasync that only overwrites blocks the file already has needs no file-system
    /// metadata commit; one that grows the file does. On ext4 that halves the cost of a group
    /// commit (the same trick as PostgreSQL's zero-filled WAL segments). Readers stop at the first
    /// zero length field, and `verify` checks that nothing but zeros follows it.
    public var preallocationBytes: Int64 = 1 << 20

    /// Creates options.
    public init(maxSegmentBytes: Int64 = 64 << 20, checkpointEveryRecords: UInt64 = 10_000,
                checkpointInterval: TimeInterval = 60, signingKey: Key? = nil, verifyAllAtOpen: Bool = true,
                preallocationBytes: Int64 = 1 << 20) {
        self.maxSegmentBytes = maxSegmentBytes
        self.checkpointEveryRecords = checkpointEveryRecords
        self.checkpointInterval = checkpointInterval
        self.signingKey = signingKey
        self.verifyAllAtOpen = verifyAllAtOpen
        self.preallocationBytes = max(0, preallocationBytes)
    }
}

/// What opening the journal found and did.
public struct JournalRecovery: Sendable {
    /// Records checked at open.
    public var recordsChecked: UInt64
    /// The last record's sequence number (0 for an empty journal).
    public var lastSequence: UInt64
    /// A torn tail that was cut back to the last whole record, if there was one.
    public var cutTail: JournalTail?
    /// Bytes removed from the tail.
    public var bytesCut: Int64
}

/// The append-only journal, for the one writer process (a `journal.lock` flock keeps others out).
///
/// Group commit: `append` encodes its record, numbers and chains it under a lock, then waits until
/// the record is durable. An appender that finds the journal idle flushes its own batch (one
/// `write`, one `fdatasync`); whatever queued meanwhile goes to the journal's one flusher, its
/// flush queue, which writes and syncs every pending record at once, again and again while
/// records keep coming, so concurrent appenders share fsyncs and the next batch fills while the
/// current one syncs. `appendAsync` does the same for Swift concurrency callers without holding a
/// thread: its task suspends. Both kinds share batches. Nothing returns before its record is on disk.
/// The daemon takes one path only: its `CommitBatcher` hands each round to `appendBatch`, one
/// round at a time. Concurrent `append` and `appendAsync` are for a second writer in the same
/// process (the benchmark's appender rows measure them); see docs/journal-format.md, "Which path
/// production takes".
/// After a failed write or sync the journal refuses all further appends (what reached the disk is
/// then unknown; reopening recovers).
public final class Journal: @unchecked Sendable {
    /// The journal directory.
    public let directory: String
    /// What open found.
    public let recovery: JournalRecovery
    private let options: JournalOptions
    private let cond = GroupCommitLock()
    private var lockFD: Int32
    private let hasher = StreamingSHA256()

    // Guarded by `cond`.
    private var nextSequence: UInt64
    private var previousHash: [UInt8]
    private var pending: [UInt8] = []
    private var spare: [UInt8] = []
    /// The payload being framed, kept to reuse its storage.
    private var payload: [UInt8] = []
    private var rollovers: [(at: Int, firstSequence: UInt64)] = []
    private var durableSequence: UInt64
    private var flushing = false
    private var failure: JournalError?
    private var segmentBytes: Int64
    private var sinceCheckpoint: UInt64 = 0
    private var lastCheckpointTime = Date()
    private var timer: DispatchSourceTimer?
    private var syncs: UInt64 = 0
    private var pendingRecords = 0
    /// The batch that records enqueued now will be flushed in.
    private var openBatch: UInt64 = 0
    /// Appenders waiting, by batch parity (the batch being flushed, and the one filling).
    private var waiters: [BatchWaiters] = [BatchWaiters(), BatchWaiters()]
    /// The journal's flusher: where every flush runs once the journal is busy, and every flush for
    /// suspended `appendAsync` callers, so no cooperative thread ever waits in `fdatasync`. It is
    /// only ever given work with `flushing` set on its behalf.
    private let flushQueue = DispatchQueue(label: "stafett.journal.flush")

    // Touched only by whoever holds the flush (`flushing` set: an appender that found the journal
    // idle, or the flusher), or under `cond` at open/close.
    private var fd: Int32
    /// Where the next record goes in the current segment: the end of its last whole record.
    private var writeOffset: Int64 = 0
    /// The current segment's size on disk: records, then zeros from `writeOffset` on.
    private var allocatedEnd: Int64 = 0

    /// Opens (creating if needed) the journal in `directory`, recovers a torn tail and checks the
    /// rest; throws `.damaged` when damage outside the tail needs an operator.
    public init(directory: String, options: JournalOptions = JournalOptions()) throws {
        self.directory = directory
        self.options = options
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw JournalError.io(path: directory, operation: "mkdir", errno: errno)
            }
        }
        let lockPath = directory + "/journal.lock"
        lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw JournalError.io(path: lockPath, operation: "open", errno: errno) }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(lockFD)
            throw JournalError.locked(directory: directory)
        }
        do {
            var (walk, cut, bytesCut) = try Journal.recover(directory: directory, options: options)
            recovery = JournalRecovery(recordsChecked: walk.records, lastSequence: walk.lastSequence,
                                       cutTail: cut, bytesCut: bytesCut)
            if walk.lastSegment == nil {
                // A new journal: the first segment.
                let path = directory + "/" + JournalFormat.segmentName(firstSequence: 1)
                fd = try Journal.createSegment(path: path, directory: directory,
                                               header: JournalFormat.header(firstSequence: 1, previousHash: walk.lastHash))
                walk.lastSegmentValidEnd = Int64(JournalFormat.headerSize)
                walk.nextSequence = 1
                allocatedEnd = walk.lastSegmentValidEnd
            } else {
                let path = walk.lastSegment!
                fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw JournalError.io(path: path, operation: "open", errno: errno) }
                var st = stat()
                guard fstat(fd, &st) == 0 else { throw JournalError.io(path: path, operation: "stat", errno: errno) }
                // The walk checked that only zeros follow the last record.
                allocatedEnd = max(Int64(st.st_size), walk.lastSegmentValidEnd)
            }
            writeOffset = walk.lastSegmentValidEnd
            nextSequence = walk.nextSequence
            durableSequence = walk.nextSequence - 1
            previousHash = walk.lastHash
            segmentBytes = walk.lastSegmentValidEnd
            sinceCheckpoint = walk.nextSequence - 1 - walk.lastCheckpoint
        } catch {
            Glibc.close(lockFD)
            throw error
        }
        pending.reserveCapacity(1 << 16)
        spare.reserveCapacity(1 << 16)
        if options.signingKey != nil && options.checkpointInterval > 0 { startTimer() }
    }

    deinit {
        timer?.cancel()
        if fd >= 0 { Glibc.close(fd) }
        if lockFD >= 0 { Glibc.close(lockFD) }
    }

    // MARK: Appending

    /// Appends one record and returns its sequence number once it is durable. Callers on many
    /// threads share fsyncs (the daemon's one writer uses `appendBatch` instead).
    @discardableResult
    public func append(_ entry: JournalEntry) throws(JournalError) -> UInt64 {
        let encoded = Journal.encode(entry)
        cond.lock()
        let seq: UInt64
        do { seq = try enqueueLocked(encoded) } catch { cond.unlock(); throw error }
        try awaitDurable(seq, batch: openBatch)
        return seq
    }

    /// Appends one record and returns its sequence number once it is durable, like `append`, but
    /// suspends the calling task instead of blocking its thread: the journal's flush queue (or a
    /// blocking appender leading a flush) writes and syncs the batch, then resumes every task it
    /// made durable. Cancelling the task does not withdraw the record: once enqueued it is written,
    /// and the call still returns only when it is durable (or the flush failed).
    @discardableResult
    public func appendAsync(_ entry: JournalEntry) async throws(JournalError) -> UInt64 {
        let encoded = Journal.encode(entry)
        let outcome = await withUnsafeContinuation { (waiting: AppendContinuation) in
            cond.lock()
            let seq: UInt64
            do throws(JournalError) { seq = try enqueueLocked(encoded) } catch {
                cond.unlock()
                waiting.resume(returning: .failure(error))
                return
            }
            waiters[Int(openBatch & 1)].tasks.append((waiting, seq))
            if !flushing {
                flushing = true
                flushQueue.async { self.flushLoop() }
            }
            cond.unlock()
        }
        return try outcome.get()
    }

    /// Appends records in order with one fsync and returns their sequence numbers once all are durable.
    @discardableResult
    public func appendBatch(_ entries: [JournalEntry]) throws(JournalError) -> [UInt64] {
        guard !entries.isEmpty else { return [] }
        let encoded = entries.map(Journal.encode)
        // All or nothing: an entry over the limit refuses the batch before any of it is written
        // (the sequence number adds at most 28 bytes to what is encoded here).
        if let big = encoded.first(where: { $0.afterSequence.count + 28 > JournalFormat.maxPayload }) {
            throw .entryTooLarge(bytes: big.afterSequence.count + 28)
        }
        cond.lock()
        var seqs: [UInt64] = []
        seqs.reserveCapacity(entries.count)
        do { for e in encoded { seqs.append(try enqueueLocked(e)) } } catch {
            // Records already enqueued are flushed with the next batch; this call reports the failure.
            if let last = seqs.last { try? awaitDurable(last, batch: openBatch) } else { cond.unlock() }
            throw error
        }
        try awaitDurable(nextSequence - 1, batch: openBatch)
        return seqs
    }

    /// Writes a signed checkpoint now (if there is a key and anything new since the last one).
    public func checkpoint() throws(JournalError) {
        cond.lock()
        guard options.signingKey != nil, sinceCheckpoint > 0 else { cond.unlock(); return }
        do { try enqueueCheckpointLocked() } catch { cond.unlock(); throw error }
        try awaitDurable(nextSequence - 1, batch: openBatch)
    }

    /// The sequence number of the last durable record.
    public var lastSequence: UInt64 {
        cond.lock()
        defer { cond.unlock() }
        return durableSequence
    }

    /// How many group commits (write + fdatasync) this journal has made since it was opened.
    public var syncCount: UInt64 {
        cond.lock()
        defer { cond.unlock() }
        return syncs
    }

    /// Seals the journal with a final checkpoint and stops appending.
    public func close() {
        timer?.cancel()
        try? checkpoint()
        cond.lock()
        defer { cond.unlock() }
        while flushing { cond.unlock(); usleep(1_000); cond.lock() }
        if failure == nil { failure = .closed(reason: "closed") }
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
        if lockFD >= 0 { _ = Glibc.close(lockFD); lockFD = -1 }  // releases the writer lock
    }

    /// An entry encoded but for its sequence number: done before taking the mutex, so that
    /// appenders encode in parallel and hold the mutex only to number, chain and frame.
    private struct Encoded {
        var afterSequence: [UInt8]
        var isCheckpoint: Bool
    }

    private static func encode(_ entry: JournalEntry) -> Encoded {
        // Only the journal seals: an entry calling itself a checkpoint without a seal is recorded as queued.
        let kind = entry.kind == .checkpoint && entry.checkpoint == nil ? .queued : entry.kind
        var bytes: [UInt8] = []
        bytes.reserveCapacity(320)
        EntryCodec.encodeAfterSequence(entry, kind: kind, into: &bytes)
        // The writer reserved room for every byte escaped, about six times what it wrote: a batch
        // of a large export's records would hold that until it is written.
        let tight = [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, count in
            count = bytes.withUnsafeBufferPointer { buffer.initialize(fromContentsOf: $0) }
        }
        return Encoded(afterSequence: tight, isCheckpoint: kind == .checkpoint)
    }

    private func enqueueLocked(_ entry: Encoded) throws(JournalError) -> UInt64 {
        if let failure { throw failure }
        payload.removeAll(keepingCapacity: true)
        EntryCodec.appendSequence(nextSequence, &payload)
        payload.append(contentsOf: entry.afterSequence)
        guard payload.count <= JournalFormat.maxPayload else { throw .entryTooLarge(bytes: payload.count) }
        let size = Int64(payload.count + JournalFormat.recordOverhead)
        if segmentBytes + size > options.maxSegmentBytes && segmentBytes > Int64(JournalFormat.headerSize) {
            rollovers.append((pending.count, nextSequence))
            pending.append(contentsOf: JournalFormat.header(firstSequence: nextSequence, previousHash: previousHash))
            segmentBytes = Int64(JournalFormat.headerSize)
        }
        previousHash = JournalFormat.frame(payload: payload, previousHash: previousHash, hasher: hasher, into: &pending)
        segmentBytes += size
        pendingRecords += 1
        let seq = nextSequence
        nextSequence += 1
        sinceCheckpoint += 1
        if options.signingKey != nil && !entry.isCheckpoint
            && (sinceCheckpoint >= options.checkpointEveryRecords
                || (options.checkpointInterval > 0 && Date().timeIntervalSince(lastCheckpointTime) >= options.checkpointInterval)) {
            try enqueueCheckpointLocked()
        }
        return seq
    }

    private func enqueueCheckpointLocked() throws(JournalError) {
        guard let key = options.signingKey else { return }
        let upTo = nextSequence - 1
        let hex = Data(previousHash).hexString
        let sig: Data
        do { sig = try key.sign(CheckpointSeal.signedBytes(upTo: upTo, chainHash: hex)) } catch {
            throw .signing(error.description)
        }
        let seal = CheckpointSeal(upTo: upTo, chainHash: hex, algorithm: key.algorithm.rawValue,
                                  signature: sig.base64EncodedString())
        sinceCheckpoint = 0
        lastCheckpointTime = Date()
        _ = try enqueueLocked(Journal.encode(JournalEntry(kind: .checkpoint, checkpoint: seal)))
        sinceCheckpoint = 0
    }

    /// Called with `cond` held; returns (or throws) with it released once `seq` is durable.
    ///
    /// An appender that finds no flush running makes one itself (no thread hand-off on an idle
    /// journal: a lone appender pays one fsync and no wake-up); one that finds a flush running
    /// sleeps until the flusher wakes it. Records that queued during the caller's own flush go to
    /// the flush queue rather than to the caller again or to another appender: one flusher, which
    /// never returns to an appender's call, and no leader hand-over (a thread wake-up each) per batch.
    private func awaitDurable(_ seq: UInt64, batch: UInt64) throws(JournalError) {
        if durableSequence >= seq { cond.unlock(); return }
        if let failure { cond.unlock(); throw failure }
        if flushing {
            let w = Waiter()
            waiters[Int(batch & 1)].threads.append(w)
            cond.unlock()
            switch w.wait() {
            case .durable: return
            case let .failed(e): throw e
            }
        }
        flushing = true
        let round = flushPendingLocked()
        // Every record enqueued before this appender took over is in what it flushed.
        assert(round.error != nil || round.upTo >= seq)
        handOverLocked()
        cond.unlock()
        round.done.wake(round.error)
        if let error = round.error { throw error }
    }

    /// Called with `cond` held after a flush made by an appender: the flush queue takes what queued
    /// meanwhile (`flushing` stays set for it), or `flushing` ends when nothing did (nobody then
    /// waits for the open batch: every waiter's record is pending until flushed).
    private func handOverLocked() {
        if failure == nil && pendingRecords > 0 {
            flushQueue.async { self.flushLoop() }
        } else {
            flushing = false
        }
    }

    /// The flush queue's work: group commits until nothing is pending, with `flushing` set on its
    /// behalf by whoever queued it. Greedy: each flush takes everything pending at once and the
    /// next starts as soon as its waiters are woken, without waiting for a batch to fill. The
    /// appenders it wakes queue their next records while that flush syncs, so on a busy journal
    /// the disk never idles and two alternating batches each hold about half the appenders.
    /// (Waiting for the woken appenders to fill one whole batch, as this queue used to, leaves
    /// the disk idle while two cores re-append 64 records: 64 records per flush plus refill gap
    /// measured 27–29× raw fsync, 32 per back-to-back flush 30–36×, on the 2-vCPU development VM.)
    private func flushLoop() {
        cond.lock()
        while failure == nil && pendingRecords > 0 {
            let round = flushPendingLocked()
            cond.unlock()
            round.done.wake(round.error)
            cond.lock()
        }
        flushing = false
        cond.unlock()
    }

    /// One group commit, led by the caller (who set `flushing`), with `cond` held on entry and on
    /// return (released during the I/O): writes and syncs everything pending and returns the last
    /// sequence number covered, the error if it failed (the journal then refuses further appends),
    /// and the waiters to wake once the mutex is released: those of the flushed batch, and on
    /// failure also those of the next (their records can no longer be written).
    private func flushPendingLocked() -> (upTo: UInt64, error: JournalError?, done: BatchWaiters) {
        var batchBytes = pending
        pending = spare
        pending.removeAll(keepingCapacity: true)
        let cuts = rollovers
        rollovers.removeAll(keepingCapacity: true)
        let upTo = nextSequence - 1
        pendingRecords = 0
        let flushed = Int(openBatch & 1)
        openBatch += 1
        cond.unlock()
        let error = flush(batchBytes, rollovers: cuts)
        cond.lock()
        batchBytes.removeAll(keepingCapacity: true)
        spare = batchBytes
        syncs += 1
        var done = waiters[flushed].take()
        if let error {
            failure = error
            let next = waiters[1 - flushed].take()
            done.threads += next.threads
            done.tasks += next.tasks
        } else {
            durableSequence = upTo
        }
        return (upTo, error, done)
    }

    /// Writes a batch (rolling over to new segments where marked) and makes it durable.
    private func flush(_ batch: [UInt8], rollovers: [(at: Int, firstSequence: UInt64)]) -> JournalError? {
        batch.withUnsafeBytes { all -> JournalError? in
            var from = 0
            for cut in rollovers {
                if cut.at > from, let e = writeRecords(UnsafeRawBufferPointer(rebasing: all[from..<cut.at])) { return e }
                // A finished segment ends at its last record: only the live segment has zeros after it.
                if allocatedEnd > writeOffset {
                    guard ftruncate(fd, off_t(writeOffset)) == 0 else {
                        return .io(path: directory, operation: "truncate", errno: errno)
                    }
                }
                guard fdatasync(fd) == 0 else { return .io(path: directory, operation: "fdatasync", errno: errno) }
                _ = Glibc.close(fd)
                let path = directory + "/" + JournalFormat.segmentName(firstSequence: cut.firstSequence)
                let end = min(all.count, cut.at + JournalFormat.headerSize)
                do {
                    fd = try Journal.createSegment(path: path, directory: directory,
                                                   header: Array(all[cut.at..<end]))
                } catch let e as JournalError { fd = -1; return e } catch { fd = -1; return .closed(reason: "\(error)") }
                writeOffset = Int64(end - cut.at)
                allocatedEnd = writeOffset
                from = end
            }
            if all.count > from, let e = writeRecords(UnsafeRawBufferPointer(rebasing: all[from...])) { return e }
            guard fdatasync(fd) == 0 else { return .io(path: directory, operation: "fdatasync", errno: errno) }
            return nil
        }
    }

    /// Writes records at `writeOffset`, first growing the zero-filled space when they would not fit.
    private func writeRecords(_ bytes: UnsafeRawBufferPointer) -> JournalError? {
        let needed = writeOffset + Int64(bytes.count)
        if needed > allocatedEnd && options.preallocationBytes > 0 {
            // Whole pages, so the zeros end on a block boundary.
            let target = (needed + options.preallocationBytes + 4095) & ~4095
            guard Journal.writeZeros(fd, from: allocatedEnd, to: target) else {
                return .io(path: directory, operation: "write", errno: errno)
            }
            allocatedEnd = target
        }
        guard Journal.pwriteAll(fd, bytes, at: writeOffset) else {
            return .io(path: directory, operation: "write", errno: errno)
        }
        writeOffset = needed
        allocatedEnd = max(allocatedEnd, needed)
        return nil
    }

    private func startTimer() {
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "stafett.journal.checkpoint"))
        let interval = options.checkpointInterval
        t.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(200))
        t.setEventHandler { [weak self] in
            guard let self else { return }
            self.cond.lock()
            let due = self.sinceCheckpoint > 0 && Date().timeIntervalSince(self.lastCheckpointTime) >= interval * 0.9
            self.cond.unlock()
            if due { try? self.checkpoint() }
        }
        t.resume()
        timer = t
    }
}
