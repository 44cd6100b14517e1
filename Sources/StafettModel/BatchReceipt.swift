import Foundation

/// A receiver's answer to a batch of case messages carried in one request: one signed receipt
/// with one entry per message, in the order the messages came. Each entry is what a single
/// `Receipt` would have said about that message alone.
public struct BatchReceipt: Sendable, Codable, Hashable {
    /// One message's outcome inside a batch receipt.
    public struct Entry: Sendable, Codable, Hashable {
        /// The id of the message, when it could be read.
        public var refToMessageId: MessageID?
        /// Accepted or rejected.
        public var status: ReceiptStatus
        /// As in `Receipt.digest`: SHA-256 of the signed content, when the signature verified.
        public var digest: String?
        /// SHA-256 of the message's bytes exactly as received (its frame), base64: binds the entry
        /// to what the sender sent even when the message could not be read at all.
        public var receivedDigest: String
        /// For a rejection: the reason code.
        public var reason: RejectionReason?
        /// For a rejection: what exactly was wrong.
        public var detail: String?

        /// Creates an entry.
        public init(refToMessageId: MessageID?, status: ReceiptStatus, digest: String? = nil, receivedDigest: String,
                    reason: RejectionReason? = nil, detail: String? = nil) {
            self.refToMessageId = refToMessageId
            self.status = status
            self.digest = digest
            self.receivedDigest = receivedDigest
            self.reason = reason
            self.detail = detail
        }
    }

    /// The receipt's own id.
    public var receiptId: MessageID
    /// When the receiver issued it.
    public var issuedAt: Date
    /// The organisation issuing it (the messages' recipient).
    public var issuer: OrganisationNumber
    /// The organisation it goes back to (the TLS peer that sent the batch).
    public var addressee: OrganisationNumber
    /// One entry per message, in the order of the request's frames.
    public var entries: [Entry]

    /// Creates a batch receipt.
    public init(receiptId: MessageID, issuedAt: Date, issuer: OrganisationNumber, addressee: OrganisationNumber, entries: [Entry]) {
        self.receiptId = receiptId
        self.issuedAt = issuedAt
        self.issuer = issuer
        self.addressee = addressee
        self.entries = entries
    }

    /// What this batch receipt says about one message, as a single receipt would have said it
    /// (same issuer, addressee, time and receipt id): the first entry for `id`, or nil.
    public func receipt(for id: MessageID) -> Receipt? {
        entries.first { $0.refToMessageId == id }.map(receipt(of:))
    }

    /// The entry as a single receipt.
    public func receipt(of e: Entry) -> Receipt {
        Receipt(receiptId: receiptId, refToMessageId: e.refToMessageId, issuedAt: issuedAt, issuer: issuer,
                addressee: addressee, status: e.status, digest: e.digest, reason: e.reason, detail: e.detail)
    }
}
