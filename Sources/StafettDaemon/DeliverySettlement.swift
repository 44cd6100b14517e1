import Foundation
import StafettJournal
import StafettModel

extension DeliveryScheduler {
    /// A receipt waiting to be recorded by the settler.
    struct Settlement {
        var entry: QueueEntry
        var start: QueueEntry?
        var receipt: Receipt
        var signed: Data
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
    func settleInBackground(_ entry: QueueEntry, start: QueueEntry?, receipt: Receipt, signed: Data, rt: NodeRuntime, lane: Lane) {
        settleSlots.wait()
        cond.lock()
        settling += 1
        toSettle.append(Settlement(entry: entry, start: start, receipt: receipt, signed: signed, rt: rt, lane: lane))
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
            for (s, done) in zip(batch, finished) {
                s.lane.inFlight.remove(s.entry.messageId)
                if done { s.lane.forget(s.entry.messageId) }
            }
            settling -= batch.count
            cond.broadcast()
            cond.unlock()
            for _ in batch { settleSlots.signal() }
        }
    }

    /// Journals the receipts (in full, one commit for the batch) and takes the messages out of the
    /// queue into the archive, each only after its record is durable. Returns, per settlement,
    /// whether the message left the queue.
    private func settle(_ batch: [Settlement], mayHaveMeta: [Bool]) -> [Bool] {
        let records = batch.map { s -> JournalEntry in
            let (entry, receipt) = (s.entry, s.receipt)
            var record = JournalEntry(kind: receipt.status == .accepted ? .delivered : .rejected, messageId: entry.messageId.rawValue,
                                      caseRef: entry.caseRef, eventType: entry.eventType.rawValue,
                                      sender: s.rt.config.node.organisation.digits, recipient: entry.recipient.digits,
                                      digest: entry.digest, status: receipt.status.rawValue,
                                      reason: receipt.reason.map { "\($0.rawValue): \(receipt.detail ?? "")" })
            // The signed receipt goes into the journal itself: evidence nobody can edit, and no file
            // of its own to create and flush (`stafett receipt ID` prints it).
            record.receipt = String(decoding: s.signed, as: UTF8.self)
            return record
        }
        var committed: SpoolError?
        do { try batcher.commit(CommitItem(files: [], entries: records)) } catch { committed = error }
        return zip(batch, mayHaveMeta).map { s, meta in
            let entry = s.entry
            do {
                if let committed { throw committed }
                try store.remove(entry, archivingTo: layout.archivePath, retryState: meta)
            } catch {
                log.limited(.error, key: "settle", every: .seconds(10), "cannot record the receipt for \(entry.messageId): \(error)")
                var e = entry
                return fail(&e, "cannot record the receipt: \(error)", peerDown: false, start: s.start, lane: s.lane, rt: s.rt)
            }
            metrics.count("stafett_delivered_total", labels: ["peer": entry.peer, "status": s.receipt.status.rawValue])
            if s.receipt.status != .accepted {
                log.warning("message \(entry.messageId) to \(entry.peer) was rejected: \(s.receipt.reason?.rawValue ?? "?"): \(s.receipt.detail ?? "")")
            }
            return true
        }
    }
}
