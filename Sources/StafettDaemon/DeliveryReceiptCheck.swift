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
            let receipt = try ReceiptXML.decode(doc)
            guard receipt.issuer == peer.config.organisation else {
                return .retry("receipt issued by \(receipt.issuer), expected \(peer.config.organisation)")
            }
            if let addressee = receipt.addressee, addressee != me {
                return .retry("receipt addressed to \(addressee), expected this node, \(me)")
            }
            guard receipt.refToMessageId == entry.messageId || (receipt.status == .rejected && receipt.refToMessageId == nil) else {
                return .retry("receipt refers to \(receipt.refToMessageId?.rawValue ?? "no message"), expected \(entry.messageId)")
            }
            if receipt.status == .accepted, receipt.digest != entry.digest {
                return .retry("accepted receipt carries digest \(receipt.digest ?? "none"), expected \(entry.digest)")
            }
            if receipt.status == .rejected, receipt.reason == .internalError {
                return .retry("peer could not store the message: \(receipt.detail ?? "")")
            }
            return .receipt(receipt, signed: response.body)
        } catch {
            return .retry("unusable receipt: \(error)")
        }
    }
}
