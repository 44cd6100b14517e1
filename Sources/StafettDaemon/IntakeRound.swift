import Foundation
import StafettJournal
import StafettModel

extension IntakeProcessor {
    /// What became of one input of a round: its outcome and the messages it queued (with their
    /// signed XML), or the error that left it in the outbox for another try.
    public typealias FileResult = Result<(outcome: IntakeOutcome, queued: [(entry: QueueEntry, signedXML: Data)]), SpoolError>

    /// Processes inputs that arrived together as one round; returns each one's result, in order.
    ///
    /// Each input is read, decoded and sealed on its own, and a refused one goes to `failed/` on
    /// its own. The accepted ones then share every flush: one commit journals all their `queued`
    /// records, one commit gives all their queue files their names with their `intake-accepted`
    /// records, and one `AtomicFile.moveAll` files them all in `accepted/`. A file's cost at a
    /// thousand one-record files a second is then a share of a round's flushes, where alone it
    /// paid two commits and three fsyncs of its own. The order of "nothing lost" holds for every
    /// input of the round: no input moves before all the round's records and queue files are durable.
    public func processRound(_ files: [URL], now: Date = Date()) -> [FileResult] {
        guard !files.isEmpty else { return [] }
        // Nothing is taken while the disk is short: the files wait in the outbox for space.
        do { try checkSpace(files[0]) } catch { return files.map { _ in .failure(error) } }
        var results = [FileResult?](repeating: nil, count: files.count)
        let prepared = UnsafeSendableBox([Prepared?](repeating: nil, count: files.count))
        DispatchQueue.concurrentPerform(iterations: files.count) { i in prepared.set(i, prepare(files[i], now: now)) }

        // The same export dropped twice (under two names) yields the same message ids, and an XML
        // message carries its own: taken side by side, both would find nothing queued yet and queue
        // a message twice. Such an input waits for a round of its own after this one; one whose
        // content another round holds (`gate`) too. A round never waits while it holds a digest.
        var round: [(index: Int, input: Sealed)] = []
        var later: [Int] = []
        var held: [String] = []
        var ids: Set<String> = []
        for (i, p) in prepared.value.enumerated() {
            switch p! {
            case .finished(let result): results[i] = result
            case .sealed(let input):
                let keys = input.messages.map { "\($0.entry.peer)/\($0.entry.messageId.rawValue)" }
                if files.count == 1 {
                    gate?.enter(input.digest)
                } else if !ids.isDisjoint(with: keys) || !(gate?.tryEnter(input.digest) ?? true) {
                    later.append(i)
                    continue
                }
                held.append(input.digest)
                ids.formUnion(keys)
                round.append((i, input))
            }
        }
        for (i, result) in zip(round.map(\.index), commit(round.map(\.input), now: now)) { results[i] = result }
        for digest in held { gate?.leave(digest) }
        for i in later { results[i] = processRound([files[i]], now: now)[0] }
        return results.map { $0! }
    }

    /// What `stage` did with one input's sealed messages.
    private struct Enqueued {
        /// Queue files written, for the commit that files the input away to rename into place.
        var staged: [(temporary: String, final: String)] = []
        /// The messages staged, with their signed XML.
        var written: [(entry: QueueEntry, signedXML: Data)] = []
        /// Messages still in the queue from an earlier try of the file.
        var known: [QueueEntry] = []
        /// Their `queued` records.
        var records: [JournalEntry] = []
    }

    /// Queues the round's sealed inputs and files them away; each input's result, in order.
    private func commit(_ round: [Sealed], now: Date) -> [FileResult] {
        guard !round.isEmpty else { return [] }
        let enqueued: [Enqueued]
        do throws(SpoolError) {
            enqueued = try stage(round, now: now)
            let staged = enqueued.flatMap(\.staged)
            // `queued` is durable before the queue files appear (a commit of its own: a group
            // commit renames its files before it journals, which the receiver needs): the
            // scheduler may deliver a queued message at once (at start, from disk), and its
            // `delivered` must never come first, nor may a message be delivered that was never
            // journaled `queued`. A crash in between journals `queued` twice: harmless.
            let records = enqueued.flatMap(\.records)
            if !records.isEmpty { try batcher.commit(CommitItem(files: [], entries: records)) }
            // The queue files take their names in the commit that journals `intake-accepted`.
            try batcher.commit(CommitItem(files: staged, entries: zip(round, enqueued).map { input, queued in
                // Say so when messages were skipped, or "why was my file not sent again?" has no answer.
                let skipped = input.messages.count - queued.written.count
                let summary = "\(input.messages.count) message(s)" + (skipped > 0 ? ", \(skipped) already queued or sent (same message ids)" : "")
                return JournalEntry(kind: .intakeAccepted, time: now, sender: runtime.config.node.organisation.digits,
                                    digest: input.digest, status: "accepted", reason: summary, file: input.name)
            }))
        } catch {
            return round.map { _ in .failure(error) }
        }
        // Durable and in the queue: they may go now, while the inputs' moves are flushed.
        let written = enqueued.flatMap(\.written)
        if !written.isEmpty { onQueued?(written) }
        // As the queue holds them (this run signed them anew, with another creation time and digest).
        let known = enqueued.flatMap(\.known)
        if !known.isEmpty, let tell = stillQueued {
            tell(known.compactMap { e in
                store.retryState(of: e) ?? (try? QueueStore.entry(fromMessage: store.messageURL(e), peer: e.peer,
                                                                   maxLifetime: runtime.config.delivery.maxLifetime.timeInterval))
            })
        }
        // An input replaced while it was read stays for the next try, which reads the new content.
        var results = [FileResult?](repeating: nil, count: round.count)
        var moving: [Int] = []
        for (i, input) in round.enumerated() {
            do throws(SpoolError) { try FileIdentity.check(input.file, still: input.identity); moving.append(i) } catch { results[i] = .failure(error) }
        }
        for (i, moved) in zip(moving, layout.moveAllToAccepted(moving.map { round[$0].file })) {
            results[i] = moved.map { (.accepted(messages: round[i].messages.count, movedTo: $0), enqueued[i].written) }
        }
        return results.map { $0! }
    }

    /// Stages the queue files of messages not queued yet, with their `queued` records.
    ///
    /// A file read again after a crash: messages still queued, or already delivered or expired
    /// (the daemon delivers its queue at start, before the outbox is read), are done. Queuing
    /// those again would re-send them re-signed, under a digest the receiver's stored receipt
    /// can never match, and journal `queued` after `delivered`.
    private func stage(_ round: [Sealed], now: Date) throws(SpoolError) -> [Enqueued] {
        var all: [Enqueued] = []
        var staged: [(temporary: String, final: String)] = []
        do throws(SpoolError) {
            for input in round {
                var queued = Enqueued()
                for (entry, sealed) in input.messages where !layout.hasArchived(peer: entry.peer, id: entry.messageId) {
                    if store.contains(peer: entry.peer, id: entry.messageId) { queued.known.append(entry); continue }
                    let file = try store.stage(sealed.signedXML, for: entry)
                    staged.append(file)
                    queued.staged.append(file)
                    queued.written.append((entry, sealed.signedXML))
                    queued.records.append(JournalEntry.about(sealed.message, kind: .queued, digest: entry.digest, keyer: runtime.keyer,
                                                             caseRef: entry.caseRef, status: "queued", time: now))
                }
                all.append(queued)
            }
            // The queue files may have eaten into the space the journal needs: give them back and
            // leave the files in the outbox rather than journal onto a full disk.
            try checkSpace(URL(fileURLWithPath: layout.queue.path))
        } catch {
            // A full disk, most likely: no half-staged queue is left behind.
            for f in staged { unlink(f.temporary) }
            throw error
        }
        return all
    }
}
