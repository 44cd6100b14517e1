import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Watches the outbox (and its sub-folders, except `accepted/` and `failed/`) and hands each
/// complete intake file to a consumer exactly once until the consumer calls `done` or `retry`.
///
/// - Files renamed into place (`IN_MOVED_TO`) are complete and handed on at once.
/// - Files written in place (`IN_CLOSE_WRITE`, or found by a scan) are handed on only after their
///   size and modification time have stayed the same for the quiet period.
/// - A scan at start and every `scanInterval` finds what inotify missed (files dropped while the
///   daemon was down, network file systems, a queue overflow, which also triggers a scan at once).
/// - Ignored: names starting with `.`, `*.part`, `*.tmp`, `*.errors.txt`, and office clutter
///   (`desktop.ini`, `Thumbs.db`, Excel's `~$…` lock files: `OutboxName.isClutter`).
/// - Symbolic links, FIFOs, sockets and devices are handed on at once, never followed or opened:
///   the consumer files them in `failed/` with a report.
/// - A name that is not UTF-8 is given a UTF-8 name in its folder first (`OutboxName`), then
///   waits its quiet period under that name.
public final class OutboxWatcher: @unchecked Sendable {
    /// Tuning; defaults match `[limits]` in `stafett.conf`.
    public struct Options: Sendable {
        /// How long a file written in place must stay unchanged. Default 2s.
        public var quietPeriod: Duration = .seconds(2)
        /// How often the whole tree is rescanned. Default 30s.
        public var scanInterval: Duration = .seconds(30)
        /// Top-level sub-folders that are never intake (the final places of inputs).
        public var excludedFolders: Set<String> = ["accepted", "failed"]

        /// Defaults.
        public init() {}

        /// From the configuration's limits.
        public init(limits: StafettConfig.Limits) {
            quietPeriod = limits.quietPeriod
            scanInterval = limits.scanInterval
        }
    }

    /// Why the watcher could not start.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        /// The directory concerned.
        public var path: String
        /// The system's reason.
        public var reason: String
        public var description: String { "cannot watch \(path): \(reason)" }
    }

    /// True when a file name is never intake (temporary names of writers and our own reports).
    public static func isIgnored(name: String) -> Bool {
        let lower = name.lowercased()
        return name.hasPrefix(".") || lower.hasSuffix(".part") || lower.hasSuffix(".tmp") || lower.hasSuffix(".errors.txt")
            || OutboxName.isClutter(name)
    }

    private let root: URL
    private let rootPath: String
    private let options: Options
    private let handlerQueue: DispatchQueue
    private let handler: @Sendable (URL) -> Void
    private let log: Logger?
    /// All mutable state below is touched only on this queue.
    private let queue = DispatchQueue(label: "stafett.outbox-watcher")
    private var fd: Int32 = -1
    private var readSource: DispatchSourceRead?
    private var scanTimer: DispatchSourceTimer?
    private var quietTimer: DispatchSourceTimer?
    private var directories: [Int32: String] = [:]
    private var pending: [String: Candidate] = [:]
    private var handed: Set<String> = []
    /// Paths this watcher gave a UTF-8 name: their `IN_MOVED_TO` is ours, not a writer's, so
    /// they still wait their quiet period.
    private var renamedHere: Set<String> = []
    private var stopped = false
    private var overflows = 0
    /// When the quiet timer fires next (uptime ns), nil when disarmed.
    private var quietDue: UInt64?

    private struct Candidate {
        var size: Int64
        var mtime: timespec
        var stableSince: DispatchTime
    }

    /// A watcher of `root` that calls `handler` on `handlerQueue` with each complete file, and
    /// tells `log` of names it changed.
    public init(root: URL, options: Options = Options(), handlerQueue: DispatchQueue, log: Logger? = nil,
                handler: @escaping @Sendable (URL) -> Void) {
        self.log = log
        self.root = root.standardizedFileURL
        self.rootPath = root.standardizedFileURL.path
        self.options = options
        self.handlerQueue = handlerQueue
        self.handler = handler
    }

    deinit {
        // A source's cancel handler closes the descriptor; without a source it is closed here.
        if let readSource { readSource.cancel() } else if fd >= 0 { close(fd) }
        scanTimer?.cancel()
        quietTimer?.cancel()
    }

    /// Starts watching and runs the first scan. The outbox must exist. A watcher starts once.
    public func start() throws(StartError) {
        let result: StartError? = queue.sync { () -> StartError? in
            guard fd < 0, !stopped else { return StartError(path: rootPath, reason: "the watcher was already started") }
            fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            guard fd >= 0 else { return StartError(path: rootPath, reason: String(cString: strerror(errno))) }
            guard addWatch(rootPath) else {
                let reason = String(cString: strerror(errno))
                close(fd)
                fd = -1
                return StartError(path: rootPath, reason: reason)
            }
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            let fdToClose = fd
            source.setEventHandler { [weak self] in self?.drain() }
            source.setCancelHandler { close(fdToClose) }
            readSource = source
            source.resume()

            let quiet = DispatchSource.makeTimerSource(queue: queue)
            quiet.setEventHandler { [weak self] in self?.checkQuiet() }
            quiet.schedule(deadline: .distantFuture)
            quietTimer = quiet
            quiet.resume()

            let scan = DispatchSource.makeTimerSource(queue: queue)
            let interval = DispatchTimeInterval.milliseconds(Int(max(options.scanInterval.milliseconds, 100)))
            scan.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(100))
            scan.setEventHandler { [weak self] in self?.scan() }
            scanTimer = scan
            scan.resume()

            self.scan()
            return nil
        }
        if let result { throw result }
    }

    /// Stops watching. Files already handed on stay with the consumer.
    public func stop() {
        queue.sync {
            stopped = true
            // The read source's cancel handler closes the descriptor.
            if let readSource { readSource.cancel(); fd = -1 }
            scanTimer?.cancel()
            quietTimer?.cancel()
            readSource = nil
            scanTimer = nil
            quietTimer = nil
        }
    }

    /// The consumer has finished with the file (moved it to `accepted/` or `failed/`): forget it.
    /// If a file of that name shows up again later it is new and will be handed on again.
    public func done(_ file: URL) {
        let path = SpoolLayout.standardPath(of: file)
        queue.async {
            self.handed.remove(path)
            self.renamedHere.remove(path)
        }
    }

    /// The consumer could not finish (e.g. the queue disk is full): hand the file on again after
    /// `delay`, if it is still there.
    public func retry(_ file: URL, after delay: Duration = .zero) {
        let path = SpoolLayout.standardPath(of: file)
        let ms = Int(max(delay.milliseconds, 0))
        queue.asyncAfter(deadline: .now() + .milliseconds(ms)) {
            guard !self.stopped, self.handed.remove(path) != nil else { return }
            if self.fileKind(path) != nil { self.handOn(path) }
        }
    }

    /// Rescans now (e.g. on SIGHUP).
    public func rescan() { queue.async { self.scan() } }

    /// How many times the kernel's event queue overflowed (each answered by a full scan).
    public var overflowCount: Int { queue.sync { overflows } }

    /// Holds the watcher's queue until `semaphore` is signalled, so tests can let events pile up.
    func blockForTesting(until semaphore: DispatchSemaphore) {
        queue.async { semaphore.wait() }
    }

    // MARK: - inotify

    private static let watchMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

    private func addWatch(_ dir: String) -> Bool {
        let wd = inotify_add_watch(fd, dir, Self.watchMask)
        guard wd >= 0 else { return false }
        directories[wd] = dir
        return true
    }

    /// Reads every queued event; the descriptor is non-blocking, so this stops at EAGAIN.
    private func drain() {
        let size = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while !stopped {
            let n = read(fd, buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                return  // EAGAIN: drained
            }
            if n == 0 { return }
            var offset = 0
            // Each event: int wd, uint32 mask, uint32 cookie, uint32 len, then len bytes of NUL-padded name.
            while offset + 16 <= n {
                let wd = buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                let mask = buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                let len = Int(buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                var name: [UInt8] = []
                if len > 0, offset + 16 + len <= n {
                    let bytes = UnsafeRawBufferPointer(start: buffer + offset + 16, count: len)
                    name = Array(bytes.prefix { $0 != 0 })
                }
                offset += 16 + len
                handle(wd: wd, mask: mask, rawName: name)
            }
        }
    }

    private func handle(wd: Int32, mask: UInt32, rawName: [UInt8]) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            overflows += 1
            scan()
            return
        }
        if mask & UInt32(IN_IGNORED) != 0 {
            directories[wd] = nil
            return
        }
        guard let dir = directories[wd] else { return }
        if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
            // The folder moved or went: its watch is stale; the next scan re-adds what exists.
            inotify_rm_watch(fd, wd)
            directories[wd] = nil
            return
        }
        guard !rawName.isEmpty else { return }
        guard let name = OutboxName.utf8(rawName) else {
            if mask & UInt32(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) != 0 { adopt(rawName, in: dir) }
            return
        }
        guard !Self.isIgnored(name: name) else { return }
        let path = dir + "/" + name
        if mask & UInt32(IN_ISDIR) != 0 {
            if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0, !isExcluded(path) {
                // Files may land in a new folder before its watch exists: scan it now.
                scanDirectory(path)
            }
            return
        }
        if mask & UInt32(IN_MOVED_FROM) != 0 {
            pending[path] = nil
        } else if mask & UInt32(IN_MOVED_TO) != 0, renamedHere.remove(path) != nil {
            consider(path, restart: true)
        } else if mask & UInt32(IN_MOVED_TO) != 0 {
            // Renamed into place: complete by the drop convention.
            pending[path] = nil
            if !handed.contains(path), fileKind(path) != nil { handOn(path) }
        } else if mask & UInt32(IN_CLOSE_WRITE) != 0 {
            consider(path, restart: true)
        } else if mask & UInt32(IN_CREATE) != 0, fileKind(path) == .odd {
            // A symbolic link or FIFO is complete when made, and nobody closes it after writing.
            handOn(path)
        }
    }

    // MARK: - scanning and the quiet period

    private func isExcluded(_ path: String) -> Bool {
        guard path.hasPrefix(rootPath + "/") else { return true }
        let rel = path.dropFirst(rootPath.count + 1)
        let top = rel.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        return options.excludedFolders.contains(top)
    }

    private func scan() {
        guard !stopped else { return }
        scanDirectory(rootPath)
    }

    private func scanDirectory(_ dir: String) {
        guard !stopped, isDirectoryNoFollow(dir) else { return }
        _ = addWatch(dir)
        guard let rawNames = OutboxName.rawNames(in: dir) else { return }
        var names: [String] = []
        for raw in rawNames {
            if let name = OutboxName.utf8(raw) { names.append(name) } else { adopt(raw, in: dir) }
        }
        for name in names.sorted() where !Self.isIgnored(name: name) {
            let path = dir + "/" + name
            if isDirectoryNoFollow(path) {
                if !isExcluded(path) { scanDirectory(path) }
            } else if fileKind(path) == .odd {
                if !handed.contains(path) { handOn(path) }
            } else {
                consider(path, restart: false)
            }
        }
    }

    /// Gives a name that is not UTF-8 a UTF-8 one (see `OutboxName.giveUTF8Name`); the file then
    /// waits its quiet period under the new name. A name that cannot be changed is logged once.
    private func adopt(_ raw: [UInt8], in dir: String) {
        let shown = dir + "/" + OutboxName.escaped(bytes: raw)
        // A writer's temporary name is left alone: the writer renames it when done.
        if Self.isIgnored(name: OutboxName.utf8Name(forRawName: raw)) { return }
        switch OutboxName.giveUTF8Name(directory: dir, raw: raw) {
        case .success(nil):
            return  // gone already (renamed here on an earlier event, or taken back)
        case .success(let path?):
            log?.notice("outbox: \(shown): the name is not UTF-8; renamed to \(OutboxName.escaped(path))")
            if isDirectoryNoFollow(path) {
                if !isExcluded(path) { scanDirectory(path) }
            } else if fileKind(path) == .odd {
                handOn(path)
            } else {
                renamedHere.insert(path)
                consider(path, restart: true)
            }
        case .failure(let error):
            log?.limited(.error, key: "outbox-name-\(shown)", every: .seconds(3600),
                         "outbox: \(shown): the name is not UTF-8 and cannot be changed (\(error.reason)); the file waits in the outbox")
        }
    }

    /// Starts (or with `restart`, restarts) the quiet period for a file written in place.
    private func consider(_ path: String, restart: Bool) {
        guard !handed.contains(path), let st = regularFile(path) else { return }
        if !restart, pending[path] != nil { return }
        let now = DispatchTime.now()
        pending[path] = Candidate(size: Int64(st.st_size), mtime: st.st_mtim, stableSince: now)
        // O(1) per event: a new candidate is never due before one already waiting.
        if quietDue == nil { armQuietTimer(at: now.uptimeNanoseconds + quietNanos) }
    }

    private var quietNanos: UInt64 { UInt64(max(options.quietPeriod.milliseconds, 0)) * 1_000_000 }

    /// One pass over the waiting files: hand on those unchanged for the quiet period, restart
    /// those that changed, drop those that went, and sleep until the next one is due.
    private func checkQuiet() {
        quietDue = nil
        guard !stopped else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        var ready: [String] = []
        var next: UInt64?
        for (path, c) in pending {
            guard let st = regularFile(path) else {
                pending[path] = nil
                continue
            }
            if Int64(st.st_size) != c.size || st.st_mtim.tv_sec != c.mtime.tv_sec || st.st_mtim.tv_nsec != c.mtime.tv_nsec {
                pending[path] = Candidate(size: Int64(st.st_size), mtime: st.st_mtim, stableSince: DispatchTime(uptimeNanoseconds: now))
                next = min(next ?? .max, now + quietNanos)
            } else if now &- c.stableSince.uptimeNanoseconds >= quietNanos {
                ready.append(path)
            } else {
                next = min(next ?? .max, c.stableSince.uptimeNanoseconds + quietNanos)
            }
        }
        for path in ready.sorted() {
            pending[path] = nil
            handOn(path)
        }
        if let next { armQuietTimer(at: next) }
    }

    private func armQuietTimer(at uptimeNanos: UInt64) {
        quietDue = uptimeNanos
        quietTimer?.schedule(deadline: DispatchTime(uptimeNanoseconds: uptimeNanos), leeway: .milliseconds(10))
    }

    private func handOn(_ path: String) {
        guard !handed.contains(path) else { return }
        handed.insert(path)
        // Not a directory (the watcher knows): without the hint, URL stats the path to find out.
        let url = URL(fileURLWithPath: path, isDirectory: false)
        let handler = self.handler
        handlerQueue.async { handler(url) }
    }

    private func regularFile(_ path: String) -> stat? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return st
    }

    /// What a non-directory entry is, for intake: a regular file, or an odd one (symbolic link,
    /// FIFO, socket, device); nil for a directory or a name that is gone.
    private enum FileKind { case regular, odd }

    private func fileKind(_ path: String) -> FileKind? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return nil
        default: return .odd
        }
    }

    private func isDirectoryNoFollow(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
