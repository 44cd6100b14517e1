import Foundation
import StafettJournal
import StafettModel
import StafettTransport

/// Delivers queued messages, one lane per peer, each lane with a few worker threads that own
/// keep-alive connections. A failing message backs off alone; an unreachable peer backs off as
/// a whole; one bad message never blocks the others.
public final class DeliveryScheduler: @unchecked Sendable {
    let cond = NSCondition()
    private var lanes: [String: Lane] = [:]
    private var running = true
    private var activeWorkers = 0
    /// Receipts being recorded (guarded by `cond`) and the room for more: the settler's
    /// (DeliverySettlement.swift), which `stop` waits for.
    var settling = 0
    let settleSlots = DispatchSemaphore(value: DeliveryScheduler.settleSlotCount)
    /// Most receipts waiting for the settler or being recorded. One settle is a commit round,
    /// whose flushes take about as long for one receipt as for hundreds, so delivery goes at most
    /// this many messages per settle: with 64, one batch's receipts held every slot and the other
    /// workers waited on their answers, and at 1000 one-record files/s on two shared cores the
    /// delivered leg fell behind (intake-accepted to delivered p50 0.8 s and 10.8 s in 30 s runs;
    /// with 1024: 0.19 s and 1.4 s). A receipt waiting costs its entry and a share of its signed
    /// receipt, a few KiB.
    static let settleSlotCount = 1024
    /// Receipts waiting for the settler, and whether one runs (guarded by `cond`).
    var toSettle: [Settlement] = []
    var settlerRunning = false
    /// Peers whose archive directory is known to exist in this run (guarded by `cond`).
    var archiveDirectories: Set<String> = []
    private var runtime: NodeRuntime
    let store: QueueStore
    let layout: SpoolLayout
    let batcher: CommitBatcher
    let metrics: Metrics
    let log: Logger

    /// Creates a scheduler; call `start` to spawn the workers.
    public init(runtime: NodeRuntime, store: QueueStore, layout: SpoolLayout, batcher: CommitBatcher,
                metrics: Metrics, log: Logger) {
        self.runtime = runtime
        self.store = store
        self.layout = layout
        self.batcher = batcher
        self.metrics = metrics
        self.log = log
        metrics.refreshOnRead { [weak self] m in self?.publishQueueGauges(to: m) }
    }

    /// Loads the queue directory and starts delivering. Messages whose outcome a crash left
    /// journaled but not settled leave the queue first, unsent.
    public func start() {
        let queued = loadQueue()
        let scan = Result { try StartupScan.read(journal: layout.journal.path, acceptedSince: nil, queued: queued) }
        if case let .success(s) = scan, !s.unreadable.isEmpty {
            log.error("journal: \(s.unreadable.count) record(s) could not be read as entries (first #\(s.unreadable[0])); a message "
                + "whose outcome one of them holds would be sent and journaled again: run stafett journal verify")
        }
        start(queued, outcomes: scan.map(\.outcomes))
    }

    /// Starts delivering `queued` (`loadQueue`), given the outcomes the journal holds for it (the
    /// daemon reads them in the one pass it makes at start, with the duplicate window).
    func start(_ queued: [QueueEntry], outcomes: Result<[String: JournalKind], any Error>) {
        add(settleJournaledAtStart(queued, outcomes: outcomes))
    }

    /// The queue directory's messages, as `start` delivers them.
    func loadQueue() -> [QueueEntry] {
        store.loadAll(maxLifetime: runtime.config.delivery.maxLifetime.timeInterval, onError: { self.log.error($0) })
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
        wakeOneEach(entries)
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
        wakeOneEach(entries)
        cond.unlock()
    }

    /// Schedules messages intake has just made durable in the queue, with their signed bytes: they
    /// have no retry state yet, and their first attempt sends the bytes from memory (while the
    /// messages kept stay within `bodyBudget`) instead of reading the file back.
    public func addQueued(_ queued: [IntakeProcessor.Queued]) {
        cond.lock()
        let now = Date()
        for (e, xml) in queued {
            let lane = laneLocked(e.peer)
            if lane.inFlight.contains(e.messageId) { continue }
            if let xml, lane.bodies[e.messageId] == nil, bodyBytes + xml.count <= Self.bodyBudget {
                lane.bodies[e.messageId] = xml
                bodyBytes += xml.count
            }
            lane.file(e, now: now)
        }
        wakeOneEach(queued.map(\.entry))
        cond.unlock()
    }

    /// Wakes one sleeping worker of each lane `entries` went to (the scheduler's lock held): it
    /// takes a batch and wakes a colleague if more is due (`work`). An entry filed for later
    /// wakes one too, so that the lane's sleep ends by its retry time.
    private func wakeOneEach(_ entries: [QueueEntry]) {
        var woken: Set<String> = []
        for e in entries where woken.insert(e.peer).inserted { lanes[e.peer]?.wakeOne() }
    }

    /// At most this many bytes of signed messages are kept in memory for their first attempt; a
    /// larger backlog is read from the queue directory as it is sent.
    static let bodyBudget = 32 << 20
    /// Bytes in the lanes' `bodies` (guarded by `cond`).
    private var bodyBytes = 0

    /// Drops a message that left the queue behind the scheduler's back (`stafett queue delete`),
    /// with the bytes kept for its first attempt. One in flight finishes its attempt.
    public func forget(peer: String, id: MessageID) {
        cond.lock()
        if let lane = lanes[peer], !lane.inFlight.contains(id) {
            lane.forget(id)
            if let body = lane.bodies.removeValue(forKey: id) { bodyBytes -= body.count }
        }
        cond.unlock()
    }

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
        for lane in lanes.values { lane.connection = nil; lane.batchesRefused = false }
        cond.unlock()
        forgetPeersBackoff()
        for c in old { c.close() }
    }

    /// Every peer is tried again at once (an operator's retry, a reload), and `stafett queue` no
    /// longer shows a back-off. Wakes the workers waiting out a back-off.
    private func forgetPeersBackoff() {
        cond.lock()
        for lane in lanes.values { lane.downUntil = nil; lane.downSince = nil; lane.failures = 0; lane.wakeAll() }
        let names = Array(lanes.keys)
        cond.unlock()
        for name in names { store.notePeerUp(name) }
    }

    /// Stops taking new attempts and waits for the ones in flight (SIGTERM's drain).
    public func stop() {
        cond.lock()
        running = false
        for lane in lanes.values { lane.wakeAll() }
        // Workers and the settler broadcast as they finish.
        while activeWorkers > 0 || settling > 0 { cond.wait() }
        let conns = lanes.values.compactMap(\.connection)
        cond.unlock()
        for c in conns { c.close() }
    }

    /// Each peer's lane now: how many wait, and since when the peer is down (for `STATUS=`).
    public func status() -> [NodeStatus.Peer] {
        cond.lock()
        defer { cond.unlock() }
        return lanes.values.map { NodeStatus.Peer(name: $0.name, waiting: $0.entries.count, downSince: $0.downSince) }
            .sorted { $0.name < $1.name }
    }

    func laneLocked(_ name: String) -> Lane {
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

    /// Sets the queue gauges from the lanes as they are now; run at each scrape (`Metrics.refreshOnRead`),
    /// so they are never staler than the scrape. A scan of every entry, but a scrape comes every
    /// few seconds at most, while events come thousands of times a second.
    private func publishQueueGauges(to metrics: Metrics) {
        let now = Date()
        cond.lock()
        let perPeer = lanes.values.map { lane in (lane.name, lane.entries.count, lane.entries.values.lazy.map(\.queuedAt).min()) }
        cond.unlock()
        for (peer, waiting, oldest) in perPeer {
            metrics.set("stafett_queue_messages", labels: ["peer": peer], Double(waiting))
            metrics.set("stafett_queue_oldest_seconds", labels: ["peer": peer], oldest.map { now.timeIntervalSince($0) } ?? 0)
        }
    }

    /// A worker: picks the oldest due message of its lane and attempts it, until stopped.
    private func work(_ lane: Lane) {
        let me = Sleeper()
        cond.lock()
        defer {
            activeWorkers -= 1
            cond.broadcast()  // `stop` waits for the last worker
            cond.unlock()
        }
        while running {
            let now = Date()
            if let down = lane.downUntil, down > now {
                sleep(me, in: lane, until: down)
                continue
            }
            guard let entry = lane.next(now: now) else {
                sleep(me, in: lane, until: min(lane.earliestLater, now.addingTimeInterval(30)))
                continue
            }
            let rt = runtime
            // What is due now and no more: a batch never waits to fill (see `takeDue`).
            var taken = [entry]
            takeDue(into: &taken, lane: lane, limit: min(rt.config.delivery.batch, lane.batchOffer), now: now)
            // What is left is for a colleague, woken now rather than at its next time-out.
            if lane.hasMoreDue(now: now) { lane.wakeOne() }
            let attempts = taken.map { e -> (entry: QueueEntry, mayHaveMeta: Bool, body: Data?, journaled: JournalKind?) in
                lane.inFlight.insert(e.messageId)
                let body = lane.bodies.removeValue(forKey: e.messageId)
                bodyBytes -= body?.count ?? 0
                return (e, lane.mayHaveMeta.contains(e.messageId), body, lane.journaled[e.messageId])
            }
            if lane.connection == nil, let peer = rt.peers[lane.name] {
                lane.connection = makeConnection(peer, rt)
            }
            let connection = lane.connection
            cond.unlock()
            // Those whose outcome is journaled already are only taken out of the queue, never sent.
            var finished: [(MessageID, Bool?)] = attempts.compactMap { a in
                a.journaled.map { (a.entry.messageId, finishJournaled(a.entry, $0, meta: a.mayHaveMeta)) }
            }
            let toSend = attempts.filter { $0.journaled == nil }.map { (entry: $0.entry, mayHaveMeta: $0.mayHaveMeta, body: $0.body) }
            if toSend.count == 1 {
                finished.append((toSend[0].entry.messageId, attempt(toSend[0].entry, mayHaveMeta: toSend[0].mayHaveMeta, body: toSend[0].body,
                                                                    connection: connection, rt: rt, lane: lane)))
            } else if toSend.count > 1 {
                finished += attemptBatch(toSend, connection: connection, rt: rt, lane: lane)
            }
            cond.lock()
            for case let (id, done?) in finished {
                lane.inFlight.remove(id)
                if done { lane.forget(id) }
            }
        }
    }

    /// Sleeps until woken for `lane` (`Lane.wakeOne`, `wakeAll`) or until `deadline`; called and
    /// returns with `cond` locked. A wake-up that comes as the sleep times out leaves the
    /// semaphore signalled, and the next sleep returns at once: one more look at the lane, harmless.
    private func sleep(_ me: Sleeper, in lane: Lane, until deadline: Date) {
        lane.sleepers.append(me)
        cond.unlock()
        let seconds = min(max(deadline.timeIntervalSinceNow, 0), 86_400)
        let timedOut = me.semaphore.wait(timeout: .now() + .nanoseconds(Int(seconds * 1e9))) == .timedOut
        cond.lock()
        if timedOut, let i = lane.sleepers.firstIndex(where: { $0 === me }) { lane.sleepers.remove(at: i) }
    }

    private func makeConnection(_ peer: LoadedPeer, _ rt: NodeRuntime) -> HTTPClient? {
        do {
            let tls = try TLSClientContext(rt.tls, serverTrust: peer.trust)
            // A peer that completes TLS and then never answers holds an attempt no longer than
            // the node's own read timeout; the back-off decides when to try again.
            let conf = HTTPClientConfiguration(host: peer.config.address.host, port: peer.config.address.port,
                                               maxConnections: max(1, rt.config.delivery.connectionsPerPeer),
                                               handshakeTimeout: rt.config.limits.handshakeTimeout,
                                               requestTimeout: rt.config.limits.readTimeout)
            return HTTPClient(configuration: conf, tls: tls)
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
    private func attempt(_ original: QueueEntry, mayHaveMeta: Bool, body: Data?, connection: HTTPClient?, rt: NodeRuntime,
                         lane: Lane) -> Bool? {
        switch prepare(original, mayHaveMeta: mayHaveMeta, body: body, connection: connection, rt: rt, lane: lane) {
        case .done(let finished):
            return finished
        case let .ready(ready):
            guard let connection else { return false }  // `prepare` saw it
            return conclude(send(ready, over: connection, rt: rt, lane: lane), for: ready, rt: rt, lane: lane)
        }
    }

    /// A message that passed the checks before an attempt, with its signed bytes.
    struct ReadyMessage {
        var entry: QueueEntry
        /// The retry state the attempt began from (`QueueStore.retryState(of:)`).
        var start: QueueEntry?
        var peer: LoadedPeer
        var body: Data
    }

    /// What the checks before an attempt came to: the attempt's result already (held, expired,
    /// no peer or connection, unreadable), or a message ready to send.
    enum Preparation {
        case done(Bool?)
        case ready(ReadyMessage)
    }

    /// The checks before an attempt, and the message's signed bytes.
    func prepare(_ original: QueueEntry, mayHaveMeta: Bool, body: Data?, connection: HTTPClient?, rt: NodeRuntime,
                 lane: Lane) -> Preparation {
        // An operator may have held or released it since we loaded it. What the meta says now is
        // also what `fail` compares with, to tell an operator's change during the attempt.
        let start = mayHaveMeta ? store.retryState(of: original) : nil
        // Bytes kept from intake are no proof the message is still queued: `stafett queue delete`
        // may have withdrawn it (one stat; a withdrawn message must not go out from memory).
        guard var entry = start ?? (store.contains(peer: original.peer, id: original.messageId) ? original : nil) else {
            return .done(true)
        }
        if entry.held { schedule(entry, lane: lane); return .done(false) }
        if entry.expiresAt <= Date() { return .done(expire(entry, rt: rt, lane: lane)) }
        guard let peer = rt.peers[entry.peer] else {
            return .done(fail(&entry, "no peer named \(entry.peer) in the configuration", peerDown: true, start: start, lane: lane, rt: rt))
        }
        guard connection != nil else {
            return .done(fail(&entry, "cannot set up TLS for peer \(entry.peer)", peerDown: true, start: start, lane: lane, rt: rt))
        }
        if let body { return .ready(ReadyMessage(entry: entry, start: start, peer: peer, body: body)) }
        do { return .ready(ReadyMessage(entry: entry, start: start, peer: peer, body: try store.signedMessage(of: entry))) } catch {
            markPeerUp(lane)  // as after any answer: the peer is not what failed
            return .done(fail(&entry, "\(error)", peerDown: false, start: start, lane: lane, rt: rt))
        }
    }

    /// Records what an attempt came to: a failure to retry, or a receipt to settle in the background (nil).
    func conclude(_ outcome: AttemptOutcome, for ready: ReadyMessage, peerDown mayMarkDown: Bool = true, rt: NodeRuntime, lane: Lane) -> Bool? {
        var entry = ready.entry
        switch outcome {
        case .peerDown(let why):
            return fail(&entry, why, peerDown: mayMarkDown, start: ready.start, lane: lane, rt: rt)
        case .retry(let why):
            markPeerUp(lane)
            return fail(&entry, why, peerDown: false, start: ready.start, lane: lane, rt: rt)
        case .receipt(let receipt, let signed):
            markPeerUp(lane)
            settleInBackground(entry, start: ready.start, receipt: receipt, signed: signed, rt: rt, lane: lane)
            return nil
        case .batchReceipt(let receipt, let signed):
            markPeerUp(lane)
            settleInBackground(entry, start: ready.start, receipt: receipt, signed: signed.bytes, batch: signed, rt: rt, lane: lane)
            return nil
        }
    }

    /// Posts the signed message to the peer; its answer is checked by `checkReceipt`.
    private func send(_ ready: ReadyMessage, over connection: HTTPClient, rt: NodeRuntime, lane: Lane) -> AttemptOutcome {
        let request = HTTPRequest(method: "POST", target: "/v1/messages",
                                  headers: ["Content-Type": "application/xml"], body: ready.body)
        let response: HTTPResponse
        do { response = try connection.send(request) } catch { return .peerDown(error.description) }
        learnBatchOffer(response, lane: lane)
        return DeliveryScheduler.checkReceipt(response, for: ready.entry, from: ready.peer, to: rt.config.node.organisation)
    }

    private func expire(_ entry: QueueEntry, rt: NodeRuntime, lane: Lane) -> Bool {
        // A code, not the last error: that text may hold what a peer answered (an HTTP body, a
        // receipt's detail), and nothing a peer writes may enter the journal. The log keeps it.
        let record = entry.outcomeRecord(.expired, sender: rt.config.node.organisation, status: "expired", reason: "max-lifetime")
        do {
            try batcher.commit(CommitItem(files: [], entries: [record]))
        } catch {
            log.limited(.error, key: "expire", every: .seconds(10), "cannot expire \(entry.messageId): \(error); trying again in a minute")
            // Filed again, or it would sit unscheduled (neither sent nor expired) until a restart.
            var again = entry
            again.nextAttempt = Date().addingTimeInterval(60)
            schedule(again, lane: lane)
            return false
        }
        CrashPoint.reach(CrashPoint.afterOutcomeJournaled)
        guard finishJournaled(entry, .expired) else { return false }
        metrics.count("stafett_expired_total", labels: ["peer": entry.peer])
        log.warning("message \(entry.messageId) to \(entry.peer) expired after \(entry.attempts) attempts; last error: \(entry.lastError ?? "none")")
        return true
    }

    /// Records a failed attempt and schedules the next one with exponential back-off and jitter.
    /// `start` is the retry state the attempt began from (`QueueStore.retryState(of:)`).
    func fail(_ entry: inout QueueEntry, _ why: String, peerDown: Bool, start: QueueEntry?, lane: Lane, rt: NodeRuntime) -> Bool {
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
    func schedule(_ entry: QueueEntry, lane: Lane) {
        cond.lock()
        lane.mayHaveMeta.insert(entry.messageId)
        lane.file(entry, now: Date())
        lane.wakeOne()
        cond.unlock()
    }

    /// Clears the peer's back-off after an answer. The gauge is written only when the peer was
    /// not already reported up: this runs once per delivered message.
    func markPeerUp(_ lane: Lane) {
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
