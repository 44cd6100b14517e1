import Foundation
import StafettModel
import StafettXML
#if canImport(Glibc)
import Glibc
#endif

/// A peer that does not answer: since when, until when no message is tried, and why.
public struct PeerBackoff: Sendable, Codable, Hashable {
    /// The peer's name in the configuration.
    public var peer: String
    /// The first failure of this outage.
    public var since: Date
    /// No message to this peer is tried before this.
    public var until: Date
    /// Failed attempts in a row.
    public var failures: Int
    /// The last failure.
    public var lastError: String

    /// Creates a record.
    public init(peer: String, since: Date, until: Date, failures: Int, lastError: String) {
        self.peer = peer
        self.since = since
        self.until = until
        self.failures = failures
        self.lastError = lastError
    }
}

/// What the queue knows about one signed message waiting for a peer. Everything but the retry
/// state can be read from the signed message itself, so `<id>.meta` (JSON) is written only once
/// there is retry state to keep (a failed attempt, a hold): the happy path creates one file.
public struct QueueEntry: Sendable, Codable, Hashable {
    /// One id for the life of the message, across every retry.
    public var messageId: MessageID
    /// The configured peer name it goes to.
    public var peer: String
    /// The peer's organisation number (the message's recipient).
    public var recipient: OrganisationNumber
    /// The event type, for `stafett queue` and metrics.
    public var eventType: EventType
    /// A case reference (intake id or dossier number) for operators; never a personnummer.
    public var caseRef: String?
    /// When it was queued.
    public var queuedAt: Date
    /// After this, delivery stops and the message expires (journaled, listed by followup).
    public var expiresAt: Date
    /// Delivery attempts so far.
    public var attempts: Int = 0
    /// Not before this time.
    public var nextAttempt: Date
    /// The last failure, as an operator would read it.
    public var lastError: String?
    /// Held by an operator (`stafett queue hold`): not delivered until released.
    public var held: Bool = false
    /// SHA-256 (base64) of the exclusive-canonical signed message: what an accepted receipt must carry.
    public var digest: String
    // The next three are what the outcome record (`delivered`, `rejected`, `expired`) carries so
    // follow-up joins it to the child and counts from the event; nil in retry state written
    // before they were kept.
    /// The child's intake id.
    public var intakeId: String?
    /// The organisation that issued `intakeId`, when the message names one (nil: its sender, this node).
    public var intakeIdIssuer: OrganisationNumber?
    /// When the event happened (the message's `Event/Time`).
    public var eventTime: Date?

    /// Creates an entry due now.
    public init(messageId: MessageID, peer: String, recipient: OrganisationNumber, eventType: EventType,
                caseRef: String?, queuedAt: Date, expiresAt: Date, digest: String) {
        self.messageId = messageId
        self.peer = peer
        self.recipient = recipient
        self.eventType = eventType
        self.caseRef = caseRef
        self.queuedAt = queuedAt
        self.expiresAt = expiresAt
        self.nextAttempt = queuedAt
        self.digest = digest
    }

    /// The entry of `message`, sealed with `digest`, going to `peer`.
    public init(message m: CaseMessage, peer: String, queuedAt: Date, expiresAt: Date, digest: String) {
        self.init(messageId: m.header.messageId, peer: peer, recipient: m.header.recipient, eventType: m.event.type,
                  caseRef: m.caseReference, queuedAt: queuedAt, expiresAt: expiresAt, digest: digest)
        intakeId = m.child.identifiers.intakeId
        intakeIdIssuer = m.child.identifiers.intakeIdIssuer
        eventTime = m.event.time
    }
}

/// The durable queue directory: `queue/<peer>/<message id>.xml` (the signed message, written once)
/// and, after a failed attempt or a hold, `<message id>.meta` (retry state). Like Postfix's queue, the directory is the truth; the
/// daemon's in-memory schedule is rebuilt from it at start.
public final class QueueStore: @unchecked Sendable {
    /// The queue directory.
    public let directory: URL
    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys]
        return e
    }()
    private static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// The queue directory as a path; per-message paths are joined to it with `SpoolLayout.join`.
    private let directoryPath: String

    /// Opens (and creates) a queue directory.
    public init(directory: URL) throws(SpoolError) {
        self.directory = directory
        directoryPath = directory.path
        try AtomicFile.makeDirectories(directory)
    }

    /// Paths of one message.
    public func messageURL(_ entry: QueueEntry) -> URL {
        URL(fileURLWithPath: messagePath(peer: entry.peer, id: entry.messageId), isDirectory: false)
    }
    /// `queue/<peer>`.
    func peerPath(_ peer: String) -> String { SpoolLayout.join(directoryPath, peer) }

    /// `queue/<peer>/.peer-state`: the peer's back-off, for `stafett queue`.
    func peerStatePath(_ peer: String) -> String { SpoolLayout.join(peerPath(peer), ".peer-state") }

    /// Notes that `peer` does not answer, so `stafett queue` can show why messages never tried
    /// wait anyway (the back-off is the daemon's, per peer, not in any message's retry state).
    /// Advisory: written on each failure of a down peer, not synced; the daemon never reads it.
    public func notePeerDown(_ state: PeerBackoff) {
        guard let data = try? QueueStore.encoder.encode(state) else { return }
        try? replace(peerStatePath(state.peer), in: peerPath(state.peer), with: data, temporaryStem: ".peer-state")
    }

    /// Forgets a peer's back-off (it answered, or an operator asked for a retry now).
    public func notePeerUp(_ peer: String) { unlink(peerStatePath(peer)) }

    /// What `notePeerDown` last wrote for `peer`, if anything.
    public func peerBackoff(_ peer: String) -> PeerBackoff? {
        guard let data = try? AtomicFile.readIfPresent(peerStatePath(peer)) else { return nil }
        return try? QueueStore.decoder.decode(PeerBackoff.self, from: data)
    }
    /// `queue/<peer>/<id>.xml`, the signed message.
    func messagePath(peer: String, id: MessageID) -> String { SpoolLayout.join(peerPath(peer), id.rawValue + ".xml") }
    /// `queue/<peer>/<id>.meta`, the retry state.
    public func metaPath(peer: String, id: MessageID) -> String { SpoolLayout.join(peerPath(peer), id.rawValue + ".meta") }

    /// True when this message is already queued (a re-read intake file yields the same ids).
    public func contains(peer: String, id: MessageID) -> Bool {
        access(messagePath(peer: peer, id: id), F_OK) == 0
    }

    /// Writes a message's signed XML (not synced) beside its place in the queue, for a
    /// `CommitBatcher` round to make durable and rename into place.
    public func stage(_ signedXML: Data, for entry: QueueEntry) throws(SpoolError) -> (temporary: String, final: String) {
        try AtomicFile.stage(signedXML, in: peerPath(entry.peer), as: entry.messageId.rawValue + ".xml")
    }

    /// Writes a peer's signed receipt for `entry` (not synced) into the message's queue directory,
    /// for a `CommitBatcher` round to make durable and rename to `SpoolLayout.archivedReceipt` in
    /// `archive` (whose peer directory must exist by then; both are in the spool, one file system).
    /// Staged here, not in the archive, so that a crash's leftover lies where
    /// `SpoolLayout.removeStaleTemporaries` looks, not among years of archived files.
    public func stageReceipt(_ signed: Data, for entry: QueueEntry, archive: String) throws(SpoolError) -> (temporary: String, final: String) {
        let final = SpoolLayout.archivedReceipt(in: archive, peer: entry.peer, id: entry.messageId).path
        let tmp = SpoolLayout.join(peerPath(entry.peer), ".\(entry.messageId.rawValue).receipt.\(UInt64.random(in: 0...UInt64.max)).tmp")
        try AtomicFile.writeNew(signed, to: tmp)
        return (tmp, final)
    }

    /// Every entry in the queue, oldest first: the retry state from `<id>.meta` where there is one,
    /// otherwise read from the signed message (`QueueStore.entry(fromMessage:)`). Stray temporary
    /// files (a crash mid-enqueue) are left alone; unreadable entries are reported, not fatal.
    public func loadAll(maxLifetime: TimeInterval = 72 * 3600, onError: (String) -> Void = { _ in }) -> [QueueEntry] {
        let fm = FileManager.default
        var result: [QueueEntry] = []
        let peers = (try? fm.contentsOfDirectory(atPath: directoryPath)) ?? []
        for peer in peers where !peer.hasPrefix(".") {
            let dir = peerPath(peer)
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasSuffix(".xml") {
                let path = SpoolLayout.join(dir, name)
                do {
                    // Any failure to read or decode the meta falls back to the message, as a missing
                    // meta does: the meta is not synced (it is advisory), so after a power cut it can be
                    // empty or torn, and its message must not be hidden for that.
                    let metaPath = SpoolLayout.join(dir, String(name.dropLast(4)) + ".meta")
                    if let data = (try? AtomicFile.readIfPresent(metaPath)) ?? nil,
                       let entry = try? QueueStore.decoder.decode(QueueEntry.self, from: data) {
                        result.append(entry)
                    } else {
                        if access(metaPath, F_OK) == 0 { onError("\(metaPath): unreadable retry state, read again from the message") }
                        result.append(try QueueStore.entry(fromMessage: URL(fileURLWithPath: path, isDirectory: false),
                                                           peer: peer, maxLifetime: maxLifetime))
                    }
                } catch {
                    onError("\(path): unreadable queue entry: \(error)")
                }
            }
        }
        return result.sorted { ($0.queuedAt, $0.messageId) < ($1.queuedAt, $1.messageId) }
    }

    /// The signed message of an entry.
    public func signedMessage(of entry: QueueEntry) throws(SpoolError) -> Data {
        let path = messagePath(peer: entry.peer, id: entry.messageId)
        guard let data = try AtomicFile.readIfPresent(path) else {
            throw SpoolError(path: path, operation: "read", reason: String(cString: strerror(ENOENT)))
        }
        return data
    }

    /// Saves retry state as given, whole. Written atomically but not fsynced: after a crash an older
    /// retry count is harmless, and delivery attempts must not each cost a disk flush. Written
    /// under the message's lock (see `recordAttempt`); nothing is written for a message no longer
    /// queued (returns false), where it would be a stray file. To change some fields of what is on
    /// disk, as `stafett queue` does, use `update(_:changing:)`.
    @discardableResult
    public func update(_ entry: QueueEntry) throws(SpoolError) -> Bool {
        try withMessageLock(entry) { () throws(SpoolError) in try writeMeta(entry) } != nil
    }

    /// Changes a queued message's retry state in place (`stafett queue hold|release|retry`): under
    /// the message's lock, `change` gets the state on disk at that moment (the meta, or `entry`
    /// when there is none) and the result is written. A read made earlier, outside the lock, would
    /// write back the attempt count and last error a delivery worker recorded since. Returns the
    /// state as saved, or nil when the message is no longer queued.
    public func update(_ entry: QueueEntry, changing change: (inout QueueEntry) -> Void) throws(SpoolError) -> QueueEntry? {
        try withMessageLock(entry) { () throws(SpoolError) -> QueueEntry in
            var current = readMeta(peer: entry.peer, id: entry.messageId) ?? entry
            change(&current)
            try writeMeta(current)
            return current
        }
    }

    /// Runs `body` holding an exclusive `flock` on the message's `.xml`, the lock every writer of
    /// its `.meta` takes, across processes (the daemon and `stafett queue`). The message file is
    /// the one that stays put while the message is queued; the meta is replaced by rename on every
    /// write, so a lock on it would guard nothing. Returns nil when the message is not queued.
    func withMessageLock<T>(_ entry: QueueEntry, _ body: () throws(SpoolError) -> T) throws(SpoolError) -> T? {
        let path = messagePath(peer: entry.peer, id: entry.messageId)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw .errno(path, "open to lock")
        }
        defer { close(fd) }  // closing the descriptor releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw .errno(path, "lock") }
        }
        return try body()
    }

    /// The retry state in `<id>.meta`, if there is a readable one.
    private func readMeta(peer: String, id: MessageID) -> QueueEntry? {
        guard let data = try? AtomicFile.readIfPresent(metaPath(peer: peer, id: id)) else { return nil }
        return try? QueueStore.decoder.decode(QueueEntry.self, from: data)
    }

    /// Replaces `<id>.meta` atomically (temporary file, rename); callers hold the message's lock.
    private func writeMeta(_ entry: QueueEntry) throws(SpoolError) {
        let dir = peerPath(entry.peer)
        let final = SpoolLayout.join(dir, entry.messageId.rawValue + ".meta")
        let meta: Data
        do { meta = try QueueStore.encoder.encode(entry) } catch {
            throw SpoolError(path: final, operation: "encode queue entry", reason: "\(error)")
        }
        try replace(final, in: dir, with: meta, temporaryStem: ".\(entry.messageId.rawValue).meta")
    }

    /// Replaces an advisory file of a peer's directory (retry state, back-off) through a temporary
    /// `<stem>.<random>.tmp` and a rename, without a flush: losing it to a crash costs only advice.
    private func replace(_ final: String, in dir: String, with data: Data, temporaryStem: String) throws(SpoolError) {
        let tmp = SpoolLayout.join(dir, "\(temporaryStem).\(UInt32.random(in: 0...UInt32.max)).tmp")
        try AtomicFile.writeNew(data, to: tmp)
        // `sudo stafett queue hold` runs as root: a root-owned 0600 meta would be unreadable to
        // the daemon, which would then take it for missing and write over the hold. The file
        // belongs to whoever owns the queue directory (the daemon's user).
        var owner = stat()
        if geteuid() == 0, stat(dir, &owner) == 0, owner.st_uid != 0 {
            guard chown(tmp, owner.st_uid, owner.st_gid) == 0 else { unlink(tmp); throw .errno(tmp, "chown") }
        }
        guard rename(tmp, final) == 0 else { unlink(tmp); throw .errno(final, "rename") }
    }

    /// What `recordAttempt` saved.
    public struct RecordedAttempt: Sendable, Hashable {
        /// The retry state as saved.
        public var entry: QueueEntry
        /// True when `stafett queue` changed the message while the attempt was in flight: its hold
        /// and next-attempt time were kept, not the attempt's back-off.
        public var operatorActed: Bool
    }

    /// Saves the retry state of a failed attempt: its attempt count, last error and back-off.
    ///
    /// `start` is the meta the attempt began from (`retryState(of:)`, nil when there was none).
    /// If the meta on disk is no longer that, `stafett queue` wrote it while the attempt was in
    /// flight, and what the operator asked for must win for the next attempt: a hold stays, and a
    /// `retry` or `release` (next attempt now) is not pushed back by this attempt's back-off.
    /// Whatever the interleaving, a hold on disk is kept. The meta is read and written under the
    /// message's lock, which `stafett queue` takes too (`update(_:changing:)`), so no write falls
    /// between the two. Returns what was saved, or nil when the message is no longer queued.
    public func recordAttempt(_ entry: QueueEntry, startedFrom start: QueueEntry?) throws(SpoolError) -> RecordedAttempt? {
        try withMessageLock(entry) { () throws(SpoolError) -> RecordedAttempt in
            var saved = entry
            var operatorActed = false
            if let current = readMeta(peer: entry.peer, id: entry.messageId) {
                saved.held = current.held
                if current != start {
                    saved.nextAttempt = current.nextAttempt
                    operatorActed = true
                }
            }
            try writeMeta(saved)
            return RecordedAttempt(entry: saved, operatorActed: operatorActed)
        }
    }

    /// The retry state in the message's `.meta` now: nil when there is none (or it cannot be read).
    /// A delivery attempt notes it at its start for `recordAttempt(_:startedFrom:)`.
    public func retryState(of entry: QueueEntry) -> QueueEntry? {
        readMeta(peer: entry.peer, id: entry.messageId)
    }

    /// The retry state of the message `id` queued for `peer`, if it has any.
    func retryState(peer: String, id: MessageID) -> QueueEntry? {
        readMeta(peer: peer, id: id)
    }

    /// Takes a finished message out of the queue: the signed message moves to `archive` (kept for
    /// its retention period), then the meta goes. Called only after the outcome is journaled, so
    /// neither step needs its own flush: a crash that undoes them leaves the message queued, it
    /// is sent again, and the receiver answers the duplicate with its original receipt.
    public func remove(_ entry: QueueEntry, archivingTo archive: URL) throws(SpoolError) {
        try remove(entry, archivingTo: archive.standardizedFileURL.path)
    }

    /// `remove(_:archivingTo:)` with the archive directory as a path (`SpoolLayout.archivePath`).
    /// `retryState` false says the caller knows no `.meta` was written for the message (see
    /// `DeliveryScheduler`), so none is looked for: a miss in a large directory is not free.
    public func remove(_ entry: QueueEntry, archivingTo archive: String, retryState: Bool = true) throws(SpoolError) {
        let (dir, target) = SpoolLayout.archivedMessage(in: archive, peer: entry.peer, id: entry.messageId)
        let source = messagePath(peer: entry.peer, id: entry.messageId)
        if rename(source, target) != 0 {
            var code = errno
            // ENOENT is either the message already gone (moved by an earlier try that crashed
            // before the meta went) or the peer's archive directory not there yet; only the
            // second needs work, and only once per peer, so the directory is not checked per message.
            if code == ENOENT && !AtomicFile.isDirectory(dir) {
                try AtomicFile.makeDirectories(URL(fileURLWithPath: dir, isDirectory: true))
                code = rename(source, target) == 0 ? 0 : errno
            }
            if code != 0 && code != ENOENT { throw .errno(target, "rename", code) }
        }
        guard retryState else { return }
        let meta = metaPath(peer: entry.peer, id: entry.messageId)
        if unlink(meta) != 0 && errno != ENOENT { throw .errno(meta, "unlink") }
    }

    /// Re-reads one entry's retry state (an operator may have held or released it): the meta when
    /// there is one, `entry` itself when there is only the message, nil when the message is gone.
    public func reload(_ entry: QueueEntry) -> QueueEntry? {
        if let e = readMeta(peer: entry.peer, id: entry.messageId) { return e }
        return contains(peer: entry.peer, id: entry.messageId) ? entry : nil
    }
}

extension QueueStore {
    /// The queue entry of a signed message that has no retry state yet: recipient, event and case
    /// from its header, queued at its creation time, the digest a receipt must carry from its signature.
    public static func entry(fromMessage url: URL, peer: String, maxLifetime: TimeInterval) throws -> QueueEntry {
        let doc = try XMLDocument.parse(Data(contentsOf: url))
        let m = try CaseXML.decode(doc)
        return QueueEntry(message: m, peer: peer, queuedAt: m.header.createdAt,
                          expiresAt: m.header.createdAt.addingTimeInterval(maxLifetime),
                          digest: try ReceiptDigest.of(verified: doc))
    }
}
