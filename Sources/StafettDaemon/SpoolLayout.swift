import Foundation
import StafettCrypto
import StafettModel
#if canImport(Glibc)
import Glibc
#endif

/// The directories of one node, under the spool root (`/var/spool/stafett`) and the state root (`/var/lib/stafett`).
///
/// ```
/// spool/outbox/            intake drop directory (sub-folders allowed)
/// spool/outbox/accepted/   inputs whose messages are durable in queue and journal
/// spool/outbox/failed/     rejected inputs beside <name>.errors.txt
/// spool/queue/             signed messages waiting for delivery
/// spool/inbox/             received messages for the local system
/// spool/archive/           signed originals kept for their retention period
/// state/journal/           journal segments and checkpoints
/// ```
public struct SpoolLayout: Sendable, Equatable {
    /// Spool root.
    public let spool: URL
    /// State root.
    public let state: URL

    /// `queue`, `inbox`, `archive` and `archive/expired` as paths, computed once: every message
    /// passes through them, and building each file's path with `URL` re-validates the whole path
    /// (and, without a directory hint, stats the file) per call. File names are joined to these
    /// with "/" by `SpoolLayout.join` (see there for why that is safe).
    public let queuePath: String
    /// Received messages, as a path.
    public let inboxPath: String
    /// Signed originals, as a path.
    public let archivePath: String
    /// Expired originals (`archive/expired`), as a path.
    public let expiredArchivePath: String
    /// The outbox, as a path: every input's name below it is worked out per file.
    public let outboxPath: String

    /// A layout under two roots.
    public init(spool: URL, state: URL) {
        self.spool = spool.standardizedFileURL
        self.state = state.standardizedFileURL
        let spoolPath = self.spool.path
        queuePath = Self.join(spoolPath, "queue")
        inboxPath = Self.join(spoolPath, "inbox")
        archivePath = Self.join(spoolPath, "archive")
        expiredArchivePath = Self.join(archivePath, "expired")
        outboxPath = Self.join(spoolPath, "outbox")
    }

    /// `file`'s path with `.` and `..` resolved, as `standardizedFileURL` gives it; without
    /// building a URL for a path that has neither (what the outbox watcher hands on), which at a
    /// thousand files a second was a few percent of the daemon's CPU.
    public static func standardPath(of file: URL) -> String {
        let path = file.path
        guard isPlainAbsolute(path) else { return file.standardizedFileURL.path }
        return path.utf8.count > 1 && path.utf8.last == UInt8(ascii: "/") ? String(path.dropLast()) : path
    }

    /// Whether `path` is absolute with no empty, `.` or `..` component (a trailing `/` allowed):
    /// one pass over its bytes, where `String.contains` went through Foundation's string search,
    /// four times per path (a few percent of the sending daemon at a thousand files a second).
    static func isPlainAbsolute(_ path: String) -> Bool {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        var bytes = path.utf8.makeIterator()
        guard bytes.next() == slash else { return false }
        // The current component's length, and whether it is dots only so far.
        var length = 0, dots = true
        while let b = bytes.next() {
            if b == slash {
                if length == 0 || (dots && length <= 2) { return false }
                (length, dots) = (0, true)
            } else {
                length += 1
                dots = dots && b == dot
            }
        }
        // The last component may be empty (a trailing slash), never `.` or `..`.
        return length == 0 || !dots || length > 2
    }

    /// `directory/name` as a path string.
    ///
    /// Only for names that cannot hold a '/' or be empty, which is every name the spool builds per
    /// message: message ids are restricted by `MessageID` to `A-Z a-z 0-9 . _ : -` (also when
    /// decoded from a `.meta`), organisation numbers by `OrganisationNumber` to ten digits, and peer
    /// names by config validation to ASCII letters, digits, `-`, `_` and `.` (a peer name read back
    /// from the queue is a directory name, or what the daemon wrote into a `.meta`). For those,
    /// this is the path `URL.appendingPathComponent` would give, without its validation or its `stat`.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Intake drop directory.
    public var outbox: URL { spool.appendingPathComponent("outbox", isDirectory: true) }
    /// Accepted inputs.
    public var accepted: URL { outbox.appendingPathComponent("accepted", isDirectory: true) }
    /// Failed inputs and their error reports.
    public var failed: URL { outbox.appendingPathComponent("failed", isDirectory: true) }
    /// Delivery queue.
    public var queue: URL { spool.appendingPathComponent("queue", isDirectory: true) }
    /// Received messages.
    public var inbox: URL { spool.appendingPathComponent("inbox", isDirectory: true) }
    /// Signed originals.
    public var archive: URL { spool.appendingPathComponent("archive", isDirectory: true) }
    /// Journal segments.
    public var journal: URL { state.appendingPathComponent("journal", isDirectory: true) }

    /// Every directory, parents first.
    public var allDirectories: [URL] { [spool, outbox, accepted, failed, queue, inbox, archive, state, journal] }

    /// Creates missing directories with the default groups' modes (`create(access:)`, whose
    /// warnings this drops) and returns those it created. Existing directories keep their mode:
    /// an operator may have opened the outbox to a group of writers on purpose.
    @discardableResult
    public func create() throws(SpoolError) -> [URL] {
        try create(access: StafettConfig.Access()).created
    }

    /// The input's path below the outbox (`"trelleborg/2015-10-23.csv"`), or nil if it is not inside it.
    public func outboxRelativePath(of file: URL) -> String? {
        let path = Self.standardPath(of: file)
        guard path.hasPrefix(outboxPath + "/") else { return nil }
        return String(path.dropFirst(outboxPath.count + 1))
    }

    /// Moves an input to `accepted/`, keeping its sub-folder. Returns where it now is.
    /// Call only after its messages are durable in the queue and journal.
    public func moveToAccepted(_ input: URL) throws(SpoolError) -> URL {
        try AtomicFile.move(from: input, to: try destination(for: input, under: accepted), inheritDirectoryMode: true)
    }

    /// `moveToAccepted` for the inputs of one intake round, sharing their flushes
    /// (`AtomicFile.moveAll`; `dataFlushedOn` as there). Each input's result is its own.
    public func moveAllToAccepted(_ inputs: [URL], dataFlushedOn flushedDevice: UInt64? = nil) -> [Result<URL, SpoolError>] {
        var results = [Result<URL, SpoolError>?](repeating: nil, count: inputs.count)
        var moves: [(index: Int, source: URL, destination: URL)] = []
        for (i, input) in inputs.enumerated() {
            do throws(SpoolError) { moves.append((i, input, try destination(for: input, under: accepted))) } catch { results[i] = .failure(error) }
        }
        let moved = AtomicFile.moveAll(moves.map { ($0.source, $0.destination) }, inheritDirectoryMode: true, dataFlushedOn: flushedDevice)
        for (m, result) in zip(moves, moved) {
            results[m.index] = result
        }
        return results.map { $0! }
    }

    /// Removes temporaries a crash or a failed commit round left in the queue and the inbox
    /// (`.<name>.….tmp`: written, never renamed, so never journaled or acknowledged). Only those
    /// older than `age`, so that a `stafett queue` writing its retry state right now keeps its own.
    /// Returns the paths removed. Called at start, before anything is sent or received.
    @discardableResult
    public func removeStaleTemporaries(olderThan age: TimeInterval = 60, now: Date = Date()) -> [String] {
        let fm = FileManager.default
        var dirs = [inboxPath]
        for peer in (try? fm.contentsOfDirectory(atPath: queue.path)) ?? [] where !peer.hasPrefix(".") {
            dirs.append(Self.join(queue.path, peer))
        }
        var removed: [String] = []
        for dir in dirs {
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(".") && name.hasSuffix(".tmp") {
                let path = Self.join(dir, name)
                var st = stat()
                guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
                      Double(st.st_mtim.tv_sec) < now.timeIntervalSince1970 - age else { continue }
                if unlink(path) == 0 { removed.append(path) }
            }
        }
        return removed
    }

    /// The name an accepted message has in `inbox/`: `<sender>_<message id>.xml` (ten digits and a
    /// validated message id, so a safe file name).
    public static func inboxName(sender: OrganisationNumber, id: MessageID) -> String {
        "\(sender.digits)_\(id.rawValue).xml"
    }

    /// Finishes what a crash interrupted in the inbox, before a receiver serves: a staged message
    /// (`AtomicFile.stageForRecovery`) whose `received` record is in the journal (`accepted`, read
    /// from it by `Receiver.acceptedMessages`) takes its inbox name; one without it was never
    /// acknowledged and is removed (its sender sends it again). Returns the names finished and
    /// removed, for the log.
    public func recoverStagedInbox(accepted: [String: AcceptedMessage]) throws(SpoolError) -> (finished: [String], removed: [String]) {
        let inbox = inboxPath
        var finished: [String] = [], removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? []
        where name.hasPrefix(".") && name.hasSuffix(".xml.stage") {
            let final = String(name.dropFirst().dropLast(".stage".count))  // <sender>_<id>.xml
            let staged = Self.join(inbox, name), target = Self.join(inbox, final)
            let parts = final.dropLast(4).split(separator: "_", maxSplits: 1)
            let key = parts.count == 2 ? "\(parts[0])/\(parts[1])" : ""
            if accepted[key] != nil, access(target, F_OK) != 0 {
                guard rename(staged, target) == 0 else { throw .errno(target, "rename") }
                finished.append(final)
            } else {
                unlink(staged)
                removed.append(name)
            }
        }
        if !finished.isEmpty || !removed.isEmpty { try AtomicFile.syncDirectory(inbox) }
        return (finished, removed)
    }

    /// A peer's directory in the archive (`archivePath`) or in its expired part: `<archive>/<peer>`.
    public static func archiveDirectory(in archive: String, peer: String) -> String { join(archive, peer) }

    /// Where a message that left the queue keeps its signed original: `<archive>/<peer>/<id>.xml`,
    /// with `archive` the archive (`archivePath`) or its expired part (`expiredArchivePath`).
    public static func archivedMessage(in archive: String, peer: String, id: MessageID) -> (directory: String, path: String) {
        let directory = archiveDirectory(in: archive, peer: peer)
        return (directory, join(directory, id.rawValue + ".xml"))
    }

    /// Where a peer's signed receipt for a message is kept: `<archive>/<peer>/<id>.receipt`, beside
    /// the signed message (`archivedMessage`). Not `.receipt.xml`: a message id may hold dots, and
    /// every message file ends in `.xml`, so a name ending otherwise can never be some message's.
    public static func archivedReceipt(in archive: String, peer: String, id: MessageID) -> (directory: String, path: String) {
        let directory = archiveDirectory(in: archive, peer: peer)
        return (directory, join(directory, receiptFileName(id)))
    }

    /// The file name of a message's receipt in the archive.
    static func receiptFileName(_ id: MessageID) -> String { id.rawValue + ".receipt" }

    /// The archived receipt of message `id`, looked for under every peer's archive directory: the
    /// journal names the recipient, not the peer name it was configured under then, and a message
    /// id is unique to the sender. Nil when no peer's directory holds one.
    public static func archivedReceipt(of id: MessageID, in archive: String) -> String? {
        let name = receiptFileName(id)
        for peer in ((try? FileManager.default.contentsOfDirectory(atPath: archive)) ?? []).sorted() where !peer.hasPrefix(".") {
            let path = join(archiveDirectory(in: archive, peer: peer), name)
            if access(path, F_OK) == 0 { return path }
        }
        return nil
    }

    /// True when the message already left the queue: settled or expired, its signed copy moved
    /// to the archive (after its outcome was journaled).
    public func hasArchived(peer: String, id: MessageID) -> Bool {
        access(Self.archivedMessage(in: archivePath, peer: peer, id: id).path, F_OK) == 0
            || access(Self.archivedMessage(in: expiredArchivePath, peer: peer, id: id).path, F_OK) == 0
    }

    /// The longest file name Linux file systems take (NAME_MAX), in bytes.
    public static let nameMax = 255

    /// The report's name for an input named `name`: `<name>.errors.txt`, or, when that would be
    /// longer than `nameMax` bytes, the name cut at a character boundary with `~` and eight hex
    /// digits of its SHA-256 (`<start of name>~1a2b3c4d.errors.txt`): the same every time, so a
    /// retry after a crash finds the report it already wrote, and distinct for two long names
    /// that start alike. The report's first line names the input in full.
    public static func reportName(for name: String) -> String {
        let suffix = ".errors.txt"
        if name.utf8.count + suffix.utf8.count <= nameMax { return name + suffix }
        let tag = "~" + String(SHA256.hex(Data(name.utf8)).prefix(8))
        var kept = ""
        var bytes = 0
        let room = nameMax - suffix.utf8.count - tag.utf8.count
        for c in name {
            let n = String(c).utf8.count
            guard bytes + n <= room else { break }
            kept.append(c)
            bytes += n
        }
        return kept + tag + suffix
    }

    /// Where the report of an input moved to `failed/` (at `input`) is.
    public static func reportPath(for input: URL) -> String {
        join(input.deletingLastPathComponent().path, reportName(for: input.lastPathComponent))
    }

    /// Writes `<name>.errors.txt` into `failed/` first, then moves the input beside it, keeping its
    /// sub-folder: if the daemon dies in between, the input is still in the outbox and is tried again.
    /// Returns the moved input and the report.
    /// A failure here is marked `filingReport`: the daemon retries it a bounded number of times.
    public func moveToFailed(_ input: URL, report: String) throws(SpoolError) -> (input: URL, errors: URL) {
        let filed = try fileReport(for: input, report: report)
        return (try moveToFailed(input, to: filed.target), filed.errors)
    }

    /// The first half of `moveToFailed`: chooses where the input goes in `failed/` and writes its
    /// report there. Nothing is moved yet, so a caller can journal in between.
    public func fileReport(for input: URL, report: String) throws(SpoolError) -> (target: URL, errors: URL) {
        do {
            let target = try AtomicFile.uniqueDestination(try destination(for: input, under: failed), for: input)
            return (target, try AtomicFile.writeErrorsFile(report, for: target, readableLike: input))
        } catch {
            throw error.markedFilingReport
        }
    }

    /// The second half of `moveToFailed`: moves the input beside its report at `target`.
    public func moveToFailed(_ input: URL, to target: URL) throws(SpoolError) -> URL {
        do {
            return try AtomicFile.move(from: input, to: target, inheritDirectoryMode: true)
        } catch {
            throw error.markedFilingReport
        }
    }

    private func destination(for input: URL, under root: URL) throws(SpoolError) -> URL {
        guard let rel = outboxRelativePath(of: input) else {
            throw SpoolError(path: input.path, operation: "move", reason: "the file is not inside the outbox \(outbox.path)")
        }
        // An input is never a folder: with the hint, URL does not stat the path to find out.
        return root.appendingPathComponent(rel, isDirectory: false)
    }
}

/// One directory of the spool as DESIGN's "Who may touch what" shares it.
public struct SharedDirectory: Sendable, Equatable {
    /// The directory.
    public var url: URL
    /// Its mode (setgid where what is made in it must stay in its group).
    public var mode: mode_t
    /// The group it is shared with; nil keeps the daemon's own.
    public var group: String?
}

extension SpoolLayout {
    /// Every directory, parents first, with the mode and group it is shared with: case systems
    /// write `outbox/` and read `accepted/` and `failed/` (intake group), the local system reads
    /// and removes in `inbox/` (inbox group), operators read the journal, queue and archive
    /// (operators group). The same table as `packaging/debian/postinst` and `scripts/install.sh`.
    public func sharedDirectories(_ access: StafettConfig.Access) -> [SharedDirectory] {
        let intake = access.intakeGroup, operators = access.operatorsGroup
        return [
            SharedDirectory(url: spool, mode: 0o755, group: nil),
            SharedDirectory(url: outbox, mode: 0o2770, group: intake),
            SharedDirectory(url: accepted, mode: 0o2750, group: intake),
            SharedDirectory(url: failed, mode: 0o2750, group: intake),
            SharedDirectory(url: queue, mode: 0o2750, group: operators),
            SharedDirectory(url: inbox, mode: 0o2770, group: access.inboxGroup),
            SharedDirectory(url: archive, mode: 0o2750, group: operators),
            SharedDirectory(url: state, mode: 0o2750, group: operators),
            SharedDirectory(url: journal, mode: 0o2750, group: operators),
        ]
    }

    /// Creates the missing directories of `sharedDirectories` with their group and mode (each
    /// creation durable in its parent). Existing directories keep what they have: the installer
    /// made them, or an operator changed them on purpose. A group that does not exist, or that
    /// the daemon's user may not give (not a member), leaves the directory in the daemon's own
    /// group: the node still runs, and `warnings` says so once per group.
    public func create(access: StafettConfig.Access) throws(SpoolError) -> (created: [URL], warnings: [String]) {
        var created: [URL] = []
        var warned = Set<String>()
        var warnings: [String] = []
        for shared in sharedDirectories(access) {
            let made = try AtomicFile.makeDirectories(shared.url)
            created += made
            guard made.last == shared.url.standardizedFileURL else { continue }
            let path = shared.url.path
            if let name = shared.group {
                if let group = SystemGroup(named: name) {
                    if chown(path, uid_t.max, group.id) != 0, warned.insert(name).inserted {
                        warnings.append("cannot give \(path) to the group \(name) (\(String(cString: strerror(Glibc.errno)))): "
                            + "it stays in the group \(SystemGroup.name(of: getegid())); add the daemon's user to \(name) (adduser $USER \(name))")
                    }
                } else if warned.insert(name).inserted {
                    warnings.append("the group \(name) does not exist: \(path) and the other directories shared with it stay in the group "
                        + "\(SystemGroup.name(of: getegid())); create it (addgroup --system \(name)) or name another in [access]")
                }
            }
            // After chown, which clears the setgid bit.
            guard chmod(path, shared.mode) == 0 else { throw .errno(path, "chmod") }
        }
        return (created, warnings)
    }
}

/// A file system operation on the spool that failed, with the path and the system's reason.
public struct SpoolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The path concerned.
    public var path: String
    /// What was being done (`open`, `fsync`, `rename`, ...).
    public var operation: String
    /// The system's explanation (`strerror`) or ours.
    public var reason: String
    /// True when this failed filing a refused input and its report in `failed/`: the same
    /// failure comes back on every try, so the daemon tries a bounded number of times.
    public var filingReport = false

    /// Creates an error.
    public init(path: String, operation: String, reason: String) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    /// An error from the current `errno`.
    static func errno(_ path: String, _ operation: String, _ code: Int32 = Glibc.errno) -> SpoolError {
        SpoolError(path: path, operation: operation, reason: String(cString: strerror(code)))
    }

    public var description: String { "\(path): \(operation) failed: \(reason)" }

    /// This error, marked as a failure to file a refused input.
    var markedFilingReport: SpoolError {
        var marked = self
        marked.filingReport = true
        return marked
    }
}
