import Foundation
import StafettModel
import StafettTransport
import StafettXML

/// What one delivery attempt came to.
enum AttemptOutcome {
    /// A verified receipt came back (accepted or rejected): the message leaves the queue.
    case receipt(Receipt, signed: Data)
    /// The peer could not be reached or the connection broke: the whole peer backs off.
    case peerDown(String)
    /// The peer answered but not with a usable receipt (5xx, bad receipt): this message backs off.
    case retry(String)
    /// As `receipt`, read from a batch receipt (`signed`) that covers this message among others:
    /// archived once, not copied into each journal record.
    case batchReceipt(Receipt, signed: SignedBatchReceipt)
}

/// A peer's signed batch receipt as it came, with the digest it is archived and journaled by
/// (`BatchReceiptArchive.digest(of:)`), computed once for the whole batch. One object is shared
/// by the outcomes of all the messages it covers: each settlement hashing the receipt again cost
/// the sender a hash of the whole receipt (16 KB for 64 messages) per message, about a sixth of
/// its CPU.
final class SignedBatchReceipt: Sendable {
    /// The signed bytes, as received.
    let bytes: Data
    /// SHA-256 of `bytes`, lowercase hex.
    let digest: String

    init(_ bytes: Data) {
        self.bytes = bytes
        digest = BatchReceiptArchive.digest(of: bytes)
    }
}

extension DeliveryScheduler {
    /// The largest receipt accepted from a peer (ours are about 2 KB).
    static let maxReceiptBytes = 64 << 10

    /// What a peer's answer to `entry` comes to: its receipt, when the answer is one this node can
    /// keep as evidence (schema-valid, signed by the peer, issued by it to this node `me`, about
    /// this message and, when accepted, quoting its digest); otherwise a retry with the reason.
    static func checkReceipt(_ response: HTTPResponse, for entry: QueueEntry, from peer: LoadedPeer,
                             to me: OrganisationNumber) -> AttemptOutcome {
        guard response.status == 200 || response.status == 413 else {
            return .retry("HTTP \(response.status) \(response.reason): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        // A receipt is a few kilobytes and goes into the journal whole: a peer sending megabytes
        // is broken, and its answer must not fail the journal round it would be committed in.
        guard response.body.count <= DeliveryScheduler.maxReceiptBytes else {
            return .retry("the receipt is \(response.body.count) bytes, more than \(DeliveryScheduler.maxReceiptBytes): not accepted")
        }
        do {
            let doc = try XMLDocument.parse(response.body)
            try SchemaValidator.receipt.validate(doc)
            _ = try peer.verifySignature(doc)
            // A resend of a message first delivered in a batch is answered with that batch's receipt.
            if BatchReceiptXML.isBatch(doc) {
                return checkBatchReceipt(try BatchReceiptXML.decode(doc), signed: SignedBatchReceipt(response.body), for: entry, from: peer, to: me)
            }
            let receipt = try ReceiptXML.decode(doc)
            if let why = mismatch(receipt, for: entry, from: peer, to: me) { return .retry(why) }
            return .receipt(receipt, signed: response.body)
        } catch {
            return .retry("unusable receipt: \(error)")
        }
    }

    /// Why `receipt` is not evidence for `entry` from `peer` to this node `me` (another issuer or
    /// addressee, another message, another digest), or that it asks for a retry (the peer could not
    /// store the message); nil when it settles the message.
    static func mismatch(_ receipt: Receipt, for entry: QueueEntry, from peer: LoadedPeer, to me: OrganisationNumber) -> String? {
        guard receipt.issuer == peer.config.organisation else {
            return "receipt issued by \(receipt.issuer), expected \(peer.config.organisation)"
        }
        if let addressee = receipt.addressee, addressee != me {
            return "receipt addressed to \(addressee), expected this node, \(me)"
        }
        guard receipt.refToMessageId == entry.messageId || (receipt.status == .rejected && receipt.refToMessageId == nil) else {
            return "receipt refers to \(receipt.refToMessageId?.rawValue ?? "no message"), expected \(entry.messageId)"
        }
        if receipt.status == .accepted, receipt.digest != entry.digest {
            return "accepted receipt carries digest \(receipt.digest ?? "none"), expected \(entry.digest)"
        }
        if receipt.status == .rejected, receipt.reason == .internalError {
            return "peer could not store the message: \(receipt.detail ?? "")"
        }
        return nil
    }
}
