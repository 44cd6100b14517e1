import Foundation
import StafettCrypto
import StafettJournal
import StafettModel
import StafettXML

/// What became of one outbox file.
public enum IntakeOutcome: Sendable, Equatable {
    /// Every record is queued; the file is in `accepted/`.
    case accepted(messages: Int, movedTo: URL)
    /// Nothing was queued; the file is in `failed/` beside its `.errors.txt`.
    case failed(errors: Int, movedTo: URL)
    /// The file disappeared before it was read (someone took it back).
    case vanished
}

/// Turns an outbox file into queued, signed, journaled messages, all or nothing.
///
/// Order matters for "nothing lost": the `queued` journal records are durable, then the queue
/// files, and only then does the input move to `accepted/`. A crash anywhere leaves the input in
/// the outbox; reprocessing derives the same message ids, skips those queued or already
/// delivered, and queues nothing twice. Files that arrive together go through these steps as one
/// round (`processRound`, in IntakeRound.swift), sharing each step's flushes.
public struct IntakeProcessor: Sendable {
    /// The node: who we are, our key, peers and routing.
    public var runtime: NodeRuntime
    /// The spool directories.
    public var layout: SpoolLayout
    /// The durable queue.
    public var store: QueueStore
    /// Journal group commit.
    public var batcher: CommitBatcher
    /// Shared by the processors of one daemon, so that files with the same content are taken one
    /// at a time (see `IntakeGate`); nil for a processor working alone.
    public var gate: IntakeGate?
    /// Told of messages a file yields that are still in the queue from an earlier try of it
    /// (a commit that failed after its renames, a crash): the scheduler may never have heard of
    /// them, and they must not wait for a restart.
    public var stillQueued: (@Sendable ([QueueEntry]) -> Void)?
    /// Where `stafett_disk_space_low` is set when intake checks the free space; nil for none.
    public var metrics: Metrics?
    /// Told of a round's newly queued messages (with their signed XML, if kept) as soon as their
    /// queue files and records are durable, before the inputs move to `accepted/`: the scheduler
    /// may send them while the moves are flushed. A large round tells window by window; the
    /// second argument is true on the round's last call, when nothing more will be queued by it.
    /// Nil: they are only returned, as `processKeepingMessages` does.
    public var onQueued: (@Sendable (_ queued: [Queued], _ roundDone: Bool) -> Void)?

    /// How many messages a round signs and stages at a time; a round with more is queued window
    /// by window (see `commit` in IntakeRound.swift). Some thousands: a window's signed messages
    /// are a few megabytes.
    public var messagesPerWindow = 4096

    /// Creates a processor.
    public init(runtime: NodeRuntime, layout: SpoolLayout, store: QueueStore, batcher: CommitBatcher) {
        self.runtime = runtime
        self.layout = layout
        self.store = store
        self.batcher = batcher
    }

    /// Processes one file. Returns the queued entries (for the scheduler) and the outcome.
    public func process(_ file: URL, now: Date = Date()) throws(SpoolError) -> (IntakeOutcome, [QueueEntry]) {
        let (outcome, queued) = try processKeepingMessages(file, now: now)
        return (outcome, queued.map(\.entry))
    }

    /// `process`, returning each queued entry with its signed message as written to the queue, so
    /// the scheduler can send it without reading the file back (`DeliveryScheduler.addQueued`).
    public func processKeepingMessages(_ file: URL, now: Date = Date()) throws(SpoolError) -> (IntakeOutcome, [Queued]) {
        let done = try processRound([file], now: now)[0].get()
        return (done.outcome, done.queued)
    }

    /// One input read, decoded and routed: what a round seals, queues and files away.
    struct Decoded {
        var file: URL
        /// What the name pointed at when it was read: the file moves to accepted/ or failed/ only
        /// if it still does (see `FileIdentity`).
        var identity: FileIdentity?
        /// As shown in the report, the journal and the log.
        var name: String
        var digest: String
        /// Every message of the input, routed: each copy for an extra peer right after its
        /// original. A large round lets go of each (nil) once it is staged.
        var messages: [CaseMessage?]
        /// The configured peer each of `messages` goes to.
        var peers: [String]
    }

    /// What preparing an input came to: decoded and ready for the round, or finished (vanished,
    /// refused and filed in `failed/`, or left in the outbox by an error).
    enum Prepared {
        case decoded(Decoded)
        case finished(FileResult)
    }

    /// The steps of one input before anything is signed or queued: read, decode, route. Any of
    /// them may refuse the file, which then goes to `failed/` with every reason found. Signing
    /// waits for the round (`sealAndStage`), which writes each message to the queue as soon as it
    /// is signed: the signed messages of a large export together are several times its size.
    func prepare(_ file: URL, now: Date) -> Prepared {
        // As shown in the report, the journal and the log: a newline in a name must not split a line.
        let name = OutboxName.escaped(layout.outboxRelativePath(of: file) ?? file.lastPathComponent)
        // One lstat tells what the file is, for the read, and which file it is, for the move.
        var st = stat()
        let statError = lstat(file.path, &st) == 0 ? 0 : Glibc.errno
        let identity = statError == 0 ? FileIdentity(st) : nil
        do throws(SpoolError) {
            // The file's bytes are handed to the decoder, which lets go of them as soon as it has
            // its text (a large export's bytes and records are not held together): only the
            // messages go on, and they are routed in place, not copied.
            let data: Data
            switch try read(file, name: name, status: st, statError: statError) {
            case .vanished: return .finished(.success((.vanished, [])))
            case .refused(let problems): return .finished(.success((try fail(file, identity, name: name, problems), [])))
            case .content(let content): data = content
            }
            let digest = SHA256.hex(data)
            var messages: [CaseMessage]
            switch decode(consume data, name: name, digest: digest, now: now) {
            case .failure(let problems): return .finished(.success((try fail(file, identity, name: name, problems), [])))
            case .success(let decoded): messages = decoded
            }
            switch route(&messages, name: name) {
            case .failure(let problems): return .finished(.success((try fail(file, identity, name: name, problems), [])))
            case .success(let peers):
                return .decoded(Decoded(file: file, identity: identity, name: name, digest: digest, messages: messages.map { $0 }, peers: peers))
            }
        } catch {
            return .finished(.failure(error))
        }
    }

    /// What reading an input came to.
    private enum Read {
        case content(Data)
        /// The file disappeared before it was read.
        case vanished
        /// The file cannot be taken as it is: it goes to `failed/`.
        case refused(IntakeProblems)
    }

    /// Reads an input whole, within the size limit. Only a regular file is opened: a symbolic
    /// link is never followed (it could lead anywhere the daemon may read) and a FIFO never opened
    /// (that would wait for a writer); both go to `failed/` as they are.
    /// `st` is what `lstat` said of it (or `statError`, its errno).
    private func read(_ file: URL, name: String, status st: stat, statError: Int32) throws(SpoolError) -> Read {
        guard statError == 0 else {
            if statError == ENOENT { return .vanished }
            throw SpoolError.errno(file.path, "stat", statError)
        }
        if let kind = Self.oddKind(st.st_mode) {
            return .refused(IntakeProblems(
                swedish: ["\(name): detta är \(Self.swedishOddKind(st.st_mode)), inte en vanlig fil: Stafett tar bara emot vanliga filer "
                    + "och följer eller öppnar aldrig något annat. Spara eller kopiera själva filen till utkorgen."],
                english: ["\(name): this is \(kind), not a file: Stafett takes only ordinary files and never "
                    + "follows or opens anything else. Save or copy the file itself into the outbox."]))
        }
        let data: Data
        do {
            data = try IntakeFile.readBounded(file, limits: IntakeLimits(maxBytes: runtime.config.limits.maxIntakeFile))
        } catch {
            if access(file.path, F_OK) != 0 && Glibc.errno == ENOENT { return .vanished }
            // Left in the outbox, a file the daemon may not read would wait there for ever with no
            // trace but a log line. Moving it needs only the directory, so it goes to failed/ with
            // a report saying what to do, and into the journal, like any other refused file.
            if IntakeProcessor.isShutOut(file.path) {
                return .refused(IntakeProblems(
                    swedish: ["\(name): Stafett får inte läsa filen (ägaren eller behörigheterna stänger ute användaren stafett): "
                        + "spara den igen så att den går att läsa, till exempel för utkorgens grupp, och lägg den i utkorgen igen"],
                    english: ["\(name): Stafett may not read this file (its owner or permissions shut out "
                        + "the stafett user): save it again so that it is readable, for example by the outbox's group, and drop it again"]))
            }
            // Any other read error is not the case worker's fault: the file stays in the outbox for the next scan.
            throw SpoolError(path: file.path, operation: "read", reason: "\(error)")
        }
        if data.count > runtime.config.limits.maxIntakeFile {
            let limit = runtime.config.limits.maxIntakeFile
            return .refused(IntakeProblems(
                swedish: ["\(name): filen är \(data.count) byte, mer än gränsen \(limit): dela upp den i mindre filer"],
                english: ["\(name): the file is \(data.count) bytes, more than the limit of \(limit): split it into smaller files"]))
        }
        return .content(data)
    }

    /// Routes each message to its recipient, plus fan-out per event type: the configured peer
    /// of each, in order, with each copy for an extra peer inserted right after its original.
    private func route(_ messages: inout [CaseMessage], name: String) -> Result<[String], IntakeProblems> {
        var peers: [String] = []
        peers.reserveCapacity(messages.count)
        var copies: [(after: Int, peer: String, message: CaseMessage)] = []
        var errors: [String] = []
        for (i, m) in messages.enumerated() {
            guard let primary = runtime.peer(for: m.header.recipient) else {
                errors.append("\(name): message \(m.header.messageId): recipient \(m.header.recipient) is not a configured peer")
                continue
            }
            peers.append(primary.config.name)
            for extra in runtime.config.routing.extraPeers(for: m.event.type) where extra != primary.config.name {
                guard let p = runtime.peers[extra] else { continue }
                var copy = m
                copy.header.recipient = p.config.organisation
                // Each copy needs an id of its own (the journal follows messages by id): one that
                // cannot take the suffix is refused, not sent under its original's id.
                guard let id = try? MessageID("\(m.header.messageId.rawValue).\(p.config.organisation.digits)") else {
                    errors.append("\(name): message \(m.header.messageId): the id is too long to make a copy for \(extra) "
                        + "(routing sends \(m.event.type.rawValue) there too): use an id of at most 117 characters")
                    continue
                }
                copy.header.messageId = id
                copies.append((i, extra, copy))
            }
        }
        guard errors.isEmpty else { return .failure(IntakeProblems(errors)) }
        if !copies.isEmpty {
            var all: [CaseMessage] = [], allPeers: [String] = []
            all.reserveCapacity(messages.count + copies.count)
            allPeers.reserveCapacity(messages.count + copies.count)
            var next = 0
            for i in messages.indices {
                all.append(messages[i])
                allPeers.append(peers[i])
                while next < copies.count, copies[next].after == i {
                    all.append(copies[next].message)
                    allPeers.append(copies[next].peer)
                    next += 1
                }
            }
            messages = all
            peers = allPeers
        }
        return .success(peers)
    }

    /// Decodes the case messages of an intake file (CSV, JSON) or one case XML document.
    func decode(_ data: consuming Data, name: String, digest: String, now: Date) -> Result<[CaseMessage], IntakeProblems> {
        let me = runtime.config.node.organisation
        let defaultRecipient = runtime.config.routing.defaultPeer.flatMap { runtime.peers[$0]?.config.organisation }
        if Self.looksLikeXML(data) {
            do {
                let doc = try SchemaValidator.caseMessage.parseAndValidate(data)
                let m = try CaseXML.decode(doc)
                guard m.header.sender == me else {
                    return .failure(IntakeProblems(["\(name): the message's sender is \(m.header.sender), this node is \(me)"]))
                }
                return .success([m])
            } catch {
                return .failure(IntakeProblems(["\(name): \(error)"]))
            }
        }
        switch IntakeParser.parse(data: consume data, fileName: name, referenceDate: now,
                                  limits: IntakeLimits(maxBytes: runtime.config.limits.maxIntakeFile)) {
        case .failure(let f):
            return .failure(IntakeProblems(swedish: f.swedishLines, english: f.englishLines))
        case .success(let records):
            var problems = IntakeProblems(swedish: [], english: [])
            for r in records where r.recipient == nil && defaultRecipient == nil {
                problems.swedish.append("\(name) \(r.location.swedish): ingen mottagare: lägg till kolumnen \"Mottagare\" "
                    + "eller be driften ange [routing] default i stafett.conf")
                problems.lines.append("\(name) \(r.location): no recipient: add a \"Mottagare\" column or set [routing] default in stafett.conf")
            }
            if !problems.lines.isEmpty { return .failure(problems) }
            return .success(IntakeFile.caseMessages(records, fileDigestHex: digest, sender: me,
                                                    defaultRecipient: defaultRecipient ?? me, createdAt: now))
        }
    }

    /// Moves the input to `failed/` with its report and journals that.
    func fail(_ file: URL, _ identity: FileIdentity?, name: String, _ problems: IntakeProblems) throws(SpoolError) -> IntakeOutcome {
        try FileIdentity.check(file, still: identity)
        let errors = problems.lines
        // The report first: a report that cannot be written (retried a bounded number of times)
        // then leaves no journal record behind per try.
        let filed = try layout.fileReport(for: file, report: IntakeReport.text(file: name, swedish: problems.swedish, english: errors))
        // Journaled before the move: a crash in between leaves the file in the outbox, refused
        // again at the next start (journaled twice, harmless), never moved without a record.
        let entry = JournalEntry(kind: .intakeFailed, sender: runtime.config.node.organisation.digits, status: "failed",
                                 reason: "\(errors.count) error(s): \(String(errors.first?.prefix(300) ?? ""))", file: name)
        try batcher.commit(CommitItem(files: [], entries: [entry]))
        let moved = try layout.moveToFailed(file, to: filed.target)
        return .failed(errors: errors.count, movedTo: moved)
    }

    /// What a directory entry that is not a regular file is, in words; nil for a regular file.
    static func oddKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFLNK: return "a symbolic link"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a folder"
        default: return "a device"
        }
    }

    /// `oddKind` in Swedish.
    static func swedishOddKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "en symbolisk länk"
        case S_IFIFO: return "en namngiven pipe (FIFO)"
        case S_IFSOCK: return "en socket"
        case S_IFDIR: return "en mapp"
        default: return "en enhetsfil"
        }
    }

    /// Throws, naming `file`, when the spool's or the journal's file system is below the reserve.
    func checkSpace(_ file: URL) throws(SpoolError) {
        let space = DiskSpace(layout: layout)
        if let why = space.shortage(metrics: metrics) {
            throw SpoolError(path: file.path, operation: "intake", reason: "left in the outbox until there is space: \(why)")
        }
    }

    /// Whether opening `path` for reading is refused by its owner or mode (checked as the daemon
    /// opens files, with the thread's file-system identity, which `access(2)` ignores).
    static func isShutOut(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        if fd >= 0 { close(fd); return false }
        return Glibc.errno == EACCES || Glibc.errno == EPERM
    }

    /// True when the first non-blank byte (after a BOM) is `<`: case XML rather than CSV or JSON.
    public static func looksLikeXML(_ data: Data) -> Bool {
        var bytes = data.prefix(64)[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        return bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) } == UInt8(ascii: "<")
    }
}

/// Every reason a file was refused, as lines for its `.errors.txt`: in English (`lines`, also
/// for the journal and the log) and in Swedish, for the case workers who read the report.
struct IntakeProblems: Error {
    var lines: [String]
    var swedish: [String]
    /// Reasons that have no Swedish text: the Swedish part of the report gives them in English.
    init(_ lines: [String]) {
        self.lines = lines
        self.swedish = lines
    }
    init(swedish: [String], english: [String]) {
        self.lines = english
        self.swedish = swedish
    }
}

/// A fixed-size array written from `concurrentPerform`, one distinct index per iteration.
final class UnsafeSendableBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T]
    init(_ value: [T]) { storage = value }
    func set(_ i: Int, _ v: T) { lock.lock(); storage[i] = v; lock.unlock() }
    var value: [T] { lock.lock(); defer { lock.unlock() }; return storage }
    /// The values, leaving the box empty (so that it holds none of them any longer).
    func take() -> [T] { lock.lock(); defer { lock.unlock() }; let taken = storage; storage = []; return taken }
}

/// Lets one intake at a time work on a given file content (by digest); others wait their turn.
public final class IntakeGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var busy: Set<String> = []

    /// Creates a gate.
    public init() {}

    /// Waits until no other intake holds `digest`, then holds it.
    public func enter(_ digest: String) {
        condition.lock()
        while busy.contains(digest) { condition.wait() }
        busy.insert(digest)
        condition.unlock()
    }

    /// Holds `digest` if no other intake does; false (holding nothing) if one does.
    public func tryEnter(_ digest: String) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy.insert(digest).inserted
    }

    /// Releases `digest`.
    public func leave(_ digest: String) {
        condition.lock()
        busy.remove(digest)
        condition.broadcast()
        condition.unlock()
    }
}

/// Which file a path names, and as of when: device, inode, size and modification time.
///
/// A writer may put a new version in place (rename over it, or rewrite it) while intake works on
/// the old one. Moving "the file at that path" to `accepted/` would then file the new, unread
/// content as done, and its records would never be sent. Intake moves a file only if the path
/// still names what it read; otherwise the file is left for the next try, which reads the new
/// content (the old content's messages are queued already, under its own ids).
struct FileIdentity: Equatable {
    var device: UInt64, inode: UInt64, size: Int64, modifiedSeconds: Int, modifiedNanoseconds: Int

    init?(path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    /// What `lstat` said of a path.
    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modifiedSeconds = Int(st.st_mtim.tv_sec)
        modifiedNanoseconds = Int(st.st_mtim.tv_nsec)
    }

    /// Throws when `file` no longer names what `identity` recorded (nil: nothing was recorded).
    static func check(_ file: URL, still identity: FileIdentity?) throws(SpoolError) {
        guard let identity, FileIdentity(path: file.path) != identity else { return }
        throw SpoolError(path: file.path, operation: "move",
                         reason: "the file was replaced or changed while it was read; it is read again")
    }
}
