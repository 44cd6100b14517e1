import Foundation
import StafettJournal
import StafettModel

// What a receiver remembers of the messages it accepted, so that a sender's retry gets the
// original receipt and a reused message id with other content is refused.

extension Receiver {
    /// The duplicate key of a message.
    static func key(sender: OrganisationNumber, id: MessageID) -> String { "\(sender.digits)/\(id.rawValue)" }

    /// How long an accepted message is remembered as a possible duplicate. A sender retries a
    /// message at most until it expires (`maxLifetime` after it was queued); twice that, and at
    /// least two days, is a safe margin for clocks and queues that sat still.
    public static func duplicateWindow(maxLifetime: TimeInterval) -> TimeInterval {
        2 * max(maxLifetime, 86_400)
    }

    /// The messages accepted since `since`, by key, read from the journal at start (from the
    /// segment that can hold the oldest of them on: `StartupScan`). `unreadable` hears the
    /// sequence numbers of `received` records, or records of no readable kind, whose payload did
    /// not decode: a message a resend would be accepted again for, which the operator must hear of
    /// (the journal's CRC held, so it is not damage).
    public static func acceptedMessages(journal: URL, since: Date,
                                        unreadable: ([UInt64]) -> Void = { _ in }) throws -> [String: AcceptedMessage] {
        let scan = try StartupScan.read(journal: journal.path, acceptedSince: since, queued: [])
        if !scan.unreadable.isEmpty { unreadable(scan.unreadable) }
        return scan.accepted
    }

    /// The receipt issued for an accepted message, from the journal: read from the record the
    /// accepted window names (a seek to its segment, then a few records), or, for a window entry
    /// without one, by a scan from the start. Either way the read stops at the receipt, so a peer
    /// resending old ids costs a bounded read each, not the whole journal.
    /// Throws when the journal cannot be read: "not found" would accept the message a second time.
    func originalReceipt(sender: OrganisationNumber, id: MessageID, at sequence: UInt64?) throws -> Data? {
        struct Found: Error { let receipt: String?, batchReceipt: String? }
        do {
            try JournalStream(directory: layout.journal.path, after: sequence.map { $0 > 0 ? $0 - 1 : 0 } ?? 0).readAvailable { raw in
                guard let e = try? EntryCodec.decode(raw.payload), e.kind == .received, e.messageId == id.rawValue,
                      e.sender == sender.digits, e.receipt != nil || e.receiptDigest != nil else { return }
                throw Found(receipt: e.receipt, batchReceipt: e.receiptDigest)
            }
        } catch let found as Found {
            if let r = found.receipt { return Data(r.utf8) }
            // Accepted in a batch: the answer is the batch receipt that covers it, as archived.
            if let digest = found.batchReceipt { return try BatchReceiptArchive.read(digest: digest, archive: layout.archivePath) }
        }
        // Not where the window said (it should not happen): rather a scan than a second acceptance.
        return sequence == nil ? nil : try originalReceipt(sender: sender, id: id, at: nil)
    }

}

/// What the receiver remembers of a message it accepted: enough to tell a retry (the same signed
/// content, perhaps signed again) from a message id reused for other content.
public struct AcceptedMessage: Sendable, Hashable {
    /// Base64 SHA-256 of the signed content it was accepted with (the receipt's digest); nil when
    /// the journal record lacks one, and then any resend is answered as a duplicate.
    public var digest: String?
    /// When it was accepted: it is forgotten once this is older than the duplicate window.
    public var acceptedAt: Date
    /// The journal record holding its receipt, where a duplicate's answer is read from.
    public var sequence: UInt64?

    /// Creates a record.
    public init(digest: String?, acceptedAt: Date, sequence: UInt64? = nil) {
        self.digest = digest
        self.acceptedAt = acceptedAt
        self.sequence = sequence
    }
}

/// The messages a receiver accepted within its duplicate window, with their keys also kept in
/// order of acceptance, so forgetting those that left the window pops from the front instead of
/// scanning every key. Not thread-safe: the receiver guards it.
struct AcceptedWindow {
    private var byKey: [String: AcceptedMessage]
    /// Keys in order of acceptance; `order[..<head]` are already forgotten.
    private var order: [(key: String, at: Date)]
    private var head = 0

    /// Starts from messages read from the journal, in any order.
    init(_ messages: [String: AcceptedMessage]) {
        byKey = messages
        order = messages.map { (key: $0.key, at: $0.value.acceptedAt) }.sorted { $0.at < $1.at }
    }

    /// The message accepted under `key`, if it is still remembered.
    subscript(key: String) -> AcceptedMessage? { byKey[key] }

    /// The keys remembered.
    var keys: Dictionary<String, AcceptedMessage>.Keys { byKey.keys }

    /// Entries in the acceptance order, forgotten ones not yet reclaimed included (tests: memory stays bounded).
    var storedOrderCount: Int { order.count }

    /// Remembers `message` under `key` (again, if the key was accepted before).
    mutating func insert(_ key: String, _ message: AcceptedMessage) {
        byKey[key] = message
        order.append((key, message.acceptedAt))
    }

    /// Forgets every message accepted before `cutoff`.
    ///
    /// Acceptance times are appended as the clock gives them; should it step back, a later entry
    /// ahead in the order only delays forgetting the ones behind it until it leaves the window too.
    mutating func forget(acceptedBefore cutoff: Date) {
        while head < order.count, order[head].at < cutoff {
            let (key, at) = order[head]
            // A key accepted again later has a newer entry further on; this one no longer speaks for it.
            if byKey[key]?.acceptedAt == at { byKey.removeValue(forKey: key) }
            head += 1
        }
        // Reclaim the forgotten prefix once it is at least half the array: each entry is moved
        // at most once per halving, so this stays O(1) amortised per message.
        if head > 0, head * 2 >= order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}

/// The receipts of the most recently accepted messages, by key, so the usual duplicate (an answer
/// lost a moment ago) costs no journal scan; at most `limit`. Not thread-safe: the receiver guards it.
struct RecentReceipts {
    private static let limit = 4096
    private var byKey: [String: Data] = [:]
    private var order: [String] = []
    private var head = 0

    /// The receipt issued under `key`, if it is among the recent ones.
    subscript(key: String) -> Data? { byKey[key] }

    /// Keeps `receipt`, forgetting the oldest beyond the limit.
    mutating func remember(_ key: String, _ receipt: Data) {
        if order.count < Self.limit {
            order.append(key)
        } else {
            byKey.removeValue(forKey: order[head])
            order[head] = key
            head = (head + 1) % Self.limit
        }
        byKey[key] = receipt
    }
}
