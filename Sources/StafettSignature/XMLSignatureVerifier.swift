import CLibXML2
import Foundation
import StafettCrypto
import StafettXML

extension XMLSignature {
    /// Verifies `doc` with the certificate configured for its claimed sender.
    ///
    /// Accepts only the profile described on ``XMLSignature``: exactly one `ds:Signature` in the
    /// whole tree, as the last element child of the root; one `Reference URI=""` with exactly the
    /// enveloped-signature and exc-c14n transforms, in that order; SHA-256; the signature method of
    /// the trusted key. A certificate in `KeyInfo` is never used: if one is there and it is not
    /// the trusted certificate, the document is refused.
    ///
    /// Since only a whole-document reference is accepted and the signature must close the root,
    /// signature-wrapping (moving or duplicating signed content elsewhere) always changes the
    /// digest or the signature's position, and fails.
    public static func verify(_ doc: XMLDocument, trusting certificate: Certificate) throws(SignatureError) {
        _ = try verify(doc, trustingAnyOf: [certificate])
    }

    /// What a verification established.
    public struct Verification: Sendable {
        /// The certificate whose key verified.
        public let certificate: Certificate
        /// The signature's `DigestValue`, now proven to be the SHA-256 of the signed content (see
        /// ``signedDigestValue(_:)``): what a receipt quotes, without reading the profile again.
        public let digestValue: Data
    }

    /// Verifies with any of `certificates` (a peer in certificate rotation lists the old and the new
    /// one) and returns the certificate whose key verified. Validity dates are the caller's to check.
    @discardableResult
    public static func verify(_ doc: XMLDocument, trustingAnyOf certificates: [Certificate]) throws(SignatureError) -> Certificate {
        try verification(of: doc, trustingAnyOf: certificates).certificate
    }

    /// `verify(_:trustingAnyOf:)`, returning the digest value beside the certificate.
    public static func verification(of doc: XMLDocument, trustingAnyOf certificates: [Certificate]) throws(SignatureError) -> Verification {
        guard !certificates.isEmpty else { throw .untrustedKeyInfo("no certificate is configured for this sender") }
        let parsed = try parseProfile(doc)
        var candidates = certificates
        if !parsed.keyInfoCertificates.isEmpty {
            let trusted = Set(certificates.map(\.der))
            for der in parsed.keyInfoCertificates where !trusted.contains(der) {
                let subject = (try? Certificate.fromDER(der).subjectLine) ?? "an unreadable certificate"
                throw .untrustedKeyInfo("KeyInfo carries \(subject), which is not trusted for this sender")
            }
            candidates = certificates.filter { parsed.keyInfoCertificates.contains($0.der) }
        }
        var keys: [(Certificate, Key)] = []
        for c in candidates {
            guard let k = try? c.publicKey() else { continue }
            keys.append((c, k))
        }
        let matching = keys.filter { $0.1.algorithm.xmlDSigURI == parsed.signatureMethod }
        guard !matching.isEmpty else { throw .algorithm(parsed.signatureMethod) }
        try checkDigest(doc, parsed)
        let signedInfo = try canonicalSignedInfo(doc, parsed)
        for (certificate, key) in matching where verifySignatureValue(parsed.signatureValue, signedInfo, key) {
            return Verification(certificate: certificate, digestValue: parsed.digestValue)
        }
        throw .badSignatureValue
    }

    /// Verifies with a bare public key (a peer configured by key, not certificate). A certificate in
    /// `KeyInfo` must certify this very key, or the document is refused.
    public static func verify(_ doc: XMLDocument, key: Key) throws(SignatureError) {
        let parsed = try parseProfile(doc)
        for der in parsed.keyInfoCertificates {
            guard let c = try? Certificate.fromDER(der), let k = try? c.publicKey(), k.hasSamePublicKey(as: key) else {
                throw .untrustedKeyInfo("KeyInfo carries a certificate for another key")
            }
        }
        guard key.algorithm.xmlDSigURI == parsed.signatureMethod else { throw .algorithm(parsed.signatureMethod) }
        try checkDigest(doc, parsed)
        let signedInfo = try canonicalSignedInfo(doc, parsed)
        guard verifySignatureValue(parsed.signatureValue, signedInfo, key) else { throw .badSignatureValue }
    }

    /// Parses `xml` under untrusted-input limits, verifies it and returns the document.
    public static func verify(xml: Data, trusting certificate: Certificate,
                              limits: XMLLimits = .default) throws(SignatureError) -> XMLDocument {
        let doc: XMLDocument
        do { doc = try XMLDocument.parse(xml, limits: limits) } catch { throw .xml(error) }
        try verify(doc, trusting: certificate)
        return doc
    }

    /// SHA-256 of the signed content: the exclusive C14N of the document without its `ds:Signature`
    /// (equal to `DigestValue` once ``verify(_:trusting:)`` has passed). What a receipt quotes: the
    /// same for every serialization of the message, and unaffected by the signature's own bytes.
    public static func signedContentDigest(_ doc: XMLDocument) throws(SignatureError) -> Data {
        let signatures = findSignatures(in: doc.root, limit: 1)
        guard signatures.count <= 1 else { throw .multipleSignatures(count: findSignatures(in: doc.root).count) }
        return try Canonicalizer.digest(doc.pointer, signatures.first.map { .excluding($0) } ?? .all)
    }

    // MARK: - Profile

    /// What the verifier reads out of a `ds:Signature` that has passed the structural checks.
    struct Parsed {
        let signature: xmlNodePtr
        let signedInfo: xmlNodePtr
        let signatureMethod: String
        let digestValue: Data
        let signatureValue: Data
        let keyInfoCertificates: [Data]
    }

    /// Finds the one signature and checks every structural rule of the profile.
    static func parseProfile(_ doc: XMLDocument) throws(SignatureError) -> Parsed {
        let root = doc.root
        let all = findSignatures(in: root, limit: 1)
        if all.isEmpty { throw .missingSignature }
        if all.count > 1 { throw .multipleSignatures(count: findSignatures(in: root).count) }
        let sig = all[0]
        guard sig.pointee.parent == root else {
            throw .notLastChild(parent: sig.pointee.parent.map { XMLDocument.localName(of: $0) } ?? "?")
        }
        var after = sig.pointee.next
        while let n = after {
            if n.pointee.type == XML_ELEMENT_NODE || (n.pointee.type == XML_TEXT_NODE && !isBlank(n)) {
                throw .notLastChild(parent: XMLDocument.localName(of: root))
            }
            after = n.pointee.next
        }
        try attributes(sig, allowed: ["Id"])
        let parts = try dsigChildren(sig, "Signature")
        guard parts.count == 2 || parts.count == 3, name(parts[0]) == "SignedInfo", name(parts[1]) == "SignatureValue",
              parts.count == 2 || name(parts[2]) == "KeyInfo" else {
            throw .malformed("Signature must hold SignedInfo, SignatureValue and optionally KeyInfo, found "
                + parts.map(name).joined(separator: ", "))
        }
        let signedInfo = parts[0]
        try attributes(signedInfo, allowed: ["Id"])
        let info = try dsigChildren(signedInfo, "SignedInfo")
        guard info.count >= 3, name(info[0]) == "CanonicalizationMethod", name(info[1]) == "SignatureMethod" else {
            throw .malformed("SignedInfo must hold CanonicalizationMethod, SignatureMethod, Reference, found "
                + info.map(name).joined(separator: ", "))
        }
        let c14n = try algorithm(info[0])
        guard c14n == exclusiveC14N else { throw .algorithm(c14n) }
        let method = try algorithm(info[1])
        guard method == SignatureAlgorithm.rsaSHA256.xmlDSigURI || method == SignatureAlgorithm.ecdsaP256SHA256.xmlDSigURI else {
            throw .algorithm(method)
        }
        let references = Array(info.dropFirst(2))
        guard references.allSatisfy({ name($0) == "Reference" }) else {
            throw .malformed("SignedInfo may hold only Reference after SignatureMethod")
        }
        guard references.count == 1 else { throw .referenceCount(references.count) }
        let digest = try parseReference(references[0])

        let signatureValue = try base64(parts[1], "SignatureValue")
        try attributes(parts[1], allowed: ["Id"])
        let certificates = parts.count == 3 ? try parseKeyInfo(parts[2]) : []
        return Parsed(signature: sig, signedInfo: signedInfo, signatureMethod: method, digestValue: digest,
                      signatureValue: signatureValue, keyInfoCertificates: certificates)
    }

    /// Checks the one `Reference` and returns its digest value.
    private static func parseReference(_ reference: xmlNodePtr) throws(SignatureError) -> Data {
        guard let uri = attributeValue(reference, "URI") else { throw .referenceURI("(absent)") }
        guard uri.isEmpty else { throw .referenceURI("\"\(uri)\"") }
        try attributes(reference, allowed: ["URI", "Id"])
        let parts = try dsigChildren(reference, "Reference")
        guard parts.count == 3, name(parts[0]) == "Transforms", name(parts[1]) == "DigestMethod",
              name(parts[2]) == "DigestValue" else {
            if let first = parts.first, name(first) != "Transforms" { throw .transforms([]) }
            throw .malformed("Reference must hold Transforms, DigestMethod, DigestValue, found "
                + parts.map(name).joined(separator: ", "))
        }
        try attributes(parts[0], allowed: [])
        let transforms = try dsigChildren(parts[0], "Transforms")
        var uris: [String] = []
        for t in transforms {
            guard name(t) == "Transform" else { throw .malformed("Transforms may hold only Transform elements") }
            uris.append(try algorithm(t))
        }
        guard uris == [envelopedSignature, exclusiveC14N] else { throw .transforms(uris) }
        let digestMethod = try algorithm(parts[1])
        guard digestMethod == sha256 else { throw .algorithm(digestMethod) }
        try attributes(parts[2], allowed: [])
        let digest = try base64(parts[2], "DigestValue")
        guard digest.count == 32 else { throw .malformed("DigestValue must be 32 bytes, found \(digest.count)") }
        return digest
    }

    /// The DER certificates in `KeyInfo`; anything other than `X509Data/X509Certificate` is refused.
    private static func parseKeyInfo(_ keyInfo: xmlNodePtr) throws(SignatureError) -> [Data] {
        try attributes(keyInfo, allowed: ["Id"])
        var result: [Data] = []
        for data in try dsigChildren(keyInfo, "KeyInfo") {
            guard name(data) == "X509Data" else {
                throw .untrustedKeyInfo("KeyInfo may hold only X509Data, found \(name(data))")
            }
            try attributes(data, allowed: [])
            for cert in try dsigChildren(data, "X509Data") {
                guard name(cert) == "X509Certificate" else {
                    throw .untrustedKeyInfo("X509Data may hold only X509Certificate, found \(name(cert))")
                }
                try attributes(cert, allowed: [])
                result.append(try base64(cert, "X509Certificate"))
            }
        }
        return result
    }

    // MARK: - Cryptographic checks

    /// Compares `DigestValue` with the digest of the document without its signature, canonicalized
    /// by the fast walk (libxml2's C14N took more CPU than the signature check itself). libxml2
    /// has the last word when the walk declines or disagrees, so whatever xmlsec1 accepts still
    /// verifies; see ``FastCanonicalizer`` for why the walk cannot let a forgery through.
    private static func checkDigest(_ doc: XMLDocument, _ parsed: Parsed) throws(SignatureError) {
        if let canonical = FastCanonicalizer.canonicalize(doc.pointer, excluding: parsed.signature) {
            #if DEBUG
            assertAgreesWithLibxml2(canonical, doc, .excluding(parsed.signature))
            #endif
            let digest = canonical.withUnsafeBytes { SHA256.hash($0) }
            if SHA256.digestsEqual(digest, parsed.digestValue) { return }
        }
        let digest = try Canonicalizer.digest(doc.pointer, .excluding(parsed.signature))
        guard SHA256.digestsEqual(digest, parsed.digestValue) else { throw .digestMismatch }
    }

    /// The canonical `SignedInfo`, by the fast walk over its subtree alone (libxml2 visits every
    /// node of the document to pick out the subtree), or by libxml2 when the walk declines.
    private static func canonicalSignedInfo(_ doc: XMLDocument, _ parsed: Parsed) throws(SignatureError) -> Data {
        guard let canonical = FastCanonicalizer.canonicalize(subtree: parsed.signedInfo) else {
            return try Canonicalizer.canonical(doc.pointer, .only(parsed.signedInfo))
        }
        #if DEBUG
        assertAgreesWithLibxml2(canonical, doc, .only(parsed.signedInfo))
        #endif
        return Data(canonical)
    }

    #if DEBUG
    /// Debug builds (the tests) check every fast canonicalization against libxml2's.
    private static func assertAgreesWithLibxml2(_ canonical: [UInt8], _ doc: XMLDocument, _ filter: Canonicalizer.Filter) {
        let reference = try? Canonicalizer.canonical(doc.pointer, filter)
        assert(reference == Data(canonical),
               "fast C14N differs from libxml2:\n\(String(decoding: canonical, as: UTF8.self))\n\(String(decoding: reference ?? Data(), as: UTF8.self))")
    }
    #endif

    private static func verifySignatureValue(_ value: Data, _ signedInfo: Data, _ key: Key) -> Bool {
        var signature = value
        if key.algorithm == .ecdsaP256SHA256 {
            // XML-DSig 1.1: r || s, 32 bytes each; anything else (including DER) is refused.
            guard let der = ECDSAEncoding.der(fromRaw: value) else { return false }
            signature = der
        }
        return key.verify(signature: signature, over: signedInfo)
    }

    // MARK: - Tree helpers

    private static func name(_ node: xmlNodePtr) -> String { XMLDocument.localName(of: node) }

    /// Element children, all of which must be in the XML-DSig namespace; only whitespace text may sit
    /// between them (no comments, processing instructions or other text).
    private static func dsigChildren(_ node: xmlNodePtr, _ context: String) throws(SignatureError) -> [xmlNodePtr] {
        var result: [xmlNodePtr] = []
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE:
                guard XMLDocument.namespaceURI(of: c) == namespace else {
                    throw .malformed("\(context) holds a foreign element <\(name(c))>")
                }
                result.append(c)
            case XML_TEXT_NODE where isBlank(c):
                break
            default:
                throw .malformed("\(context) holds text, a comment or a processing instruction")
            }
            child = c.pointee.next
        }
        return result
    }

    /// The `Algorithm` attribute of an element that must have no children.
    private static func algorithm(_ node: xmlNodePtr) throws(SignatureError) -> String {
        try attributes(node, allowed: ["Algorithm"])
        guard let uri = attributeValue(node, "Algorithm") else { throw .malformed("\(name(node)) has no Algorithm") }
        let children = try dsigChildrenOrForeign(node)
        guard children == 0 else { throw .algorithm("\(uri) with parameters") }
        return uri
    }

    /// Counts element children of any namespace (parameters such as InclusiveNamespaces).
    private static func dsigChildrenOrForeign(_ node: xmlNodePtr) throws(SignatureError) -> Int {
        var n = 0
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE { n += 1 }
            else if !(c.pointee.type == XML_TEXT_NODE && isBlank(c)) {
                throw .malformed("\(name(node)) holds text, a comment or a processing instruction")
            }
            child = c.pointee.next
        }
        return n
    }

    /// Refuses attributes outside `allowed` (namespaced attributes are never allowed).
    private static func attributes(_ node: xmlNodePtr, allowed: Set<String>) throws(SignatureError) {
        var attr = node.pointee.properties
        while let a = attr {
            let n = a.pointee.name.map { String(cString: $0) } ?? ""
            guard a.pointee.ns == nil, allowed.contains(n) else {
                throw .malformed("unexpected attribute \(n) on \(name(node))")
            }
            attr = a.pointee.next
        }
    }

    private static func attributeValue(_ node: xmlNodePtr, _ attribute: String) -> String? {
        guard xmlHasNsProp(node, attribute, nil) != nil else { return nil }
        return XMLDocument.attribute(attribute, of: node)
    }

    private static func isBlank(_ node: xmlNodePtr) -> Bool { xmlIsBlankNode(node) == 1 }

    /// Base64 content with XML whitespace (xmlsec1 wraps lines) removed, strictly decoded: only the
    /// canonical encoding (zero padding bits), so one value has one spelling.
    private static func base64(_ node: xmlNodePtr, _ what: String) throws(SignatureError) -> Data {
        var chunks: [UnsafeBufferPointer<UInt8>] = []
        var child = node.pointee.children
        while let c = child {
            guard c.pointee.type == XML_TEXT_NODE else { throw .malformed("\(what) holds markup") }
            if let content = c.pointee.content { chunks.append(UnsafeBufferPointer(start: content, count: strlen(content))) }
            child = c.pointee.next
        }
        switch Base64Text.decodeCanonical(chunks) {
        case let .bytes(data): return data
        case .notBase64: throw .malformed("\(what) is not base64")
        case .notCanonical: throw .malformed("\(what) is not canonical base64")
        }
    }
}
