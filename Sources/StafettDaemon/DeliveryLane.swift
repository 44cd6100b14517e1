import Foundation
import StafettJournal
import StafettModel
import StafettTransport

extension DeliveryScheduler {
    /// One worker's wake-up call while it sleeps in its lane's `sleepers`.
    final class Sleeper: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
    }

    /// One peer's schedule. Every field is guarded by the scheduler's `cond`.
    ///
    /// Due messages wait in FIFO order in `due`; messages backing off sit in `later` until the
    /// earliest of them is due, so picking the next message costs O(1), not a scan of the queue.
    final class Lane: @unchecked Sendable {
        let name: String
        var connection: HTTPClient?
        var entries: [MessageID: QueueEntry] = [:]
        var due: [MessageID] = []
        var dueHead = 0
        var later: Set<MessageID> = []
        var earliestLater = Date.distantFuture
        var inFlight: Set<MessageID> = []
        var failures = 0
        var downUntil: Date?
        /// The first failure of the current outage (nil while the peer answers).
        var downSince: Date?
        var lastError: String?
        /// What `stafett_peer_up` says now (nil before the first attempt): set only when it changes.
        var reportedUp: Bool?
        /// Messages that may have a `.meta` on disk: those loaded from the queue directory (at
        /// start or on a rescan) and those whose retry state was written since. Messages queued by
        /// intake in this run have none until an attempt fails, or until `stafett queue` writes one,
        /// which it follows with SIGUSR1 and so a rescan; for them the per-attempt meta lookup, a
        /// miss in a directory of thousands of files, is skipped.
        var mayHaveMeta: Set<MessageID> = []
        /// Signed messages just queued by intake, kept for their first attempt (within `bodyBudget`).
        var bodies: [MessageID: Data] = [:]
        /// Messages whose outcome is journaled but which could not be taken out of the queue: their
        /// next attempt only takes them out, never sends them (`finishJournaled`).
        var journaled: [MessageID: JournalKind] = [:]
        /// Most messages the peer takes in one request, as its last answer offered
        /// (`Stafett-Batch: max=N`); 1 until it offers batches, and again once it stops.
        var batchOffer = 1
        /// Set when the peer refused a batch as unreadable (400): no more batches to it until a
        /// reload, whatever it offers, so a broken proxy or framing bug cannot loop.
        var batchesRefused = false
        /// The lane's workers asleep (nothing due, or the peer backing off), each on its own
        /// semaphore: work for this lane wakes one of them (`wakeOne`), where a broadcast on the
        /// scheduler's condition woke every worker of every peer after each intake round and each
        /// settle, most of them only to find nothing and sleep again.
        var sleepers: [Sleeper] = []
        init(name: String) { self.name = name }

        /// Wakes one sleeping worker, if any: it takes what is due, and wakes the next one if it
        /// leaves due messages behind (see `work`), or sleeps again until the earliest retry.
        func wakeOne() { sleepers.popLast()?.semaphore.signal() }

        /// Wakes every sleeping worker (the peer's back-off is over, or the scheduler stops).
        func wakeAll() {
            for s in sleepers { s.semaphore.signal() }
            sleepers.removeAll()
        }

        /// Whether a worker leaves due messages behind (or retries whose time has come): then it
        /// wakes a colleague for them. May say yes for entries that turn out held or in flight;
        /// the colleague then finds nothing and sleeps again.
        func hasMoreDue(now: Date) -> Bool { dueHead < due.count || earliestLater <= now }

        /// Forgets a message that left the queue.
        func forget(_ id: MessageID) {
            entries.removeValue(forKey: id)
            mayHaveMeta.remove(id)
            journaled.removeValue(forKey: id)
        }

        /// Files `entry` as due or later (held entries are kept but not scheduled).
        func file(_ entry: QueueEntry, now: Date) {
            entries[entry.messageId] = entry
            later.remove(entry.messageId)
            guard !entry.held else { return }
            let at = min(entry.nextAttempt, entry.expiresAt)
            if at <= now {
                due.append(entry.messageId)
            } else {
                later.insert(entry.messageId)
                earliestLater = min(earliestLater, at)
            }
        }

        /// The next due message not in flight, or nil; moves backed-off messages whose time has come.
        func next(now: Date) -> QueueEntry? {
            if earliestLater <= now {
                var earliest = Date.distantFuture
                for id in later {
                    guard let e = entries[id] else { later.remove(id); continue }
                    let at = min(e.nextAttempt, e.expiresAt)
                    if at <= now { later.remove(id); due.append(id) } else { earliest = min(earliest, at) }
                }
                earliestLater = earliest
            }
            // A due message still in flight (filed again by its own failed attempt, which another
            // worker reached first) keeps its place: dropped here, it would be in neither list once
            // its attempt ended, never tried again and never expired.
            var stillInFlight: [MessageID] = []
            defer { due.append(contentsOf: stillInFlight) }
            while dueHead < due.count {
                let id = due[dueHead]
                dueHead += 1
                guard let e = entries[id], !later.contains(id), !e.held else { continue }
                if inFlight.contains(id) { stillInFlight.append(id); continue }
                return e
            }
            due.removeAll(keepingCapacity: true)
            dueHead = 0
            return nil
        }
    }
}
