import CLibXML2
import Foundation
import StafettModel

/// Receipts as XML in `urn:stafett:receipt:1` (Schemas/receipt-1.xsd), written and read the
/// same way as `CaseXML` (deterministic text, UTC milliseconds, no signature on encode).
public enum ReceiptXML {
    /// The receipt namespace.
    public static let namespace = "urn:stafett:receipt:1"
    static let ns: StaticString = "urn:stafett:receipt:1"
    /// The only digest algorithm a receipt names: SHA-256 (XML Encryption's URI, as XML-DSig uses).
    public static let sha256Algorithm = "http://www.w3.org/2001/04/xmlenc#sha256"

    /// The UTF-8 XML of `r`, without signature.
    public static func encode(_ r: Receipt) -> Data {
        var w = XMLWriter(capacity: 768 + (r.detail?.utf8.count ?? 0))
        w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Receipt xmlns=\"urn:stafett:receipt:1\">")
        w.leaf("ReceiptId", r.receiptId.rawValue, indent: 2)
        if let v = r.refToMessageId { w.leaf("RefToMessageId", v.rawValue, indent: 2) }
        w.leaf("IssuedAt", r.issuedAt, indent: 2)
        w.leaf("Issuer", r.issuer.digits, indent: 2)
        if let v = r.addressee { w.leaf("Addressee", v.digits, indent: 2) }
        w.leaf("Status", r.status.rawValue, indent: 2)
        if let v = r.digest { w.leaf("Digest", attribute: "algorithm", sha256Algorithm, v, indent: 2) }
        if let v = r.reason { w.leaf("Reason", v.rawValue, indent: 2) }
        if let v = r.detail { w.leaf("Detail", v, indent: 2) }
        w.raw("\n</Receipt>\n")
        return Data(w.bytes)
    }

    /// Reads the receipt in `doc`, ignoring one trailing `ds:Signature`. Like `CaseXML.decode`,
    /// it does not validate against the schema; errors name the element path (`/Receipt/Issuer`).
    public static func decode(_ doc: XMLDocument) throws(XMLError) -> Receipt {
        let root = try requireRoot(doc, "Receipt", in: ns)
        var r = ElementReader(root, path: "/Receipt", namespace: ns)
        let receiptId = try r.messageID("ReceiptId")
        var ref: MessageID?
        if r.hasNext("RefToMessageId") { ref = try r.messageID("RefToMessageId") }
        let issuedAt = try r.dateTime("IssuedAt")
        let issuer = try r.organisation("Issuer")
        let addressee = try r.optionalOrganisation("Addressee")
        let status = try r.enumeration("Status", ReceiptStatus.self)
        let digest = try r.optional("Digest").map { n throws(XMLError) in try BatchReceiptXML.sha256Text(n, path: "/Receipt/Digest") }
        let reason = try r.optionalEnumeration("Reason", RejectionReason.self)
        let detail = r.optionalString("Detail")
        try r.finish(allowSignature: true)
        return Receipt(receiptId: receiptId, refToMessageId: ref, issuedAt: issuedAt, issuer: issuer,
                       addressee: addressee, status: status, digest: digest, reason: reason, detail: detail)
    }

    /// Parses, validates against receipt-1.xsd and decodes untrusted bytes.
    public static func read(_ data: Data, limits: XMLLimits = .default) throws(XMLError) -> Receipt {
        try decode(try SchemaValidator.receipt.parseAndValidate(data, limits: limits))
    }
}
