import Foundation
import StafettJournal
import StafettModel
import StafettXML
#if canImport(Glibc)
import Glibc
#endif

/// Why an operator withdrew a queued message: a fixed code, the only part of the reason that
/// enters the journal (which can never be edited); what the operator wrote in their own words
/// stays in the archive beside the message.
public enum WithdrawalReason: String, Sendable, Codable, CaseIterable {
    /// Addressed to the wrong organisation.
    case wrongRecipient = "wrong-recipient"
    /// About the wrong child, or wrong facts.
    case wrongContent = "wrong-content"
    /// Already sent another way, or twice.
    case duplicate
    /// Anything else (the note says what).
    case other

    /// An operator's `--reason`: a code (`duplicate`), a code and a note (`duplicate: sent by
    /// fax`), or free text, which is a note with the code `other`.
    public static func parse(_ text: String) -> (code: WithdrawalReason, note: String?) {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        for code in allCases {
            if t.lowercased() == code.rawValue { return (code, nil) }
            if t.lowercased().hasPrefix(code.rawValue + ":") {
                let note = t.dropFirst(code.rawValue.count + 1).trimmingCharacters(in: .whitespaces)
                return (code, note.isEmpty ? nil : note)
            }
        }
        return (.other, t.isEmpty ? nil : t)
    }
}

/// A withdrawal as kept in the archive (`archive/withdrawn/<peer>/<id>.withdrawal.json`, beside
/// the signed message): the operator's code and note, who and when, and what the journal record
/// needs that the message itself does not say.
public struct Withdrawal: Sendable, Codable, Hashable {
    /// The message.
    public var messageId: MessageID
    /// The peer it was queued for.
    public var peer: String
    /// The operator's reason code.
    public var reason: WithdrawalReason
    /// The operator's own words: kept here, never journaled.
    public var note: String?
    /// When it was withdrawn.
    public var at: Date
    /// The user who withdrew it.
    public var by: String
    /// The queue entry's case reference and receipt digest, as its `queued` record had them.
    public var caseRef: String?
    public var digest: String

    /// Creates a withdrawal.
    public init(messageId: MessageID, peer: String, reason: WithdrawalReason, note: String?, at: Date, by: String,
                caseRef: String?, digest: String) {
        self.messageId = messageId
        self.peer = peer
        self.reason = reason
        self.note = note
        self.at = at
        self.by = by
        self.caseRef = caseRef
        self.digest = digest
    }
}

extension SpoolLayout {
    /// `archive/withdrawn`: withdrawn messages, each beside its withdrawal.
    public var withdrawnArchivePath: String { Self.join(archivePath, "withdrawn") }

    /// Where a withdrawn message keeps its withdrawal (`<id>.withdrawal.json`) and, until the
    /// journal holds its `withdrawn` record, the marker `<id>.unjournaled`.
    public func withdrawalPaths(peer: String, id: MessageID) -> (directory: String, message: String, withdrawal: String, unjournaled: String) {
        let (dir, message) = Self.archivedMessage(in: withdrawnArchivePath, peer: peer, id: id)
        return (dir, message, Self.join(dir, id.rawValue + ".withdrawal.json"), Self.join(dir, id.rawValue + ".unjournaled"))
    }
}

extension QueueStore {
    /// Takes a queued message out of the queue for good (`stafett queue delete`), under the
    /// message's lock (the one `hold` and the delivery worker take): the withdrawal and a marker
    /// that it is not journaled yet are made durable in the archive first, then the signed message
    /// moves beside them, then its retry state goes. Nothing is lost at any crash: before the move
    /// the message is still queued (the marker without a message is ignored and the withdrawal
    /// can be asked again); after it, the marker tells stafettd to journal `withdrawn`
    /// (`journalWithdrawals`). Returns false when the message is no longer queued.
    public func withdraw(_ entry: QueueEntry, _ withdrawal: Withdrawal, layout: SpoolLayout) throws(SpoolError) -> Bool {
        try withMessageLock(entry) { () throws(SpoolError) -> Void in
            let p = layout.withdrawalPaths(peer: entry.peer, id: entry.messageId)
            let created = try AtomicFile.makeDirectories(URL(fileURLWithPath: p.directory, isDirectory: true))
            let json: Data
            do { json = try Withdrawal.encoder.encode(withdrawal) } catch {
                throw SpoolError(path: p.withdrawal, operation: "encode withdrawal", reason: "\(error)")
            }
            try AtomicFile.write(json, to: URL(fileURLWithPath: p.withdrawal))
            try AtomicFile.write(Data(), to: URL(fileURLWithPath: p.unjournaled))
            let source = messagePath(peer: entry.peer, id: entry.messageId)
            guard rename(source, p.message) == 0 else { throw .errno(p.message, "rename") }
            try AtomicFile.syncDirectory(p.directory)
            try AtomicFile.syncDirectory(peerPath(entry.peer))
            // `sudo stafett queue delete` runs as root: the daemon must still be able to read and
            // clear what it wrote. Everything belongs to whoever owns the queue (the daemon's user).
            var owner = stat()
            if geteuid() == 0, stat(peerPath(entry.peer), &owner) == 0, owner.st_uid != 0 {
                for path in created.map(\.path) + [p.withdrawal, p.unjournaled] { _ = chown(path, owner.st_uid, owner.st_gid) }
            }
            let meta = metaPath(peer: entry.peer, id: entry.messageId)
            if unlink(meta) != 0 && errno != ENOENT { throw .errno(meta, "unlink") }
        } != nil
    }
}

extension Withdrawal {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// Journals `withdrawn` for every withdrawal in the archive still marked unjournaled, then
    /// clears its marker (a crash in between journals it again at the next start: a repeated
    /// record, never a lost one). The record carries the message's identifiers and event time, so
    /// follow-up lists the child, and the reason code only. Returns the withdrawals journaled.
    static func journalPending(layout: SpoolLayout, batcher: CommitBatcher, keyer: PersonKeyer, sender: OrganisationNumber,
                               onError: (String) -> Void) -> [Withdrawal] {
        let root = layout.withdrawnArchivePath
        guard let peers = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        var done: [Withdrawal] = []
        for peer in peers.sorted() {
            let dir = SpoolLayout.join(root, peer)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() where name.hasSuffix(".unjournaled") {
                guard let id = try? MessageID(String(name.dropLast(".unjournaled".count))) else { continue }
                let p = layout.withdrawalPaths(peer: peer, id: id)
                // No message yet: the withdrawal stopped before the move (the message is still queued).
                guard access(p.message, F_OK) == 0 else { continue }
                do {
                    let w = try decoder.decode(Withdrawal.self, from: Data(contentsOf: URL(fileURLWithPath: p.withdrawal)))
                    let message = try CaseXML.decode(XMLDocument.parse(Data(contentsOf: URL(fileURLWithPath: p.message))))
                    var record = JournalEntry.about(message, kind: .withdrawn, digest: w.digest, keyer: keyer, caseRef: w.caseRef,
                                                    status: "withdrawn", reason: w.reason.rawValue, time: w.at)
                    record.sender = record.sender ?? sender.digits
                    try batcher.commit(CommitItem(files: [], entries: [record]))
                    unlink(p.unjournaled)
                    done.append(w)
                } catch {
                    onError("withdrawal of \(p.message): \(error); journaled when readable (the message stays withdrawn)")
                }
            }
        }
        return done
    }
}
