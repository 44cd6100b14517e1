import Foundation
import StafettJournal
import StafettModel

extension IntakeProcessor {
    /// A message intake has queued, with its signed XML while intake kept it in memory for its
    /// first attempt (at most `keptBytes` of a round); nil: the scheduler reads it from the queue.
    public typealias Queued = (entry: QueueEntry, signedXML: Data?)

    /// What became of one input of a round: its outcome and the messages it queued, or the error
    /// that left it in the outbox for another try.
    public typealias FileResult = Result<(outcome: IntakeOutcome, queued: [Queued]), SpoolError>

    /// The most signed XML a round keeps in memory for the messages' first attempt (the scheduler
    /// keeps at most `DeliveryScheduler.bodyBudget` of all rounds'): some thousands of messages,
    /// enough that a file of a few records goes out without reading its messages back.
    static let keptBytes = 8 << 20
    /// Processes inputs that arrived together as one round; returns each one's result, in order.
    ///
    /// Each input is read and decoded on its own, and a refused one goes to `failed/` on its own.
    /// The accepted ones then share every flush: one commit journals all their `queued` and
    /// `intake-accepted` records and then gives all their queue files their names, and one
    /// `AtomicFile.moveAll` files them all in `accepted/`. A file's cost at a thousand one-record
    /// files a second is then a share of a round's flushes, where alone it paid a commit and three
    /// fsyncs of its own. The order of "nothing lost" holds for every input of the round: no input
    /// moves before all the round's records and queue files are durable.
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
        var round: [(index: Int, input: Decoded)] = []
        var later: [Int] = []
        var held: [String] = []
        var ids: Set<String> = []
        // Taken out of the box: the decoded messages are let go of once they are staged.
        for (i, p) in prepared.take().enumerated() {
            switch p! {
            case .finished(let result): results[i] = result
            case .decoded(let input):
                if files.count == 1 {
                    gate?.enter(input.digest)
                } else {
                    let keys = zip(input.peers, input.messages).map { "\($0)/\($1!.header.messageId.rawValue)" }
                    if !ids.isDisjoint(with: keys) || !(gate?.tryEnter(input.digest) ?? true) {
                        later.append(i)
                        continue
                    }
                    ids.formUnion(keys)
                }
                held.append(input.digest)
                round.append((i, input))
            }
        }
        let indices = round.map(\.index)
        var inputs = round.map(\.input)
        round = []
        for (i, result) in zip(indices, commit(&inputs, now: now)) { results[i] = result }
        for digest in held { gate?.leave(digest) }
        for i in later { results[i] = processRound([files[i]], now: now)[0] }
        return results.map { $0! }
    }

    /// What a round did with one input's messages.
    private struct Enqueued {
        /// Queue files written and not yet given their names.
        var staged: [(temporary: String, final: String)] = []
        /// The messages staged, in the input's order.
        var written: [Queued] = []
        /// Messages still in the queue from an earlier try of the file.
        var known: [(peer: String, id: MessageID)] = []
        /// Their `queued` records, not yet journaled.
        var records: [JournalEntry] = []
        /// How many of `written` the scheduler has been told of.
        var told = 0
        /// What ends the input's part in the round early: refused (to `failed/`, nothing of it
        /// queued) or an error that leaves it in the outbox for another try.
        var finished: FileResult?

        /// Removes the queue files staged and not yet named: the round failed, or the input is
        /// refused or left for another try.
        mutating func unstage() {
            for f in staged { unlink(f.temporary) }
            staged = []
        }
    }

    /// Queues the round's inputs and files them away; each input's result, in order.
    ///
    /// A round of at most `window` messages is signed and staged at once, and its queue files
    /// take their names in the commit that journals `intake-accepted`. A larger one (an export
    /// of many thousand records) is queued window by window: each window's messages are signed,
    /// staged, journaled `queued` and given their names before the next is signed, so that the
    /// round holds its decoded records and their queue entries but never every signed message of
    /// them, several times the file. Each window is a state a crash may leave, as one at a time
    /// would be: the input is still in the outbox, and taking it again skips what is queued.
    /// So that a file is still queued whole or not at all, every message of such a round is first
    /// encoded and checked against the schema (the part of signing that depends on the message),
    /// and a file with one the schema refuses goes to `failed/` before any of it is queued.
    ///
    /// Once staged, the inputs' decoded messages are let go of (`round` keeps their files and
    /// names): what follows needs only their queue entries and records.
    private func commit(_ round: inout [Decoded], now: Date) -> [FileResult] {
        guard !round.isEmpty else { return [] }
        var inputs = [Enqueued](repeating: Enqueued(), count: round.count)
        var todo: [(input: Int, message: Int)] = []
        for (i, input) in round.enumerated() {
            for (j, (peer, m)) in zip(input.peers, input.messages.lazy.map { $0! }).enumerated() {
                // Done already, from an earlier try of the file (see `sealAndStage`). The queue is
                // asked first: a message only ever moves from the queue to the archive, so one
                // that moves between the two questions is still found in one of them.
                if store.contains(peer: peer, id: m.header.messageId) { inputs[i].known.append((peer, m.header.messageId)); continue }
                if layout.hasArchived(peer: peer, id: m.header.messageId) { continue }
                todo.append((i, j))
            }
            // Grown by doubling, a large export's list would be copied whole at every step.
            inputs[i].written.reserveCapacity(input.messages.count - inputs[i].known.count)
        }
        let windowed = todo.count > messagesPerWindow
        if windowed {
            for (i, why) in refusedBySchema(round, todo) { refuse(i, why, round, &inputs) }
            todo.removeAll { inputs[$0.input].finished != nil }
        }
        let counts = round.map(\.messages.count)
        let kept = KeptBytes(limit: Self.keptBytes)
        // Whether one of the round's commits flushed the spool's file system (see the moves below).
        var flushed = false
        var window = 0
        while window < todo.count {
            // An input left for another try (signing failed in an earlier window) signs no more.
            let part = todo[window ..< min(todo.count, window + messagesPerWindow)].filter { inputs[$0.input].finished == nil }
            window += messagesPerWindow
            let staged = sealAndStage(round, part, kept: kept, now: now)
            do throws(SpoolError) {
                try collect(staged, part, round, &inputs, windowed: windowed)
                // Signed and staged, a message's decoded form is not needed again: a large
                // export's records are let go of as its queue entries take their place.
                if windowed {
                    for at in part { round[at.input].messages[at.message] = nil }
                    // After the last window, before the scheduler takes the last entries in (its
                    // index may grow then), the emptied arrays go as well.
                    if window >= todo.count { for i in round.indices { (round[i].messages, round[i].peers) = ([], []) } }
                    flushed = try commitQueued(&inputs) || flushed
                    tellQueued(&inputs, roundDone: window >= todo.count)
                }
            } catch {
                for i in inputs.indices { inputs[i].unstage() }
                return round.indices.map { inputs[$0].finished ?? .failure(error) }
            }
        }
        for i in round.indices { (round[i].messages, round[i].peers) = ([], []) }
        var taken = round.indices.filter { inputs[$0].finished == nil }
        do throws(SpoolError) {
            // What is left (a round of one window: all of it) with the inputs' `intake-accepted`.
            flushed = try commitQueued(&inputs, accepted: taken.map { i in
                // Say so when messages were skipped, or "why was my file not sent again?" has no answer.
                let skipped = counts[i] - inputs[i].written.count
                let summary = "\(counts[i]) message(s)" + (skipped > 0 ? ", \(skipped) already queued or sent (same message ids)" : "")
                return JournalEntry(kind: .intakeAccepted, time: now, sender: runtime.config.node.organisation.digits,
                                    digest: round[i].digest, status: "accepted", reason: summary, file: round[i].name)
            }) || flushed
        } catch {
            for i in inputs.indices { inputs[i].unstage() }
            return round.indices.map { inputs[$0].finished ?? .failure(error) }
        }
        // Durable and in the queue: they may go now, while the inputs' moves are flushed.
        if !windowed { tellQueued(&inputs, roundDone: true) }
        // As the queue holds them (this run signed them anew, with another creation time and digest).
        let known = taken.flatMap { inputs[$0].known }
        if !known.isEmpty, let tell = stillQueued {
            let lifetime = runtime.config.delivery.maxLifetime.timeInterval
            tell(known.compactMap { peer, id in
                store.retryState(peer: peer, id: id)
                    ?? (try? QueueStore.entry(fromMessage: URL(fileURLWithPath: store.messagePath(peer: peer, id: id)), peer: peer, maxLifetime: lifetime))
            })
        }
        // An input replaced while it was read stays for the next try, which reads the new content.
        taken.removeAll { i in
            do throws(SpoolError) { try FileIdentity.check(round[i].file, still: round[i].identity); return false } catch {
                inputs[i].finished = .failure(error)
                return true
            }
        }
        // Every input was read in full before the round's first commit, and a commit with files
        // flushes the whole spool file system (`syncfs`) after it is handed in: the data of the
        // inputs on that file system is durable already, and the moves flush only their names
        // (one syncfs less per round). An input on another file system is flushed as before; a
        // round whose commits had no files (every message queued before) flushed nothing.
        // Intake moves an input only if it is still what was read (`FileIdentity`, above).
        let durable = flushed ? batcher.fileSystem : nil
        for (i, moved) in zip(taken, layout.moveAllToAccepted(taken.map { round[$0].file }, dataFlushedOn: durable)) {
            inputs[i].finished = moved.map { (.accepted(messages: counts[i], movedTo: $0), inputs[i].written) }
        }
        return inputs.map { $0.finished! }
    }

    /// Files a refused input in `failed/` with every reason, unstaging what it staged.
    private func refuse(_ i: Int, _ why: [String], _ round: [Decoded], _ inputs: inout [Enqueued]) {
        inputs[i].unstage()
        inputs[i] = Enqueued(finished: Result { () throws(SpoolError) in
            (try fail(round[i].file, round[i].identity, name: round[i].name, IntakeProblems(why)), [])
        })
    }

    /// The inputs of a windowed round with messages the schema refuses, and why, in order.
    private func refusedBySchema(_ round: [Decoded], _ todo: [(input: Int, message: Int)]) -> [(Int, [String])] {
        let sealer = runtime.sealer
        let refused = UnsafeSendableBox([String?](repeating: nil, count: todo.count))
        let chunk = 256
        DispatchQueue.concurrentPerform(iterations: (todo.count + chunk - 1) / chunk) { c in
            for k in c * chunk ..< min(todo.count, (c + 1) * chunk) {
                do throws(SealError) { try sealer.check(round[todo[k].input].messages[todo[k].message]!) } catch {
                    refused.set(k, "\(round[todo[k].input].name): \(error)")
                }
            }
        }
        var byInput: [Int: [String]] = [:]
        for (k, why) in refused.value.enumerated() { if let why { byInput[todo[k].input, default: []].append(why) } }
        return byInput.sorted { $0.key < $1.key }
    }

    /// Sorts a window's staged messages to their inputs. An input with a message that cannot be
    /// signed is refused whole, as a bad record would be; in a windowed round, where some of it
    /// may be queued already, it is left in the outbox instead, for another try. A message that
    /// could not be written (a full disk, most likely) throws, and the caller unstages the round.
    private func collect(_ staged: [Staging], _ part: [(input: Int, message: Int)], _ round: [Decoded],
                         _ inputs: inout [Enqueued], windowed: Bool) throws(SpoolError) {
        var failure: SpoolError?
        var unsigned: [Int: [String]] = [:]
        for (outcome, at) in zip(staged, part) {
            let i = at.input
            switch outcome {
            case let .staged(entry, file, record, xml):
                guard inputs[i].finished == nil else { unlink(file.temporary); continue }
                inputs[i].staged.append(file)
                inputs[i].written.append((entry, xml))
                inputs[i].records.append(record)
            case .unsigned(let why): unsigned[i, default: []].append(why)
            case .notWritten(let error): failure = failure ?? error
            }
        }
        for (i, why) in unsigned.sorted(by: { $0.key < $1.key }) where inputs[i].finished == nil {
            if windowed {
                inputs[i].unstage()
                inputs[i] = Enqueued(finished: .failure(SpoolError(path: round[i].file.path, operation: "intake",
                                                                   reason: "signing failed; the file is taken again later: \(why[0])")))
            } else {
                refuse(i, why, round, &inputs)
            }
        }
        if let failure { throw failure }
        // The queue files may have eaten into the space the journal needs: give them back and
        // leave the files in the outbox rather than journal onto a full disk.
        try checkSpace(URL(fileURLWithPath: layout.queue.path))
    }

    /// Journals the staged messages' `queued` records, with `accepted` after them, durably, and
    /// only then gives their queue files their names: one commit, one journal flush
    /// (`renameAfterJournal`). The scheduler delivers whatever is in the queue (at start, from
    /// disk), so a queue file must never have its name before its `queued` record is durable: its
    /// `delivered` must never come first, nor may a message be delivered that was never journaled
    /// `queued`. (A commit that renamed first needed a commit of its own for the records before
    /// it, a second journal flush per round.) A crash after the records and before the renames
    /// leaves the input in the outbox and its new messages only as temporaries, never sent: the
    /// input is taken again, and its messages are journaled `queued` and the file
    /// `intake-accepted` a second time (harmless, as any repeat of a crashed intake); no
    /// `delivered` can come before either record. Staged files stay listed if the commit fails,
    /// for the caller to remove.
    /// Returns whether the commit flushed the spool's file system (`CommitBatcher.commitReportingFlush`).
    private func commitQueued(_ inputs: inout [Enqueued], accepted: [JournalEntry] = []) throws(SpoolError) -> Bool {
        let records = inputs.flatMap(\.records) + accepted
        let files = inputs.flatMap(\.staged)
        guard !records.isEmpty || !files.isEmpty else { return false }
        let done = try batcher.commitReportingFlush(CommitItem(files: files, entries: records, renameAfterJournal: true))
        for i in inputs.indices { (inputs[i].records, inputs[i].staged) = ([], []) }
        return done.flushedFileSystem
    }

    /// Hands the messages just queued to the scheduler, with the signed XML kept for them.
    private func tellQueued(_ inputs: inout [Enqueued], roundDone: Bool) {
        var told: [Queued] = []
        for i in inputs.indices where inputs[i].finished == nil {
            told += inputs[i].written[inputs[i].told...]
            inputs[i].told = inputs[i].written.count
        }
        if !told.isEmpty || roundDone { onQueued?(told, roundDone) }
    }

    /// Signs a window's messages and writes each to its queue file's temporary name as soon as it
    /// is signed, with its `queued` record.
    ///
    /// A file read again after a crash: messages still queued, or already delivered or expired
    /// (the daemon delivers its queue at start, before the outbox is read), are done (`commit`
    /// leaves them out). Queuing those again would re-send them re-signed, under a digest the
    /// receiver's stored receipt can never match, and journal `queued` after `delivered`.
    ///
    /// Signing runs on every core, in chunks sealed back to back; a chunk that fails is sealed
    /// again one by one, so the report names each bad message. Only the first `keptBytes` of
    /// signed XML stay in memory, for the messages' first attempt.
    private func sealAndStage(_ round: [Decoded], _ part: [(input: Int, message: Int)], kept: KeptBytes, now: Date) -> [Staging] {
        let sealer = runtime.sealer
        let lifetime = runtime.config.delivery.maxLifetime.timeInterval
        let outcomes = UnsafeSendableBox([Staging?](repeating: nil, count: part.count))
        let chunk = 32
        DispatchQueue.concurrentPerform(iterations: (part.count + chunk - 1) / chunk) { c in
            let range = c * chunk ..< min(part.count, (c + 1) * chunk)
            let messages = range.map { round[part[$0].input].messages[part[$0].message]! }
            let sealed: [Result<SealedMessage, SealError>]
            if let all = try? sealer.seal(messages) {
                sealed = all.map { .success($0) }
            } else {
                sealed = messages.map { m in Result { () throws(SealError) in try sealer.seal(m) } }
            }
            for (k, result) in zip(range, sealed) {
                switch result {
                case .failure(let e): outcomes.set(k, .unsigned("\(round[part[k].input].name): \(e)"))
                case .success(let s):
                    let entry = QueueEntry(message: s.message, peer: round[part[k].input].peers[part[k].message], queuedAt: now,
                                           expiresAt: now.addingTimeInterval(lifetime), digest: s.digest)
                    do throws(SpoolError) {
                        let file = try store.stage(s.signedXML, for: entry)
                        let record = JournalEntry.about(s.message, kind: .queued, digest: s.digest, keyer: runtime.keyer,
                                                        caseRef: entry.caseRef, status: "queued", time: now)
                        outcomes.set(k, .staged(entry, file, record, kept.take(s.signedXML.count) ? s.signedXML : nil))
                    } catch {
                        outcomes.set(k, .notWritten(error))
                    }
                }
            }
        }
        return outcomes.take().map { $0! }
    }

    /// What became of one message in `sealAndStage`.
    private enum Staging {
        /// Signed and written to its temporary name, with its record and, if kept, its signed XML.
        case staged(QueueEntry, (temporary: String, final: String), JournalEntry, Data?)
        /// It could not be signed: why, for the input's report.
        case unsigned(String)
        /// It could not be written.
        case notWritten(SpoolError)
    }
}

/// How much signed XML a round still keeps in memory, taken from many threads.
private final class KeptBytes: @unchecked Sendable {
    private let lock = NSLock()
    private var left: Int
    init(limit: Int) { left = limit }
    /// Whether `count` more bytes may be kept (and, if so, they are counted).
    func take(_ count: Int) -> Bool {
        lock.withLock {
            guard count <= left else { return false }
            left -= count
            return true
        }
    }
}
