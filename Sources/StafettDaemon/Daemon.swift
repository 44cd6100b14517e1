import Foundation
import StafettCrypto
import StafettJournal
import StafettTransport

/// `stafettd`: one long-running process per organisation. Assembles the rooms along the data
/// flow — outbox watcher, intake, queue, delivery, receiver, journal — and runs them until
/// SIGTERM, reloading config and peers on SIGHUP.
public final class Daemon: @unchecked Sendable {
    /// The config file it was started with (re-read on SIGHUP).
    public let configPath: String
    /// Logs to stderr (journald when run by systemd).
    public let log: Logger
    private let lock = NSLock()
    private var current: NodeRuntime
    private let layout: SpoolLayout
    private let journal: Journal
    private let batcher: CommitBatcher
    private let store: QueueStore
    private let scheduler: DeliveryScheduler
    private let retention: RetentionSweep
    private let metrics = Metrics()
    private var server: HTTPServer?
    private var metricsServer: HTTPServer?
    private var followup: FollowupMonitor?
    private var watcher: OutboxWatcher?
    /// Outbox files are processed in rounds, a few rounds at a time: a round takes every file
    /// waiting (`IntakeProcessor.processRound`), so files that arrive while the rounds before them
    /// flush share the next round's flushes, and the rounds' commits share group-commit rounds.
    /// A file that arrives while fewer than `intakeRounds` run has a round to itself at once: no
    /// waiting for others (a thousand one-record files a second is what a busy case system drops).
    private let intakeQueue = DispatchQueue(label: "stafett.intake", attributes: .concurrent)
    /// Files handed on by the watcher, with their sizes when handed on, waiting for a round
    /// (guarded by `lock`).
    private var intakeWaiting: [(file: URL, bytes: Int)] = []
    /// Their bytes together (guarded by `lock`).
    private var intakeWaitingBytes = 0
    /// Bytes of the files taken by rounds whose messages are not queued yet (guarded by `lock`).
    /// A round holds its files' records and signed messages until then, about 14 times the file
    /// for a 64 MiB export (`stafett-bench intake-memory`); so rounds together take files only
    /// up to `max-intake-file` bytes, and a file that does not fit waits for the rounds before it,
    /// or two large exports dropped together would need twice the memory the unit allows.
    private var intakeBytes = 0
    /// Rounds running now (guarded by `lock`). One that ends takes whatever is waiting, so a
    /// waiting file never holds a thread of its own.
    private var intakeRunning = 0
    /// Most rounds at once: two, so a large export does not hold up the files dropped beside it.
    /// More rounds are smaller rounds, each with its own flushes: at 600 one-record files a second
    /// on two shared cores, p50 was 36 ms with two rounds, 8 s with four or eight (the disk's
    /// flushes queued behind each other).
    static let intakeRounds = 2
    /// A second round starts only beside a round that has run this long, or when the files
    /// waiting hold `secondRoundBytes` (see `mayStartRound`).
    static let secondRoundAfter: UInt64 = 100_000_000
    static let secondRoundBytes = 64 << 10
    /// When the last round started (uptime ns, guarded by `lock`).
    private var lastRoundStart: UInt64 = 0
    /// A look at the files waiting is due at `secondRoundAfter` (guarded by `lock`).
    private var secondRoundCheck = false
    /// Most files in one round: a round's files wait for each other's reading and signing. A
    /// round's flushes take about as long for one file as for hundreds, so this bounds how fast
    /// intake can catch up: at a thousand one-record files a second on two shared cores, 64 let
    /// the files waiting grow (drop to `intake-accepted` p50 2.1 s, p99 3.1 s), 512 kept up
    /// (p50 58 ms). Without a backlog a round is what arrived while the one before it ran.
    static let maxRoundFiles = 512
    private let intakeGate = IntakeGate()
    /// Failed tries to file a refused input's report, by path (see `intake`).
    private var reportTries: [String: Int] = [:]
    /// Tries to file a report before giving up on it until the next start.
    static let maxReportTries = 3
    private let control = DispatchQueue(label: "stafett.control")
    private let notify = SystemdNotify()
    private var signals: Signals?
    private var stopping = false
    /// Reloads begun in this run (guarded by `lock`).
    private var reloadGeneration = 0
    /// When intake last processed an outbox file (guarded by `lock`), for `STATUS=`.
    private var lastIntake: Date?

    /// The runtime in force now.
    public var runtime: NodeRuntime { lock.withLock { current } }

    /// The receiver's bound port (useful with `listen = 127.0.0.1:0` in tests and the demo).
    public var port: UInt16? { server?.port }

    /// What `stafettd --check` does: loads the configuration, keys and certificates as the calling
    /// user and builds the TLS contexts, touching nothing on disk. Run as the service user, it
    /// proves what the daemon will be able to read; a running daemon (which holds the journal's
    /// lock) does not get in its way, so an edit can be checked before `systemctl reload`.
    /// Returns what an operator should know: warnings, and spool or state directories that are
    /// missing (created at start) or that this user may not write.
    public static func check(configPath: String) throws -> [String] {
        let config = try StafettConfig.load(path: configPath)
        try config.validate(checkFiles: true)
        let rt = try NodeRuntime.load(config)
        _ = try TLSServerContext(rt.tls, clientTrust: ClientTrust(rt.peers.values.map(\.trust)))
        var notes = rt.warnings
        for dir in config.paths.layout.allDirectories {
            var st = stat()
            if lstat(dir.path, &st) != 0 {
                let problem = FileProblem(path: dir.path, errno: errno)
                notes.append(problem.isMissing ? "\(dir.path) does not exist yet; stafettd creates it at start"
                                               : "\(problem): \(problem.hint)")
            } else if access(dir.path, R_OK | W_OK | X_OK) != 0 {
                notes.append("\(dir.path) is not writable by this user (\(String(cString: strerror(errno)))): run the check as the service user")
            }
        }
        return notes
    }

    /// Loads the configuration, keys and journal. Nothing listens yet.
    public init(configPath: String, log: Logger = Logger()) throws {
        self.configPath = configPath
        self.log = log
        let config = try StafettConfig.load(path: configPath)
        try config.validate(checkFiles: true)
        let rt = try NodeRuntime.load(config)
        for w in rt.warnings { log.warning(w) }
        current = rt
        layout = config.paths.layout
        for w in try layout.create(access: config.access).warnings { log.warning("spool: \(w)") }
        let stale = layout.removeStaleTemporaries()
        if !stale.isEmpty { log.notice("spool: removed \(stale.count) temporary file(s) a crash or a failed commit left behind") }
        // Start-up checks the live segment record by record (where a crash tears the tail) and how
        // the segments fit together, not every record of the finished ones: that would make start
        // grow with the journal. `stafett journal verify` checks them (docs/journal-format.md, Opening).
        journal = try Journal(directory: layout.journal.path,
                              options: JournalOptions(checkpointInterval: config.journal.checkpointInterval.timeInterval,
                                                      signingKey: rt.sealer.key, verifyAllAtOpen: false))
        if let cut = journal.recovery.cutTail {
            log.warning("journal: cut a torn tail after a crash (\(journal.recovery.bytesCut) bytes): \(cut)")
        }
        batcher = CommitBatcher(spool: layout.spool, journal: journal)
        retention = RetentionSweep(layout: layout, batcher: batcher)
        store = try QueueStore(directory: layout.queue)
        scheduler = DeliveryScheduler(runtime: rt, store: store, layout: layout, batcher: batcher, metrics: metrics, log: log)
    }

    /// Starts listening, delivering and watching the outbox; tells systemd it is ready.
    public func start() throws {
        let rt = runtime
        let limits = rt.config.limits
        let window = Receiver.duplicateWindow(maxLifetime: rt.config.delivery.maxLifetime.timeInterval)
        // One pass over the journal's recent segments for the duplicate window and for the queued
        // messages' outcomes.
        let scanStarted = Date()
        let queued = scheduler.loadQueue()
        let scan = try StartupScan.read(journal: layout.journal.path, acceptedSince: Date().addingTimeInterval(-window), queued: queued)
        log.info(String(format: "journal: read %d record(s) from #%llu at start in %.2f s (duplicate window, outcomes of %d queued message(s))",
                        scan.recordsRead, scan.fromSequence, Date().timeIntervalSince(scanStarted), queued.count))
        if !scan.unreadable.isEmpty {
            log.error("journal: \(scan.unreadable.count) record(s) could not be read as entries (first #\(scan.unreadable[0])); a message "
                + "they accepted would be accepted again if resent, and a queued message whose outcome one of them holds "
                + "would be sent and journaled again: run stafett journal verify")
        }
        let accepted = scan.accepted
        let recovered = try layout.recoverStagedInbox(accepted: accepted)
        for name in recovered.finished { log.notice("inbox: \(name) was journaled before a crash; moved into place now") }
        for name in recovered.removed { log.notice("inbox: removed \(name), staged but never journaled before a crash (its sender sends it again)") }
        let receiver = Receiver(runtime: { [unowned self] in self.runtime }, layout: layout, batcher: batcher,
                                metrics: metrics, log: log, accepted: accepted)
        let tlsServer = try TLSServerContext(rt.tls, clientTrust: ClientTrust(rt.peers.values.map(\.trust)))
        let caps = rt.config.receiverCaps
        let serverConfig = HTTPServerConfiguration(
            host: rt.config.node.listen.host, port: rt.config.node.listen.port, maxConnections: caps.connections,
            maxPendingHandshakes: caps.handshakes, maxConnectionsPerPeer: caps.perPeer, backlog: caps.backlog,
            handshakeTimeout: limits.handshakeTimeout, headerTimeout: limits.readTimeout, bodyTimeout: limits.readTimeout,
            idleTimeout: limits.idleTimeout,
            limits: HTTPLimits(maxHeaderBytes: limits.maxHeader, maxBodyBytes: limits.maxBody),
            log: { [log] line in log.limited(.notice, key: "tls", every: .seconds(5), line) })
        let server = try HTTPServer(configuration: serverConfig, tls: tlsServer,
                                    oversize: { target, peer, detail in receiver.answerOversized(target: target, peer: peer, detail: detail) },
                                    handler: { request, peer in receiver.handle(request, peer: peer) })
        self.server = server
        server.start()
        metrics.refreshOnRead { m in Self.recordConnections(of: server.statistics, in: m) }
        if rt.config.metrics.enabled {
            let m = metrics
            let ms = try HTTPServer(loopbackHost: rt.config.metrics.listen.host, loopbackPort: rt.config.metrics.listen.port) { request in
                guard request.path == "/metrics" else { return .notFound(request) }
                return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4"], body: Data(m.render().utf8))
            }
            metricsServer = ms
            ms.start()
            let monitor = FollowupMonitor(journal: layout.journal.path, organisation: rt.config.node.organisation.digits,
                                          rules: FollowupMonitor.rules(besideConfig: configPath, log: log), metrics: metrics, log: log)
            followup = monitor
            monitor.start()
        }
        Self.recordExpiry(of: rt, in: metrics, now: Date())
        journalWithdrawals()
        scheduler.start(queued, outcomes: .success(scan.outcomes))
        let watcher = OutboxWatcher(root: layout.outbox, options: .init(limits: limits), handlerQueue: intakeQueue, log: log) {
            [unowned self] file in self.intake(file)
        }
        try watcher.start()
        self.watcher = watcher
        retention.start(retention: { [unowned self] in self.runtime.config.retention }) { [log, metrics] outcome in
            metrics.count("stafett_retention_removed_total", by: Double(outcome.removed.count))
            log.notice("retention: removed \(outcome.removed.count) file(s) past their period (journaled as removed)"
                + (outcome.reachedLimit ? "; more are due, the next sweep is in a minute" : ""))
            for f in outcome.failures.prefix(5) { log.error("retention: could not remove \(f)") }
        }
        try writePidFile()
        answerReload(.ok, "started")
        log.notice("stafettd \(rt.config.node.name) (\(rt.config.node.organisation)) listening on \(rt.config.node.listen.host):\(server.port), \(rt.peers.count) peer(s)")
        _ = notify.ready(status: "listening on port \(server.port)")
        JournalBackgroundCheck.start(directory: layout.journal.path, checkpointKey: try? rt.sealer.certificate?.publicKey(), metrics: metrics, log: log)
        notify.publishStatus(every: Self.statusInterval, on: control) { [unowned self] in self.status.line(now: Date()) }
        // Pings only while commit rounds complete: a stuck disk or journal stops them, and systemd
        // restarts the daemon (WatchdogSec) rather than leaving it up and doing nothing.
        _ = notify.startWatchdog(on: control) { [batcher, log] in
            let healthy = batcher.isMakingProgress()
            if !healthy { log.limited(.error, key: "watchdog", every: .seconds(10), "a commit round has run for over 20 s: not telling systemd we are alive") }
            return healthy
        }
    }

    /// How often `STATUS=` is recomposed (and sent when it changed).
    static let statusInterval = Duration.seconds(2)

    /// What the node is doing now, for `systemctl status`.
    public var status: NodeStatus {
        NodeStatus(peers: scheduler.status(), lastIntake: lock.withLock { lastIntake })
    }

    /// The receiver's connection counters, copied in at each read of the metrics.
    static func recordConnections(of stats: HTTPServerStatistics, in metrics: Metrics) {
        for (reason, n) in stats.connectionsRefused {
            metrics.set(counter: "stafett_connections_refused_total", labels: ["reason": reason.rawValue], Double(n))
        }
        let failures = ["silent": stats.silentConnectionsClosed, "timeout": stats.handshakeTimeouts,
                        "other": stats.handshakeFailures - stats.silentConnectionsClosed - stats.handshakeTimeouts]
        for (reason, n) in failures {
            metrics.set(counter: "stafett_handshake_failures_total", labels: ["reason": reason], Double(n))
        }
        metrics.set(counter: "stafett_connections_accepted_total", Double(stats.connectionsAccepted))
        metrics.set(counter: "stafett_handshakes_evicted_total", Double(stats.pendingHandshakesEvicted))
        metrics.set(counter: "stafett_connections_closed_at_reload_total", Double(stats.connectionsClosedAtReload))
    }

    /// Seconds until each configured certificate expires and each revocation list needs its next
    /// update, as gauges: for alerting well before the 30-day warning, or before a stale list
    /// shuts a CA's peers out.
    static func recordExpiry(of rt: NodeRuntime, in metrics: Metrics, now: Date) {
        var certs: [(String, Certificate)] = rt.tls.certificateChain.prefix(1).map { ("tls", $0) }
        if let c = rt.sealer.certificate { certs.append(("signing", c)) }
        for (name, peer) in rt.peers { for c in peer.signingCertificates { certs.append(("peer \(name) signing", c)) } }
        for (use, cert) in certs {
            metrics.set("stafett_certificate_expiry_seconds", labels: ["use": use, "subject": cert.subjectLine],
                        cert.notAfter.timeIntervalSince(now))
        }
        // A list past its next update makes OpenSSL refuse every certificate of its CA.
        for crl in rt.revocationLists {
            guard let next = crl.nextUpdate else { continue }
            metrics.set("stafett_crl_next_update_seconds", labels: ["issuer": crl.issuerLine], next.timeIntervalSince(now))
        }
    }

    /// Installs SIGHUP/SIGTERM/SIGINT/SIGUSR1 handlers (keep the daemon alive while they matter).
    public func installSignalHandlers() {
        let s = Signals(queue: control)
        s.installDaemonHandlers(reload: { [unowned self] in self.reload() },
                                terminate: { [unowned self] signo in self.terminate(signal: signo) })
        // `stafett queue hold/release/retry/delete` changes the queue directory, then sends SIGUSR1.
        s.on(SIGUSR1) { [unowned self] in
            self.journalWithdrawals()
            self.scheduler.rescan()
        }
        signals = s
    }

    /// Journals the withdrawals `stafett queue delete` made (it cannot write the journal this
    /// daemon holds) and drops their messages from the schedule.
    func journalWithdrawals() {
        let rt = runtime
        let done = Withdrawal.journalPending(layout: layout, batcher: batcher, keyer: rt.keyer, sender: rt.config.node.organisation) {
            [log] in log.error($0)
        }
        for w in done {
            scheduler.forget(peer: w.peer, id: w.messageId)
            log.notice("message \(w.messageId) to \(w.peer) withdrawn by \(w.by) (\(w.reason.rawValue)); journaled")
        }
    }

    /// Takes an outbox file the watcher handed on (on the intake queue): it joins the files
    /// waiting, and runs as a round of its own at once when fewer than `intakeRounds` run;
    /// otherwise the next round to start takes it with every other file waiting.
    func intake(_ file: URL) {
        var st = stat()
        let bytes = lstat(file.path, &st) == 0 ? Int(st.st_size) : 0
        let now = DispatchTime.now().uptimeNanoseconds
        startRound(lock.withLock { () -> (Bool, UInt64?) in
            intakeWaiting.append((file, bytes))
            intakeWaitingBytes += bytes
            return claimRound(now: now)
        })
    }

    /// Under `lock`: whether a round of the files waiting runs now (it is counted), else when to
    /// look again (at most one look is pending).
    private func claimRound(now: UInt64) -> (run: Bool, lookAgainAt: UInt64?) {
        switch Self.mayStartRound(running: intakeRunning, sinceLastStart: now &- lastRoundStart, waitingBytes: intakeWaitingBytes) {
        case .now:
            intakeRunning += 1
            lastRoundStart = now
            return (true, nil)
        case .after(let wait) where !secondRoundCheck:
            secondRoundCheck = true
            return (false, now + wait)
        case .after, .no:
            return (false, nil)
        }
    }

    /// Runs the round `claimRound` counted, or has the files waiting looked at again when it said.
    private func startRound(_ decision: (run: Bool, lookAgainAt: UInt64?)) {
        if decision.run { runRound() }
        if let at = decision.lookAgainAt {
            // Weak: a look may come due after the drain (`stop` waits for rounds, not timers).
            intakeQueue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: at)) { [weak self] in self?.lookAgain() }
        }
    }

    /// Whether a file that just arrived starts a round of its own. With none running it does at
    /// once: latency at low load must not grow. Beside a round that began a moment ago it waits:
    /// a short round ends within milliseconds and its end starts one of every file waiting
    /// (`roundQueued`), where a second round at once would take this one file alone and pay a
    /// round's flushes for it. At a thousand one-record files a second on two shared cores half
    /// the rounds were one file, and a round's flushes and hand-offs per file left the daemons
    /// behind; waiting for the running round made rounds of 10-14 files (p50), and in alternating
    /// runs p99 went from 169-323 ms to 90-124 ms with 4 % less of the sender's CPU per file.
    /// Beside a long round (a large export) a second one starts after `secondRoundAfter`, so a
    /// file dropped beside it does not wait for all of it (`DaemonIntakeBesideExportTests`). And
    /// files waiting with `secondRoundBytes` or more (lists of a hundred records dropped together,
    /// a backlog of a few hundred one-record files) are worth a round's flushes: they start one
    /// at once, so that one round reads and signs while the other flushes.
    enum RoundStart: Equatable { case now, after(UInt64), no }
    static func mayStartRound(running: Int, sinceLastStart: UInt64, waitingBytes: Int) -> RoundStart {
        if running == 0 { return .now }
        if running >= intakeRounds { return .no }
        if sinceLastStart >= secondRoundAfter || waitingBytes >= secondRoundBytes { return .now }
        return .after(secondRoundAfter - sinceLastStart)
    }

    /// The look `claimRound` asked for: a second round of the files still waiting, unless the
    /// round running has ended and started one of them itself (then it asks again, by the same rule).
    private func lookAgain() {
        let now = DispatchTime.now().uptimeNanoseconds
        startRound(lock.withLock { () -> (Bool, UInt64?) in
            secondRoundCheck = false
            guard !intakeWaiting.isEmpty, !stopping else { return (false, nil) }
            return claimRound(now: now)
        })
    }

    /// Runs a round of the files waiting. It counts toward `intakeRounds` until its messages are
    /// queued; its moves to `accepted/` then go on here while the next round starts, so a file
    /// never waits for another round's moves.
    private func runRound() {
        let budget = max(1, runtime.config.limits.maxIntakeFile)
        let (files, bytes) = lock.withLock { () -> ([URL], Int) in
            let (count, bytes) = Self.nextRound(waiting: intakeWaiting.map(\.bytes), held: intakeBytes, budget: budget)
            let taken = intakeWaiting.prefix(count).map(\.file)
            intakeWaitingBytes -= intakeWaiting.prefix(count).reduce(0) { $0 + $1.bytes }
            intakeWaiting.removeFirst(count)
            intakeBytes += bytes
            // Nothing fits while other rounds hold the budget: the first of them to have its
            // messages queued starts the next round (`roundQueued`).
            if taken.isEmpty { intakeRunning -= 1 }
            return (taken, bytes)
        }
        guard !files.isEmpty else { return }
        let queued = IntakeRoundQueued(bytes: bytes)
        var processor = IntakeProcessor(runtime: runtime, layout: layout, store: store, batcher: batcher)
        processor.gate = intakeGate
        processor.metrics = metrics
        processor.stillQueued = { [scheduler] in scheduler.adopt($0) }
        processor.onQueued = { [unowned self, scheduler] messages, roundDone in
            scheduler.addQueued(messages)
            if roundDone { roundQueued(queued) }
        }
        let results = processor.processRound(files)
        roundQueued(queued)  // a round that queued nothing (refused files, an error) ends here
        for (file, result) in zip(files, results) { finishIntake(file, result) }
    }

    /// How many of the files waiting (their sizes, in order) the next round takes, and their bytes
    /// as counted against `budget` while `held` bytes are in other rounds. The first file of an
    /// idle intake is always taken, whatever its size (one over the limit is refused when read,
    /// and must not wait for ever); after it, only what fits, at most `maxRoundFiles`.
    static func nextRound(waiting: [Int], held: Int, budget: Int) -> (count: Int, bytes: Int) {
        var count = 0, bytes = 0
        for size in waiting.prefix(maxRoundFiles) {
            let counted = min(size, budget)
            if count > 0 || held > 0, held + bytes + counted > budget { break }
            count += 1
            bytes += counted
        }
        return (count, bytes)
    }

    /// A round's messages are queued: the next round may start, with the files waiting. None
    /// starts once the daemon is stopping (the files wait in the outbox for the next start).
    private func roundQueued(_ round: IntakeRoundQueued) {
        guard round.first() else { return }
        let next = lock.withLock { () -> Bool in
            intakeBytes -= round.bytes
            if intakeWaiting.isEmpty || stopping {
                intakeRunning -= 1
                return false
            }
            lastRoundStart = DispatchTime.now().uptimeNanoseconds
            return true  // the next round takes this one's place
        }
        if next { intakeQueue.async { [unowned self] in runRound() } }
    }

    /// Logs and counts what became of an outbox file, and tells the watcher.
    private func finishIntake(_ file: URL, _ result: IntakeProcessor.FileResult) {
        let shown = OutboxName.escaped(file.lastPathComponent)
        do {
            let (outcome, queued) = try result.get()
            switch outcome {
            case let .accepted(n, to):
                // A file dropped again yields the same message ids: say so, as the journal does.
                let again = n - queued.count
                log.info("outbox: \(shown): \(queued.count) message(s) queued"
                    + (again > 0 ? ", \(again) already queued or sent (same file seen before)" : "") + "; moved to \(OutboxName.escaped(to.path))")
                metrics.count("stafett_intake_files_total", labels: ["outcome": "accepted"])
                metrics.count("stafett_intake_records_total", by: Double(n))
            case let .failed(n, to):
                log.warning("outbox: \(shown): refused with \(n) error(s); see \(OutboxName.escaped(SpoolLayout.reportPath(for: to)))")
                metrics.count("stafett_intake_files_total", labels: ["outcome": "failed"])
            case .vanished:
                break
            }
            _ = lock.withLock { reportTries.removeValue(forKey: file.path) }
            if outcome != .vanished { lock.withLock { lastIntake = Date() } }
            watcher?.done(file)
        } catch where error.filingReport {
            // A report that cannot be filed (failed/ not writable, a name the file system refuses)
            // fails the same way each time: a few tries, then one line and a metric, and the file
            // waits in the outbox, still handed out, so no scan takes it up again before a restart.
            let tries = lock.withLock { () -> Int in
                reportTries[file.path, default: 0] += 1
                return reportTries[file.path]!
            }
            guard tries >= Self.maxReportTries else {
                watcher?.retry(file, after: .seconds(5))
                return
            }
            _ = lock.withLock { reportTries.removeValue(forKey: file.path) }
            log.error("outbox: \(OutboxName.escaped(file.path)): refused, but its report could not be filed in failed/ after "
                + "\(tries) tries (\(OutboxName.escaped(error.description))); it stays in the outbox until stafettd restarts")
            metrics.count("stafett_intake_report_failures_total")
        } catch {
            log.limited(.error, key: "intake-\(file.path)", every: .seconds(60), "outbox: \(OutboxName.escaped(file.path)): "
                + "\(OutboxName.escaped(error.description)); will retry")
            watcher?.retry(file, after: .seconds(5))
        }
    }

    /// SIGHUP: re-reads the config file, certificates and keys; keeps the old ones on any error.
    public func reload() {
        _ = notify.reloading()
        lock.withLock { reloadGeneration += 1 }
        answerReload(.reloading, "reloading \(configPath)")
        do {
            let loaded = try StafettConfig.load(path: configPath)
            try loaded.validate(checkFiles: true)
            let running = runtime
            let waiting = loaded.changesNeedingRestart(comparedTo: running.config)
            var rt = try NodeRuntime.load(loaded.keepingStartOnlySettings(of: running.config))
            // Personnummer keys must stay comparable across the whole journal: never re-read the secret.
            rt.keyer = running.keyer
            for w in rt.warnings { log.warning(w) }
            for w in waiting { log.warning("reload: \(w)") }
            let tls = try TLSServerContext(rt.tls, clientTrust: ClientTrust(rt.peers.values.map(\.trust)))
            lock.withLock { current = rt }
            server?.updateTLS(tls)
            scheduler.reload(rt)
            scheduler.rescan()
            Self.recordExpiry(of: rt, in: metrics, now: Date())
            log.notice("reloaded \(configPath): \(rt.peers.count) peer(s)")
            answerReload(.ok, "reloaded \(configPath): \(rt.peers.count) peer(s)" + waiting.map { "\n" + $0 }.joined())
        } catch {
            log.error("reload of \(configPath) failed, keeping the running configuration: \(error)")
            answerReload(.failed, "\(error)")
        }
        _ = notify.ready()
    }

    /// SIGTERM: stop taking work, finish what is in flight, close the journal, exit 0.
    public func terminate(signal signo: Int32) {
        guard lock.withLock({ () -> Bool in let was = stopping; stopping = true; return !was }) else { return }
        log.notice("signal \(signo): draining and stopping")
        notify.stopPublishingStatus()
        _ = notify.stopping(status: "draining")
        watcher?.stop()
        intakeQueue.sync(flags: .barrier) {}  // files being processed finish
        server?.stop(timeout: .seconds(20))
        scheduler.stop()
        retention.stop()
        metricsServer?.stop(timeout: .seconds(1))
        followup?.stop()
        notify.stopWatchdog()
        journal.close()
        unlink(pidFile.path)
        log.notice("stopped")
        exit(0)
    }

    /// Tells `stafettd --reload` how the reload went (ReloadAnswer.swift). A failure to write it
    /// only costs that command its answer (it times out and says so), so it is logged, not fatal.
    private func answerReload(_ state: ReloadAnswer.State, _ message: String) {
        do {
            try ReloadAnswer(pid: getpid(), generation: lock.withLock { reloadGeneration }, state: state, message: message)
                .write(to: ReloadAnswer.file(in: layout))
        } catch {
            log.limited(.error, key: "reload-answer", every: .seconds(60), "cannot write \(ReloadAnswer.file(in: layout).path): \(error)")
        }
    }

    private var pidFile: URL { layout.state.appendingPathComponent("stafettd.pid") }

    private func writePidFile() throws {
        try AtomicFile.write(Data("\(getpid())\n".utf8), to: pidFile, mode: 0o644)
    }

    /// The metrics registry (tests, `/metrics`).
    public var metricsRegistry: Metrics { metrics }
}

/// Whether a round has told that its messages are queued: once, from whichever comes first.
final class IntakeRoundQueued: @unchecked Sendable {
    /// The bytes of its files, counted in `intakeBytes` until its messages are queued.
    let bytes: Int
    private let lock = NSLock()
    private var told = false

    init(bytes: Int) { self.bytes = bytes }

    /// True the first time only.
    func first() -> Bool { lock.withLock { let was = told; told = true; return !was } }
}
