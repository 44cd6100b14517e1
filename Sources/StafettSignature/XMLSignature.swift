import CLibXML2
import Foundation
import StafettCrypto
import StafettXML

/// Stafett's one XML-DSig profile: an enveloped signature over the whole document.
///
/// ```xml
/// <root ...>
///   ...signed content...
///   <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
///     <ds:SignedInfo>
///       <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
///       <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>
///       <ds:Reference URI="">
///         <ds:Transforms>
///           <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
///           <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
///         </ds:Transforms>
///         <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
///         <ds:DigestValue>...</ds:DigestValue>
///       </ds:Reference>
///     </ds:SignedInfo>
///     <ds:SignatureValue>...</ds:SignatureValue>
///     <ds:KeyInfo><ds:X509Data><ds:X509Certificate>...</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
///   </ds:Signature>
/// </root>
/// ```
///
/// (Written without the indentation.) The ECDSA `SignatureValue` is `r || s`, 64 bytes, as
/// XML-DSig 1.1 and xmlsec1 use, not DER. `KeyInfo` is for people and tools such as xmlsec1; the
/// verifier never takes a key from it (see ``verify(_:trusting:)``).
///
/// The same check with `xmlsec1` (1.2.37), trusting only the signer's certificate the way Stafett
/// does (`--enabled-key-data key-name` makes it ignore the X509Data in KeyInfo and use the given key):
/// `xmlsec1 --verify --pubkey-cert-pem signer.pem --enabled-key-data key-name --enabled-reference-uris empty signed.xml`
public enum XMLSignature {
    /// The XML-DSig namespace.
    public static let namespace = "http://www.w3.org/2000/09/xmldsig#"
    /// Exclusive XML Canonicalization 1.0, without comments.
    public static let exclusiveC14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
    /// The enveloped-signature transform.
    public static let envelopedSignature = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    /// SHA-256 as a digest method.
    public static let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"

    /// Signs `doc` in place: appends a `ds:Signature` as the last child of its root element.
    ///
    /// `certificate`, when given, goes into `KeyInfo` for readers and must certify `key`. Returns the
    /// SHA-256 of the signed content (the `DigestValue`). Preparing the ``Signer`` each time costs
    /// well under a microsecond, so this is as fast as keeping one.
    @discardableResult
    public static func sign(_ doc: XMLDocument, key: Key, certificate: Certificate? = nil) throws(SignatureError) -> Data {
        try Signer(key: key, certificate: certificate).sign(doc)
    }

    /// Parses `xml` (untrusted-input limits), signs it and returns the serialized signed document.
    public static func sign(xml: Data, key: Key, certificate: Certificate? = nil,
                            limits: XMLLimits = .default) throws(SignatureError) -> Data {
        try Signer(key: key, certificate: certificate).sign(xml: xml, limits: limits)
    }

    /// Whether `doc` carries a signature where the profile puts one: a `ds:Signature` as the last
    /// element child of the root. Says nothing about whether that signature verifies.
    public static func carriesSignature(_ doc: XMLDocument) -> Bool {
        XMLDocument.elementChildren(of: doc.root).last.map { isDSig($0, "Signature") } ?? false
    }

    /// Every `ds:Signature` element in the tree under `root` (document order), stopping after `limit + 1`.
    static func findSignatures(in root: xmlNodePtr, limit: Int = .max) -> [xmlNodePtr] {
        var found: [xmlNodePtr] = []
        var stack: [xmlNodePtr] = [root]
        while let node = stack.popLast() {
            if isDSig(node, "Signature") {
                found.append(node)
                if found.count > limit { break }
            }
            // Push children in reverse so that the walk is in document order.
            var child = node.pointee.last
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE { stack.append(c) }
                child = c.pointee.prev
            }
        }
        return found
    }

    /// Whether `node` is the XML-DSig element `name`.
    static func isDSig(_ node: xmlNodePtr, _ name: String) -> Bool {
        guard node.pointee.type == XML_ELEMENT_NODE, let ns = node.pointee.ns, let href = ns.pointee.href,
              let n = node.pointee.name else { return false }
        return xmlStrEqual(n, name) == 1 && xmlStrEqual(href, namespace) == 1
    }
}
