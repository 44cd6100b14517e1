import CLibXML2
import COpenSSL
import Foundation
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
    /// This is the fast path: parse once, sign the tree, serialize once with
    /// `doc.serialized()`. `certificate`, when given, goes into `KeyInfo` for readers.
    public static func sign(_ doc: XMLDocument, key: Key, certificate: Certificate? = nil) throws(SignatureError) {
        let root = doc.root
        if findSignatures(in: root, limit: 1).count > 0 { throw .alreadySigned }
        let digest = try Canonicalizer.digest(doc.pointer, .all)

        let signature = try buildSignature(doc: doc.pointer, algorithm: key.algorithm, digest: digest,
                                           certificate: certificate)
        xmlAddChild(root, signature.element)
        do throws(SignatureError) {
            let signedInfo = try Canonicalizer.canonical(doc.pointer, .only(signature.signedInfo))
            let raw: Data
            do { raw = try key.sign(signedInfo) } catch { throw .crypto(error) }
            var value = raw
            if key.algorithm == .ecdsaP256SHA256 {
                guard let r = ECDSAEncoding.raw(fromDER: raw) else {
                    throw .crypto(.signingFailed("unexpected ECDSA signature encoding"))
                }
                value = r
            }
            xmlNodeAddContent(signature.signatureValue, value.base64EncodedString())
        } catch {
            // Leave the document as it was: a half-signed tree must never be serialized.
            xmlUnlinkNode(signature.element)
            xmlFreeNode(signature.element)
            throw error
        }
    }

    /// Parses `xml` (untrusted-input limits), signs it and returns the serialized signed document.
    public static func sign(xml: Data, key: Key, certificate: Certificate? = nil,
                            limits: XMLLimits = .default) throws(SignatureError) -> Data {
        let doc: XMLDocument
        do { doc = try XMLDocument.parse(xml, limits: limits) } catch { throw .xml(error) }
        try sign(doc, key: key, certificate: certificate)
        return doc.serialized()
    }

    /// The pieces of a freshly built `ds:Signature` that signing fills in afterwards.
    private struct Built {
        let element: xmlNodePtr
        let signedInfo: xmlNodePtr
        let signatureValue: xmlNodePtr
    }

    /// Builds the unlinked `ds:Signature` subtree with an empty `SignatureValue`.
    private static func buildSignature(doc: xmlDocPtr, algorithm: SignatureAlgorithm, digest: Data,
                                       certificate: Certificate?) throws(SignatureError) -> Built {
        guard let sig = xmlNewDocNode(doc, nil, "Signature", nil) else { throw .malformed("out of memory") }
        let ns = xmlNewNs(sig, namespace, "ds")
        xmlSetNs(sig, ns)
        func child(_ parent: xmlNodePtr, _ name: String, algorithm: String? = nil, text: String? = nil) -> xmlNodePtr {
            let node = xmlNewChild(parent, ns, name, nil)!
            if let algorithm { xmlNewProp(node, "Algorithm", algorithm) }
            if let text { xmlNodeAddContent(node, text) }
            return node
        }
        let signedInfo = child(sig, "SignedInfo")
        _ = child(signedInfo, "CanonicalizationMethod", algorithm: exclusiveC14N)
        _ = child(signedInfo, "SignatureMethod", algorithm: algorithm.xmlDSigURI)
        let reference = child(signedInfo, "Reference")
        xmlNewProp(reference, "URI", "")
        let transforms = child(reference, "Transforms")
        _ = child(transforms, "Transform", algorithm: envelopedSignature)
        _ = child(transforms, "Transform", algorithm: exclusiveC14N)
        _ = child(reference, "DigestMethod", algorithm: sha256)
        _ = child(reference, "DigestValue", text: digest.base64EncodedString())
        let value = child(sig, "SignatureValue")
        if let certificate {
            let keyInfo = child(sig, "KeyInfo")
            let x509 = child(keyInfo, "X509Data")
            _ = child(x509, "X509Certificate", text: certificate.der.base64EncodedString())
        }
        return Built(element: sig, signedInfo: signedInfo, signatureValue: value)
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
