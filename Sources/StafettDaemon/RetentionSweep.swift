import Foundation
import StafettCrypto
import StafettJournal
#if canImport(Glibc)
import Glibc
#endif

/// Removes files from `accepted/`, `failed/` and `archive/` once their retention period
/// (`[retention]`) has passed, journaling each removal before the file goes: the journal keeps
/// the file's path below the spool and its SHA-256, and is itself never shortened.
///
/// A file's age counts from when it reached its folder (its inode change time, which the move
/// there set), so a file kept for a while in the outbox is not removed early. A crash between a
/// removal's record and the unlink leaves the file, and the next sweep journals it again.
/// Sweeps run on their own queue, off the intake and delivery paths: at start, then hourly,
/// each removing at most `limit` files; a sweep that hit the limit is followed by the next
/// one a minute later, so a backlog drains without one sweep holding the disk for long.
public final class RetentionSweep: @unchecked Sendable {
    /// What one sweep did.
    public struct Outcome: Sendable, Equatable {
        /// Paths below the spool removed, in the order removed.
        public var removed: [String] = []
        /// Files that were due but could not be removed (path below the spool, and why).
        public var failures: [String] = []
        /// True when the sweep stopped at its limit with more possibly due.
        public var reachedLimit = false
    }

    private let layout: SpoolLayout
    private let batcher: CommitBatcher
    private let limit: Int
    private let queue = DispatchQueue(label: "stafett.retention", qos: .utility)
    private var timer: DispatchSourceTimer?

    /// A sweeper over `layout`'s folders, journaling through `batcher`.
    public init(layout: SpoolLayout, batcher: CommitBatcher, limit: Int = 10_000) {
        self.layout = layout
        self.batcher = batcher
        self.limit = limit
    }

    /// The folders swept, each with its period.
    func folders(_ retention: StafettConfig.Retention) -> [(root: URL, keep: Duration)] {
        [(layout.accepted, retention.accepted), (layout.failed, retention.failed), (layout.archive, retention.archive)]
    }

    /// One sweep: removes every file older than its folder's period, up to the limit.
    public func sweep(_ retention: StafettConfig.Retention, now: Date = Date()) -> Outcome {
        var outcome = Outcome()
        for (root, keep) in folders(retention) where !outcome.reachedLimit {
            let cutoff = now.timeIntervalSince1970 - keep.timeInterval
            Self.forEachFile(under: root.path) { file, st in
                guard Double(st.st_ctim.tv_sec) < cutoff else { return true }
                guard outcome.removed.count < limit else {
                    outcome.reachedLimit = true
                    return false
                }
                let relative = String(file.dropFirst(layout.spool.path.count + 1))
                do {
                    let entry = JournalEntry(kind: .removed, time: now, digest: Self.digest(of: file, mode: st.st_mode), file: relative)
                    try batcher.commit(CommitItem(files: [], entries: [entry]))
                    guard unlink(file) == 0 || errno == ENOENT else { throw SpoolError.errno(file, "unlink") }
                    outcome.removed.append(relative)
                } catch {
                    outcome.failures.append("\(relative): \(error)")
                }
                return true
            }
        }
        return outcome
    }

    /// Sweeps now and then every `interval`, reading the periods at each sweep (a reload changes
    /// them); `report` hears every sweep that removed or failed anything.
    public func start(every interval: Duration = .seconds(3600), retention: @escaping @Sendable () -> StafettConfig.Retention,
                      report: @escaping @Sendable (Outcome) -> Void) {
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.setEventHandler { [unowned self] in
            let outcome = sweep(retention())
            if !outcome.removed.isEmpty || !outcome.failures.isEmpty { report(outcome) }
            let next: Duration = outcome.reachedLimit ? .seconds(60) : interval
            t.schedule(deadline: .now() + next.timeInterval)
        }
        t.schedule(deadline: .now())
        timer = t
        t.resume()
    }

    /// Stops the timer and waits for a sweep in progress.
    public func stop() {
        timer?.cancel()
        queue.sync {}
    }

    /// Calls `visit` with every entry below `root` that is not a directory (with its `lstat`),
    /// one directory at a time, until it returns false. Names starting with '.' are skipped:
    /// temporaries a write in progress owns.
    static func forEachFile(under root: String, _ visit: (String, stat) -> Bool) {
        var pending = [root]
        while let dir = pending.popLast() {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() where !name.hasPrefix(".") {
                let path = SpoolLayout.join(dir, name)
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    pending.append(path)
                } else if !visit(path, st) {
                    return
                }
            }
        }
    }

    /// The SHA-256 (hex) of a regular file, read in chunks and never through a link; nil for
    /// anything else (a link or FIFO a case system dropped) or a file that cannot be read.
    static func digest(of path: String, mode: mode_t) -> String? {
        guard (mode & S_IFMT) == S_IFREG else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var sha = SHA256()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            chunk.withUnsafeBytes { sha.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return sha.finalize().hexString
    }
}
