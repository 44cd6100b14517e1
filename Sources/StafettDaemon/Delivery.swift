import Foundation
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML

/// What one delivery attempt came to.
enum AttemptOutcome {
    /// A verified receipt came back (accepted or rejected): the message leaves the queue.
    case receipt(Receipt, signed: Data)
    /// The peer could not be reached or the connection broke: the whole peer backs off.
    case peerDown(String)
    /// The peer answered but not with a usable receipt (5xx, bad receipt): this message backs off.
    case retry(String)
}

/// Delivers queued messages, one lane per peer, each lane with a few worker threads that own
/// keep-alive connections. A failing message backs off alone; an unreachable peer backs off as
/// a whole; one bad message never blocks the others.
public final class DeliveryScheduler: @unchecked Sendable {
    private let cond = NSCondition()
    private var lanes: [String: Lane] = [:]
    private var running = true
    private var activeWorkers = 0
    private var settling = 0
    private let settleSlots = DispatchSemaphore(value: 64)
    /// Receipts waiting for the settler, and whether one runs (guarded by `cond`).
    private var toSettle: [Settlement] = []
    private var settlerRunning = false
    private var runtime: NodeRuntime
    private let store: QueueStore
    private let layout: SpoolLayout
    private let batcher: CommitBatcher
    private let metrics: Metrics
    private let log: Logger

    /// One peer's schedule. Every field is guarded by the scheduler's `cond`.
    ///
    /// Due messages wait in FIFO order in `due`; messages backing off sit in `later` until the
    /// earliest of them is due, so picking the next message costs O(1), not a scan of the queue.
    final class Lane: @unchecked Sendable {
        let name: String
        var connection: PeerConnection?
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
        init(name: String) { self.name = name }

        /// Forgets a message that left the queue.
        func forget(_ id: MessageID) {
            entries.removeValue(forKey: id)
            mayHaveMeta.remove(id)
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

    /// Creates a scheduler; call `start` to spawn the workers.
    public init(runtime: NodeRuntime, store: QueueStore, layout: SpoolLayout, batcher: CommitBatcher,
                metrics: Metrics, log: Logger) {
        self.runtime = runtime
        self.store = store
        self.layout = layout
        self.batcher = batcher
        self.metrics = metrics
        self.log = log
    }

    /// Loads the queue directory and starts delivering.
    public func start() {
        add(store.loadAll(maxLifetime: runtime.config.delivery.maxLifetime.timeInterval, onError: { self.log.error($0) }))
    }

    /// Schedules entries found on disk (or whose retry state may be on disk). Known entries not in
    /// flight are replaced.
    public func add(_ entries: [QueueEntry]) {
        cond.lock()
        let now = Date()
        for e in entries {
            let lane = laneLocked(e.peer)
            lane.mayHaveMeta.insert(e.messageId)
            if !lane.inFlight.contains(e.messageId) { lane.file(e, now: now) }
        }
        updateGaugesLocked()
        cond.broadcast()
        cond.unlock()
    }

    /// Schedules queued messages the scheduler does not know yet (intake found them in the queue
    /// from an earlier try of their file); those it knows keep their place and state.
    public func adopt(_ entries: [QueueEntry]) {
        cond.lock()
        let now = Date()
        for e in entries {
            let lane = laneLocked(e.peer)
            guard lane.entries[e.messageId] == nil, !lane.inFlight.contains(e.messageId) else { continue }
            lane.mayHaveMeta.insert(e.messageId)
            lane.file(e, now: now)
        }
        updateGaugesLocked()
        cond.broadcast()
        cond.unlock()
    }

    /// Schedules messages intake has just made durable in the queue, with their signed bytes: they
    /// have no retry state yet, and their first attempt sends the bytes from memory (while the
    /// messages kept stay within `bodyBudget`) instead of reading the file back.
    public func addQueued(_ queued: [(entry: QueueEntry, signedXML: Data)]) {
        cond.lock()
        let now = Date()
        for (e, xml) in queued {
            let lane = laneLocked(e.peer)
            if lane.inFlight.contains(e.messageId) { continue }
            if lane.bodies[e.messageId] == nil, bodyBytes + xml.count <= Self.bodyBudget {
                lane.bodies[e.messageId] = xml
                bodyBytes += xml.count
            }
            lane.file(e, now: now)
        }
        updateGaugesLocked()
        cond.broadcast()
        cond.unlock()
    }

    /// The largest receipt accepted from a peer (ours are about 2 KB).
    static let maxReceiptBytes = 64 << 10

    /// At most this many bytes of signed messages are kept in memory for their first attempt; a
    /// larger backlog is read from the queue directory as it is sent.
    static let bodyBudget = 32 << 20
    /// Bytes in the lanes' `bodies` (guarded by `cond`).
    private var bodyBytes = 0

    /// Re-reads the queue directory (after `stafett queue hold/release/retry`, or SIGHUP).
    /// Peers' back-off is forgotten too: an operator's `retry` means now, not when a peer's
    /// back-off (up to `max-backoff`) would have ended.
    public func rescan() {
        forgetPeersBackoff()
        add(store.loadAll(maxLifetime: runtime.config.delivery.maxLifetime.timeInterval, onError: { self.log.error($0) }))
    }

    /// Applies a reloaded configuration: connections are rebuilt on next use.
    public func reload(_ rt: NodeRuntime) {
        cond.lock()
        runtime = rt
        let old = lanes.values.compactMap(\.connection)
        for lane in lanes.values { lane.connection = nil }
        cond.unlock()
        forgetPeersBackoff()
        for c in old { c.close() }
    }

    /// Every peer is tried again at once (an operator's retry, a reload), and `stafett queue` no
    /// longer shows a back-off. Wakes the workers waiting out a back-off.
    private func forgetPeersBackoff() {
        cond.lock()
        for lane in lanes.values { lane.downUntil = nil; lane.downSince = nil; lane.failures = 0 }
        let names = Array(lanes.keys)
        cond.broadcast()
        cond.unlock()
        for name in names { store.notePeerUp(name) }
    }

    /// Stops taking new attempts and waits for the ones in flight (SIGTERM's drain).
    public func stop() {
        cond.lock()
        running = false
        cond.broadcast()
        while activeWorkers > 0 || settling > 0 { cond.wait() }
        let conns = lanes.values.compactMap(\.connection)
        cond.unlock()
        for c in conns { c.close() }
    }

    /// Per-peer summary for logs and tests: (waiting, down until, last error).
    public func status() -> [String: (waiting: Int, downUntil: Date?, lastError: String?)] {
        cond.lock()
        defer { cond.unlock() }
        return lanes.mapValues { ($0.entries.count, $0.downUntil, $0.lastError) }
    }

    private func laneLocked(_ name: String) -> Lane {
        if let l = lanes[name] { return l }
        let lane = Lane(name: name)
        lanes[name] = lane
        let workers = max(1, runtime.config.delivery.connectionsPerPeer)
        activeWorkers += workers
        for i in 0..<workers {
            let t = Thread { [self] in self.work(lane) }
            t.name = "deliver-\(name)-\(i)"
            t.start()
        }
        return lane
    }

    private var lastGauges = Date.distantPast

    /// Refreshes the queue gauges, at most once a second (they scan every lane).
    private func updateGaugesLocked() {
        let now = Date()
        guard now.timeIntervalSince(lastGauges) >= 1 else { return }
        lastGauges = now
        for lane in lanes.values {
            metrics.set("stafett_queue_messages", labels: ["peer": lane.name], Double(lane.entries.count))
            let oldest = lane.entries.values.map(\.queuedAt).min()
            metrics.set("stafett_queue_oldest_seconds", labels: ["peer": lane.name], oldest.map { now.timeIntervalSince($0) } ?? 0)
        }
    }

    /// A worker: picks the oldest due message of its lane and attempts it, until stopped.
    private func work(_ lane: Lane) {
        cond.lock()
        defer {
            activeWorkers -= 1
            cond.broadcast()
            cond.unlock()
        }
        while running {
            let now = Date()
            if let down = lane.downUntil, down > now {
                _ = cond.wait(until: down)
                continue
            }
            guard let entry = lane.next(now: now) else {
                _ = cond.wait(until: min(lane.earliestLater, now.addingTimeInterval(30)))
                continue
            }
            lane.inFlight.insert(entry.messageId)
            let mayHaveMeta = lane.mayHaveMeta.contains(entry.messageId)
            let body = lane.bodies.removeValue(forKey: entry.messageId)
            bodyBytes -= body?.count ?? 0
            let rt = runtime
            if lane.connection == nil, let peer = rt.peers[lane.name] {
                lane.connection = makeConnection(peer, rt)
            }
            let connection = lane.connection
            cond.unlock()
            let finished = attempt(entry, mayHaveMeta: mayHaveMeta, body: body, connection: connection, rt: rt, lane: lane)
            cond.lock()
            if let finished {
                lane.inFlight.remove(entry.messageId)
                if finished { lane.forget(entry.messageId) }
            }
            updateGaugesLocked()
        }
    }

    private func makeConnection(_ peer: LoadedPeer, _ rt: NodeRuntime) -> PeerConnection? {
        do {
            let tls = try TLSClientContext(rt.tls, serverTrust: peer.trust)
            let conf = HTTPClientConfiguration(host: peer.config.address.host, port: peer.config.address.port,
                                               maxConnections: max(1, rt.config.delivery.connectionsPerPeer))
            return PeerConnection(configuration: conf, tls: tls)
        } catch {
            log.limited(.error, key: "tls-\(peer.config.name)", every: .seconds(60), "peer \(peer.config.name): \(error)")
            return nil
        }
    }

    /// One attempt; returns true when the message left the queue (expiry), false when it waits
    /// for another attempt, nil when its receipt is being recorded in the background.
    ///
    /// `mayHaveMeta` is false for a message intake queued in this run and never failed (see
    /// `Lane.mayHaveMeta`); `body` is its signed message when kept in memory.
    private func attempt(_ original: QueueEntry, mayHaveMeta: Bool, body: Data?, connection: PeerConnection?, rt: NodeRuntime,
                         lane: Lane) -> Bool? {
        // An operator may have held or released it since we loaded it. What the meta says now is
        // also what `fail` compares with, to tell an operator's change during the attempt.
        let start = mayHaveMeta ? store.retryState(of: original) : nil
        // Only this daemon takes messages out of the queue, and never one in flight: bytes kept
        // from intake are still queued.
        guard var entry = start ?? (body != nil || store.contains(peer: original.peer, id: original.messageId) ? original : nil) else {
            return true
        }
        if entry.held { schedule(entry, lane: lane); return false }
        if entry.expiresAt <= Date() { return expire(entry, rt: rt, lane: lane) }
        guard let peer = rt.peers[entry.peer] else {
            return fail(&entry, "no peer named \(entry.peer) in the configuration", peerDown: true, start: start, lane: lane, rt: rt)
        }
        guard let connection else {
            return fail(&entry, "cannot set up TLS for peer \(entry.peer)", peerDown: true, start: start, lane: lane, rt: rt)
        }
        let outcome = send(entry, body: body, to: peer, over: connection, rt: rt)
        switch outcome {
        case .peerDown(let why):
            return fail(&entry, why, peerDown: true, start: start, lane: lane, rt: rt)
        case .retry(let why):
            markPeerUp(lane)
            return fail(&entry, why, peerDown: false, start: start, lane: lane, rt: rt)
        case .receipt(let receipt, let signed):
            markPeerUp(lane)
            settleInBackground(entry, start: start, receipt: receipt, signed: signed, rt: rt, lane: lane)
            return nil
        }
    }

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
    private func settleInBackground(_ entry: QueueEntry, start: QueueEntry?, receipt: Receipt, signed: Data, rt: NodeRuntime, lane: Lane) {
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

    private func send(_ entry: QueueEntry, body kept: Data?, to peer: LoadedPeer, over connection: PeerConnection, rt: NodeRuntime) -> AttemptOutcome {
        let body: Data
        if let kept { body = kept } else {
            do { body = try store.signedMessage(of: entry) } catch { return .retry("\(error)") }
        }
        let request = HTTPRequest(method: "POST", target: "/v1/messages",
                                  headers: ["Content-Type": "application/xml"], body: body)
        let response: HTTPResponse
        do { response = try connection.send(request) } catch { return .peerDown(error.description) }
        guard response.status == 200 || response.status == 413 else {
            return .retry("HTTP \(response.status) \(response.reason): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        // A receipt is a few kilobytes and goes into the journal whole: a peer sending megabytes
        // is broken, and its answer must not fail the journal round it would be committed in.
        guard response.body.count <= DeliveryScheduler.maxReceiptBytes else {
            return .retry("the receipt is \(response.body.count) bytes, more than \(DeliveryScheduler.maxReceiptBytes): not accepted")
        }
        do {
            let doc = try XMLDocument.parse(response.body)
            try SchemaValidator.receipt.validate(doc)
            _ = try peer.verifySignature(doc)
            let receipt = try ReceiptXML.decode(doc)
            guard receipt.issuer == peer.config.organisation else {
                return .retry("receipt issued by \(receipt.issuer), expected \(peer.config.organisation)")
            }
            if let addressee = receipt.addressee, addressee != rt.config.node.organisation {
                return .retry("receipt addressed to \(addressee), expected this node, \(rt.config.node.organisation)")
            }
            guard receipt.refToMessageId == entry.messageId || (receipt.status == .rejected && receipt.refToMessageId == nil) else {
                return .retry("receipt refers to \(receipt.refToMessageId?.rawValue ?? "no message"), expected \(entry.messageId)")
            }
            if receipt.status == .accepted, receipt.digest != entry.digest {
                return .retry("accepted receipt carries digest \(receipt.digest ?? "none"), expected \(entry.digest)")
            }
            if receipt.status == .rejected, receipt.reason == .internalError {
                return .retry("peer could not store the message: \(receipt.detail ?? "")")
            }
            return .receipt(receipt, signed: response.body)
        } catch {
            return .retry("unusable receipt: \(error)")
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

    private func expire(_ entry: QueueEntry, rt: NodeRuntime, lane: Lane) -> Bool {
        let record = JournalEntry(kind: .expired, messageId: entry.messageId.rawValue, caseRef: entry.caseRef,
                                  eventType: entry.eventType.rawValue, sender: rt.config.node.organisation.digits,
                                  recipient: entry.recipient.digits, digest: entry.digest, status: "expired",
                                  reason: entry.lastError)
        do {
            try batcher.commit(CommitItem(files: [], entries: [record]))
            try store.remove(entry, archivingTo: layout.expiredArchivePath)
        } catch {
            log.limited(.error, key: "expire", every: .seconds(10), "cannot expire \(entry.messageId): \(error); trying again in a minute")
            // Filed again, or it would sit unscheduled (neither sent nor expired) until a restart.
            var again = entry
            again.nextAttempt = Date().addingTimeInterval(60)
            schedule(again, lane: lane)
            return false
        }
        metrics.count("stafett_expired_total", labels: ["peer": entry.peer])
        log.warning("message \(entry.messageId) to \(entry.peer) expired after \(entry.attempts) attempts; last error: \(entry.lastError ?? "none")")
        return true
    }

    /// Records a failed attempt and schedules the next one with exponential back-off and jitter.
    /// `start` is the retry state the attempt began from (`QueueStore.retryState(of:)`).
    private func fail(_ entry: inout QueueEntry, _ why: String, peerDown: Bool, start: QueueEntry?, lane: Lane, rt: NodeRuntime) -> Bool {
        let d = rt.config.delivery
        entry.attempts += 1
        entry.lastError = why
        var delay: Double
        if peerDown {
            cond.lock()
            lane.failures += 1
            delay = DeliveryScheduler.backoff(attempt: lane.failures, d)
            let now = Date()
            lane.downUntil = now.addingTimeInterval(delay)
            if lane.downSince == nil { lane.downSince = now }
            lane.lastError = why
            lane.reportedUp = false
            // Under the lock, so a success on another connection cannot be overwritten by this 0.
            metrics.set("stafett_peer_up", labels: ["peer": lane.name], 0)
            let backoff = PeerBackoff(peer: lane.name, since: lane.downSince ?? now, until: lane.downUntil ?? now,
                                      failures: lane.failures, lastError: why)
            cond.unlock()
            store.notePeerDown(backoff)
        } else {
            delay = DeliveryScheduler.backoff(attempt: entry.attempts, d)
        }
        entry.nextAttempt = min(Date().addingTimeInterval(delay), entry.expiresAt)
        // `stafett queue hold|retry|release` may have run while this attempt was in flight: the
        // store reads and writes under the lock the CLI writes under and keeps what the operator
        // asked for (a hold, a next attempt now), however the two interleave.
        var retryNow = false
        do {
            guard let saved = try store.recordAttempt(entry, startedFrom: start) else { return true }  // it left the queue meanwhile
            entry = saved.entry
            retryNow = saved.operatorActed && !entry.held && entry.nextAttempt <= Date()
        } catch {
            // Retry state is advisory (the message itself is safe); still honour a hold we can read.
            log.limited(.error, key: "meta-\(lane.name)", every: .seconds(60), "cannot save the retry state of \(entry.messageId): \(error)")
            if store.reload(entry)?.held == true { entry.held = true }
        }
        if retryNow && peerDown {
            // The operator's SIGUSR1 rescan forgot the peer's back-off before this failure set it
            // again; "retry now" must not wait for it either.
            cond.lock()
            lane.downUntil = nil
            cond.unlock()
            store.notePeerUp(lane.name)
        }
        schedule(entry, lane: lane)
        metrics.count("stafett_delivery_failures_total", labels: ["peer": lane.name])
        let next = entry.held ? "held by an operator: no further try until released"
            : retryNow ? "an operator asked for the next try now" : "next try in \(Self.describe(delay))"
        log.limited(.warning, key: "fail-\(lane.name)", every: .seconds(30),
                    "delivery to \(lane.name) failed (attempt \(entry.attempts) of \(entry.messageId)): \(why); " + next)
        return false
    }

    /// Files a message again after a failed attempt or a hold: either way it has a `.meta` now.
    private func schedule(_ entry: QueueEntry, lane: Lane) {
        cond.lock()
        lane.mayHaveMeta.insert(entry.messageId)
        lane.file(entry, now: Date())
        cond.broadcast()
        cond.unlock()
    }

    /// Clears the peer's back-off after an answer. The gauge is written only when the peer was
    /// not already reported up: this runs once per delivered message.
    private func markPeerUp(_ lane: Lane) {
        cond.lock()
        lane.failures = 0
        lane.downUntil = nil
        lane.lastError = nil
        let wasDown = lane.downSince != nil
        lane.downSince = nil
        if lane.reportedUp != true {
            lane.reportedUp = true
            metrics.set("stafett_peer_up", labels: ["peer": lane.name], 1)
        }
        cond.unlock()
        if wasDown { store.notePeerUp(lane.name) }
    }

    /// A delay for the log: milliseconds below a second (where whole seconds would say "0s").
    static func describe(_ seconds: Double) -> String {
        let ms = Int((seconds * 1000).rounded())
        return ms < 1000 ? "\(ms)ms" : "\(Int(seconds.rounded()))s"
    }

    /// `initial × 2^(attempt-1)`, capped, spread by ± jitter; in seconds.
    static func backoff(attempt: Int, _ d: StafettConfig.Delivery) -> Double {
        // Both bounds with their fractions: the config accepts `250ms`, and a cap read as whole
        // seconds made `max-backoff = 500ms` a cap of zero, every retry at the 10 ms floor.
        let initial = d.initialBackoff.timeInterval
        let cap = d.maxBackoff.timeInterval
        let base = min(cap, initial * pow(2, Double(max(0, min(attempt - 1, 30)))))
        let spread = base * min(max(d.jitter, 0), 1)
        // Jitter spreads retries; it must not push one past the configured ceiling.
        return min(cap, max(0.01, base + Double.random(in: -spread...spread)))
    }
}
