import Foundation

/// Why a receiver refused a message. The raw value is the reason code on the wire.
public enum RejectionReason: String, CaseIterable, Sendable, Codable, Hashable {
    /// Not well-formed XML, or not valid against case-1.xsd.
    case schema
    /// The XML-DSig signature is missing, outside the profile, or does not verify.
    case signature
    /// The sender organisation is not a configured peer.
    case unknownSender = "unknown-sender"
    /// The TLS client certificate belongs to another organisation than the message's sender.
    case senderMismatch = "sender-mismatch"
    /// The message is addressed to another organisation.
    case wrongRecipient = "wrong-recipient"
    /// The body is larger than the receiver's limit.
    case tooLarge = "too-large"
    /// The receiver could not store the message; the sender should retry.
    case internalError = "internal-error"
    /// The receiver already accepted a message with this id from this sender, with different
    /// signed content (another digest). Permanent: resending cannot help, the new content needs a
    /// new message id. (A resend of the same content is a duplicate and gets the original receipt.)
    case duplicateId = "duplicate-id"
}

/// Accepted or rejected.
public enum ReceiptStatus: String, Sendable, Codable, Hashable {
    case accepted, rejected
}

/// A receiver's answer to a case message, signed by the receiver.
public struct Receipt: Sendable, Codable, Hashable {
    /// The receipt's own id.
    public var receiptId: MessageID
    /// The id of the message this receipt answers, when it could be read.
    public var refToMessageId: MessageID?
    /// When the receiver issued the receipt.
    public var issuedAt: Date
    /// The organisation issuing the receipt (the message's recipient).
    public var issuer: OrganisationNumber
    /// The organisation the receipt goes back to (the message's sender), when known.
    public var addressee: OrganisationNumber?
    /// Accepted or rejected.
    public var status: ReceiptStatus
    /// SHA-256 of the exclusive-canonical form of the received message, base64 (as AS4 receipts carry).
    public var digest: String?
    /// For a rejection: the reason code.
    public var reason: RejectionReason?
    /// For a rejection: what exactly was wrong, for the sender's operator.
    public var detail: String?

    /// Creates a receipt.
    public init(receiptId: MessageID, refToMessageId: MessageID?, issuedAt: Date, issuer: OrganisationNumber,
                addressee: OrganisationNumber?, status: ReceiptStatus, digest: String? = nil,
                reason: RejectionReason? = nil, detail: String? = nil) {
        self.receiptId = receiptId
        self.refToMessageId = refToMessageId
        self.issuedAt = issuedAt
        self.issuer = issuer
        self.addressee = addressee
        self.status = status
        self.digest = digest
        self.reason = reason
        self.detail = detail
    }
}
