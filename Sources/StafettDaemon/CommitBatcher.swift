import CShims
import Foundation
import StafettJournal
#if canImport(Glibc)
import Glibc
#endif

/// One unit of durable work: files already written under temporary names (not yet synced), the
/// names they must end up under, and the journal records that report them.
public struct CommitItem: Sendable {
    /// `(temporary, final)` paths, in one directory of the spool (`AtomicFile.stage` makes them).
    public var files: [(temporary: String, final: String)]
    /// Journal records appended once the files are durable under their final names.
    public var entries: [JournalEntry]
    /// The other order: the files' data is durable, then the journal records, and only then do
    /// the files take their final names. For what a consumer may take away the moment it appears
    /// (the inbox): a crash before the record leaves only a staged file, never a message that is
    /// in the inbox but not in the journal (which a resend would deliver twice once the local
    /// system had consumed it). `SpoolLayout.recoverStagedInbox` finishes or drops staged files at start.
    public var renameAfterJournal: Bool
    /// Files that take their final names before the journal records whatever `renameAfterJournal`
    /// says: what the records point at (an archived batch receipt), which must never be missing
    /// when a record names it.
    public var referenced: [(temporary: String, final: String)] = []

    /// Creates an item.
    public init(files: [(temporary: String, final: String)], entries: [JournalEntry], renameAfterJournal: Bool = false) {
        self.files = files
        self.entries = entries
        self.renameAfterJournal = renameAfterJournal
    }
}

/// Group commit for spool files and journal records together.
///
/// Each connection or delivery thread prepares its files (written, not synced) and calls
/// `commit`, which returns only when the files are on disk under their final names and the
/// journal records are durable. Whoever arrives while no commit runs leads the next round
/// for everyone waiting: one `syncfs` for the staged files' data, the renames, one fsync of each
/// directory they were renamed in, one journal flush. So many concurrent hand-offs share three
/// flushes, where each alone would pay five.
public final class CommitBatcher: @unchecked Sendable {
    private let spool: String
    /// The spool directory, open for the batcher's life: `syncfs` reports a write-back error only
    /// to descriptors opened before it happened, so one opened per round would miss an error from
    /// the write of a staged file and let that file be renamed and acknowledged (-1: none, each
    /// round opens its own).
    private let spoolFD: Int32
    private let journal: Journal
    /// The device of the spool's file system (`st_dev`), which each round's `syncfs` flushes
    /// whole: what `commitReportingFlush` tells callers (nil when it cannot be told).
    public let fileSystem: UInt64?
    private let lock = NSLock()
    /// Items waiting for the next round, each with the caller that waits for it (guarded by `lock`).
    private var waiting: [(item: CommitItem, waiter: Waiter)] = []
    /// True while a round runs (guarded by `lock`).
    private var leading = false
    /// Rounds run so far (guarded by `lock`; tests).
    private var rounds = 0

    /// One caller waiting in `commit`: woken once, by the leader of the round that held its item
    /// (`result` set) or by one handing the lead on (`result` nil). A condition broadcast instead
    /// woke every waiting caller after every round, most of them only to sleep again (about a
    /// dozen futex calls per message on a busy receiver).
    private final class Waiter: @unchecked Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        var result: Result<Committed, SpoolError>?
    }

    /// What a round did for one item: its journal sequence numbers, and whether the round flushed
    /// the spool's file system (`syncfs`) after the item was handed in.
    public struct Committed: Sendable {
        public var sequences: [UInt64]
        public var flushedFileSystem: Bool
    }

    /// Creates a batcher over the spool's file system and the node journal.
    public init(spool: URL, journal: Journal) {
        self.spool = spool.path
        spoolFD = open(spool.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        self.journal = journal
        var st = stat()
        fileSystem = (spoolFD >= 0 ? fstat(spoolFD, &st) : stat(spool.path, &st)) == 0 ? UInt64(st.st_dev) : nil
    }

    deinit { if spoolFD >= 0 { close(spoolFD) } }

    /// How many rounds (each one set of flushes) have run.
    var roundCount: Int { lock.withLock { rounds } }

    /// When the round now running started (guarded by `lock`; nil between rounds).
    private var roundStarted: ContinuousClock.Instant?

    /// False when a round has run longer than `limit`: the disk or the journal is stuck, and every
    /// hand-off (intake, receiving, settling a delivery) waits behind it. What the systemd
    /// watchdog asks, so that a wedged daemon is restarted instead of pinging on while nothing moves.
    public func isMakingProgress(within limit: Duration = .seconds(20)) -> Bool {
        lock.withLock { roundStarted.map { ContinuousClock.now - $0 < limit } ?? true }
    }

    /// Makes `item` durable together with whatever else is waiting; returns the journal sequence numbers.
    @discardableResult
    public func commit(_ item: CommitItem) throws(SpoolError) -> [UInt64] {
        try commitReportingFlush(item).sequences
    }

    /// `commit`, telling also whether the round flushed the whole spool file system (`syncfs`, a
    /// round with files does) after `item` was handed in: then whatever was written to that file
    /// system before this call is durable too (intake's inputs, `AtomicFile.moveAll`).
    public func commitReportingFlush(_ item: CommitItem) throws(SpoolError) -> Committed {
        let me = Waiter()
        lock.lock()
        waiting.append((item, me))
        if leading {
            lock.unlock()
            me.semaphore.wait()
            if let result = me.result { return try result.get() }
            lock.lock()  // handed the lead: our item is still waiting
        }
        // Lead a round: take everything waiting, including our own item.
        leading = true
        let batch = waiting
        waiting.removeAll()
        rounds += 1
        roundStarted = ContinuousClock.now
        lock.unlock()

        let outcome = CommitBatcher.run(batch.map(\.item), spool: spool, spoolFD: spoolFD, journal: journal)
        var offset = 0
        for (item, waiter) in batch {
            switch outcome {
            case .success(let done):
                waiter.result = .success(Committed(sequences: Array(done.sequences[offset..<offset + item.entries.count]),
                                                   flushedFileSystem: done.flushedFileSystem))
            case .failure(let e): waiter.result = .failure(e)
            }
            offset += item.entries.count
        }

        lock.lock()
        roundStarted = nil
        // Whoever queued meanwhile leads the next round: one wake-up, for one of them.
        let next = waiting.first?.waiter
        leading = next != nil
        lock.unlock()
        next?.semaphore.signal()
        for (_, waiter) in batch where waiter !== me { waiter.semaphore.signal() }
        return try me.result!.get()
    }

    private static func run(_ items: [CommitItem], spool: String, spoolFD: Int32, journal: Journal) -> Result<Committed, SpoolError> {
        do throws(SpoolError) {
            let early = items.filter { !$0.renameAfterJournal }.flatMap(\.files) + items.flatMap(\.referenced)
            let late = items.filter(\.renameAfterJournal).flatMap(\.files)
            // Data first: one syncfs whatever the number of files (an fdatasync per file would
            // cost a device flush per file; a round must cost the same for one hand-off as for fifty).
            let flushing = !early.isEmpty || !late.isEmpty
            if flushing {
                if spoolFD >= 0 {
                    guard stafett_syncfs(spoolFD) == 0 else { throw .errno(spool, "syncfs") }
                } else {
                    try AtomicFile.syncFileSystem(spool)
                }
            }
            try publish(early)
            let entries = items.flatMap(\.entries)
            var sequences: [UInt64] = []
            if !entries.isEmpty {
                do { sequences = try journal.appendBatch(entries) } catch {
                    throw SpoolError(path: journal.directory, operation: "journal append", reason: error.description)
                }
            }
            try publish(late)
            return .success(Committed(sequences: sequences, flushedFileSystem: flushing))
        } catch {
            return .failure(error)
        }
    }

    /// Gives staged files (data already synced) their final names, durably. `AtomicFile.stage` wrote each
    /// temporary beside its final name, so the directory exists. The names live in the few
    /// directories the round touched (the inbox, or a peer's queue), and fsyncing those writes
    /// only them, where a second syncfs walked every dirty inode on the file system again.
    private static func publish(_ files: [(temporary: String, final: String)]) throws(SpoolError) {
        guard !files.isEmpty else { return }
        for f in files {
            guard rename(f.temporary, f.final) == 0 else { throw .errno(f.final, "rename") }
        }
        for dir in Set(files.map { parentDirectory(of: $0.final) }) { try AtomicFile.syncDirectory(dir) }
    }

    /// The directory part of a spool path (`SpoolLayout.join` made it, so it has a slash).
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
