import CLibXML2
import Foundation
import StafettModel

/// Batch receipts as XML: the `BatchReceipt` element of `urn:stafett:receipt:1`
/// (Schemas/receipt-1.xsd), written and read like `ReceiptXML`.
public enum BatchReceiptXML {
    /// The UTF-8 XML of `r`, without signature.
    public static func encode(_ r: BatchReceipt) -> Data {
        var w = XMLWriter(capacity: 512 + r.entries.count * 320)
        w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BatchReceipt xmlns=\"urn:stafett:receipt:1\">")
        w.leaf("ReceiptId", r.receiptId.rawValue, indent: 2)
        w.leaf("IssuedAt", r.issuedAt, indent: 2)
        w.leaf("Issuer", r.issuer.digits, indent: 2)
        w.leaf("Addressee", r.addressee.digits, indent: 2)
        for e in r.entries {
            w.open("Entry", indent: 2)
            if let v = e.refToMessageId { w.leaf("RefToMessageId", v.rawValue, indent: 4) }
            w.leaf("Status", e.status.rawValue, indent: 4)
            if let v = e.digest { w.leaf("Digest", attribute: "algorithm", ReceiptXML.sha256Algorithm, v, indent: 4) }
            w.leaf("ReceivedDigest", attribute: "algorithm", ReceiptXML.sha256Algorithm, e.receivedDigest, indent: 4)
            if let v = e.reason { w.leaf("Reason", v.rawValue, indent: 4) }
            if let v = e.detail { w.leaf("Detail", v, indent: 4) }
            w.close("Entry", indent: 2)
        }
        w.raw("\n</BatchReceipt>\n")
        return Data(w.bytes)
    }

    /// True when `doc`'s root is a `BatchReceipt` in the receipt namespace (else it may be a `Receipt`).
    public static func isBatch(_ doc: XMLDocument) -> Bool {
        guard let root = xmlDocGetRootElement(doc.pointer) else { return false }
        return isElement(root, "BatchReceipt", in: ReceiptXML.ns)
    }

    /// Reads the batch receipt in `doc`, ignoring one trailing `ds:Signature`. Does not validate
    /// against the schema; errors name the element path (`/BatchReceipt/Entry[2]/Status`).
    public static func decode(_ doc: XMLDocument) throws(XMLError) -> BatchReceipt {
        let root = try requireRoot(doc, "BatchReceipt", in: ReceiptXML.ns)
        var r = ElementReader(root, path: "/BatchReceipt", namespace: ReceiptXML.ns)
        let receiptId = try r.messageID("ReceiptId")
        let issuedAt = try r.dateTime("IssuedAt")
        let issuer = try r.organisation("Issuer")
        let addressee = try r.organisation("Addressee")
        var entries: [BatchReceipt.Entry] = []
        while let node = r.optional("Entry") {
            let path = "/BatchReceipt/Entry[\(entries.count + 1)]"
            var e = ElementReader(node, path: path, namespace: ReceiptXML.ns)
            var ref: MessageID?
            if e.hasNext("RefToMessageId") { ref = try e.messageID("RefToMessageId") }
            let status = try e.enumeration("Status", ReceiptStatus.self)
            let digest = try e.optional("Digest").map { n throws(XMLError) in try sha256Text(n, path: path + "/Digest") }
            let received = try sha256Text(try e.required("ReceivedDigest"), path: path + "/ReceivedDigest")
            let reason = try e.optionalEnumeration("Reason", RejectionReason.self)
            let detail = e.optionalString("Detail")
            try e.finish(allowSignature: false)
            entries.append(BatchReceipt.Entry(refToMessageId: ref, status: status, digest: digest, receivedDigest: received,
                                              reason: reason, detail: detail))
        }
        guard !entries.isEmpty else { throw .content(path: "/BatchReceipt/Entry", reason: "missing") }
        try r.finish(allowSignature: true)
        return BatchReceipt(receiptId: receiptId, issuedAt: issuedAt, issuer: issuer, addressee: addressee, entries: entries)
    }

    /// The text of a digest element, refusing any algorithm but SHA-256.
    static func sha256Text(_ node: xmlNodePtr, path: String) throws(XMLError) -> String {
        if let algorithm = XMLDocument.attribute("algorithm", of: node), algorithm != ReceiptXML.sha256Algorithm {
            throw .content(path: "\(path)/@algorithm",
                           reason: "only \(ReceiptXML.sha256Algorithm) is accepted, not '\(algorithm.prefix(80))'")
        }
        return ElementReader.text(node)
    }
}
