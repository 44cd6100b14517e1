import Foundation
import StafettJournal
import StafettModel

// A message's outcome is journaled first and the message taken out of the queue after (nothing
// is lost if the second step never happens). A crash, or a failed move, between the two leaves a
// message whose outcome is already on record: sending it again would get the peer's original
// receipt and journal the outcome a second time. These finish such messages without sending them.

extension DeliveryScheduler {
    /// Where a message whose outcome is `kind` is archived: the archive, or its expired part.
    func archive(for kind: JournalKind) -> String {
        kind == .expired ? layout.expiredArchivePath : layout.archivePath
    }

    /// At start: takes out of the queue the messages whose outcome a crash left journaled but not
    /// settled, and returns the others, to be delivered. `outcomes` is what the journal holds for
    /// them (`StartupScan`); should the journal not have been readable, every message is
    /// delivered: an outcome recorded twice is better than a message never sent.
    func settleJournaledAtStart(_ entries: [QueueEntry], outcomes: Result<[String: JournalKind], any Error>) -> [QueueEntry] {
        guard !entries.isEmpty else { return entries }
        let found: [String: JournalKind]
        switch outcomes {
        case let .success(o): found = o
        case let .failure(error):
            log.error("cannot read the journal for outcomes a crash left unsettled: \(error); every queued message is sent")
            return entries
        }
        return entries.filter { entry in
            guard let kind = found[entry.messageId.rawValue] else { return true }
            log.notice("queue: \(entry.messageId) to \(entry.peer) was journaled \(kind.rawValue) before a crash; taken out of the queue now, not sent again")
            // Left in the queue, it is filed already, marked to be taken out later, never sent.
            finishJournaled(entry, kind)
            return false
        }
    }

    /// Takes a message whose outcome is journaled out of the queue. On failure it stays filed with
    /// its outcome noted, to be tried again in a minute without sending. True when it left the queue.
    @discardableResult
    func finishJournaled(_ entry: QueueEntry, _ kind: JournalKind, meta: Bool = true) -> Bool {
        do {
            try store.remove(entry, archivingTo: archive(for: kind), retryState: meta)
            return true
        } catch {
            log.limited(.error, key: "settle", every: .seconds(10),
                        "cannot take \(entry.messageId) out of the queue after journaling it \(kind.rawValue): \(error); trying again in a minute")
            cond.lock()
            let lane = laneLocked(entry.peer)
            lane.journaled[entry.messageId] = kind
            var again = entry
            again.nextAttempt = Date().addingTimeInterval(60)
            lane.mayHaveMeta.insert(entry.messageId)
            lane.file(again, now: Date())
            lane.wakeOne()
            cond.unlock()
            return false
        }
    }
}
