import Foundation
import StafettCrypto
import StafettJournal
import StafettModel
#if canImport(Glibc)
import Glibc
#endif

extension DeliveryScheduler {
    /// A receipt waiting to be recorded by the settler.
    struct Settlement {
        var entry: QueueEntry
        var start: QueueEntry?
        var receipt: Receipt
        var signed: Data
        /// Set when `signed` is a batch receipt covering other messages too: archived once, named
        /// by its digest.
        var batch: SignedBatchReceipt?
        var rt: NodeRuntime
        var lane: Lane
    }

    /// Records a receipt while the worker goes on to the next message: the receiver's flush and
    /// ours then overlap instead of taking turns. The message stays in flight until recorded.
    /// At most `settleSlots` receipts wait at once, so a slow disk slows delivery down.
    ///
    /// One settler at a time takes every receipt waiting and journals them in one commit: while
    /// it flushes, the next receipts gather, so a busy peer costs one journal flush per batch, not
    /// one per message, and no thread is parked per receipt (a thread and a commit per receipt
    /// cost about a tenth of the sending daemon's CPU in fsyncs and wake-ups).
    func settleInBackground(_ entry: QueueEntry, start: QueueEntry?, receipt: Receipt, signed: Data, batch: SignedBatchReceipt? = nil,
                            rt: NodeRuntime, lane: Lane) {
        settleSlots.wait()
        cond.lock()
        settling += 1
        toSettle.append(Settlement(entry: entry, start: start, receipt: receipt, signed: signed, batch: batch, rt: rt, lane: lane))
        let spawn = !settlerRunning
        settlerRunning = true
        cond.unlock()
        if spawn { DispatchQueue.global().async { [self] in drainSettlements() } }
    }

    /// The settler: records batches of receipts until none is waiting.
    private func drainSettlements() {
        while true {
            cond.lock()
            let batch = toSettle
            toSettle.removeAll(keepingCapacity: true)
            if batch.isEmpty {
                settlerRunning = false
                cond.unlock()
                return
            }
            let metas = batch.map { $0.lane.mayHaveMeta.contains($0.entry.messageId) }
            cond.unlock()
            let finished = settle(batch, mayHaveMeta: metas)
            cond.lock()
            var stillQueued: [ObjectIdentifier: Lane] = [:]
            for (s, done) in zip(batch, finished) {
                s.lane.inFlight.remove(s.entry.messageId)
                if done { s.lane.forget(s.entry.messageId) } else { stillQueued[ObjectIdentifier(s.lane)] = s.lane }
            }
            // A message still queued may be due and was passed over while in flight: a worker of
            // its lane looks again. One that left the queue needs no worker.
            for lane in stillQueued.values { lane.wakeOne() }
            settling -= batch.count
            cond.broadcast()  // `stop` waits for the settler
            cond.unlock()
            for _ in batch { settleSlots.signal() }
        }
    }

    /// Keeps the receipts in the archive and journals their outcomes (one commit for the batch),
    /// then takes the messages out of the queue into the archive, each only after its record is
    /// durable. Returns, per settlement, whether the message left the queue.
    ///
    /// A receipt is bound to its record by its SHA-256; the commit round makes the receipt durable
    /// under its archive name before the record is appended, so no record names a receipt a crash
    /// could lose. The record holds the peer's reason code, never its free-text detail, which
    /// stays in the receipt: the journal can never be edited.
    private func settle(_ batch: [Settlement], mayHaveMeta: [Bool]) -> [Bool] {
        var staged: [Int: (temporary: String, final: String)] = [:]
        var records: [JournalEntry] = []
        var failures: [Int: SpoolError] = [:]
        // A batch receipt covers several messages: kept once (`BatchReceiptArchive`), not per message.
        var batchReceipts: [String: (temporary: String, final: String)] = [:]
        for (i, s) in batch.enumerated() {
            do {
                if let covering = s.batch {
                    if batchReceipts[covering.digest] == nil {
                        batchReceipts[covering.digest] = try BatchReceiptArchive.stage(covering.bytes, digest: covering.digest,
                                                                                       archive: layout.archivePath).file
                    }
                } else {
                    try ensureArchiveDirectory(for: s.entry.peer)
                    staged[i] = try store.stageReceipt(s.signed, for: s.entry, archive: layout.archivePath)
                }
            } catch {
                failures[i] = error
                continue
            }
            let receipt = s.receipt
            var record = s.entry.outcomeRecord(receipt.status == .accepted ? .delivered : .rejected,
                                               sender: s.rt.config.node.organisation, status: receipt.status.rawValue,
                                               reason: receipt.reason?.rawValue)
            record.receiptDigest = s.batch?.digest ?? SHA256.hex(s.signed)
            records.append(record)
        }
        do {
            try batcher.commit(CommitItem(files: staged.keys.sorted().map { staged[$0]! } + batchReceipts.values, entries: records))
        } catch {
            for f in batchReceipts.values { unlink(f.temporary) }
            for i in batch.indices where failures[i] == nil {
                if let f = staged[i] { unlink(f.temporary) }  // a file the round renamed already is overwritten by the next try's
                failures[i] = error
            }
        }
        if failures.count < batch.count { CrashPoint.reach(CrashPoint.afterOutcomeJournaled) }
        return batch.enumerated().map { i, s in
            let entry = s.entry
            if let error = failures[i] {
                log.limited(.error, key: "settle", every: .seconds(10), "cannot record the receipt for \(entry.messageId): \(error)")
                var e = entry
                return fail(&e, "cannot record the receipt: \(error)", peerDown: false, start: s.start, lane: s.lane, rt: s.rt)
            }
            let kind: JournalKind = s.receipt.status == .accepted ? .delivered : .rejected
            // Counted once journaled: a move that fails now is finished later without a resend.
            metrics.count("stafett_delivered_total", labels: ["peer": entry.peer, "status": s.receipt.status.rawValue])
            if s.receipt.status != .accepted {
                log.warning("message \(entry.messageId) to \(entry.peer) was rejected: \(s.receipt.reason?.rawValue ?? "?"): \(s.receipt.detail ?? "")")
            }
            return finishJournaled(entry, kind, meta: mayHaveMeta[i])
        }
    }

    /// Creates the peer's archive directory the first time a receipt goes there in this run: a
    /// commit round renames into it, so it must exist before; checked once per peer, not per message.
    private func ensureArchiveDirectory(for peer: String) throws(SpoolError) {
        let known = cond.withLock { archiveDirectories.contains(peer) }
        guard !known else { return }
        try AtomicFile.makeDirectories(URL(fileURLWithPath: SpoolLayout.archiveDirectory(in: layout.archivePath, peer: peer),
                                           isDirectory: true))
        cond.withLock { _ = archiveDirectories.insert(peer) }
    }
}
