import CLibXML2
import Foundation
import StafettCrypto
import StafettXML

extension XMLSignature {
    /// Signs documents with one key (and certificate for `KeyInfo`), prepared once: the hot path of
    /// the outbox pipeline. Safe to share between threads; each document is confined to its caller.
    ///
    /// Per document it canonicalizes the content once (for the digest), builds the `ds:Signature`
    /// subtree, and signs the canonical `SignedInfo`. That canonical form depends only on the
    /// algorithm and the digest (exclusive C14N renders just the `ds` namespace SignedInfo uses and
    /// inherits nothing from the document), so it is written directly instead of running C14N a
    /// second time; debug builds check it against libxml2's C14N on every signature.
    public struct Signer: Sendable {
        /// The signing key.
        public let key: Key
        /// The certificate put into `KeyInfo`, if any.
        public let certificate: Certificate?
        let certificateBase64: String?
        let signedInfoHead: String
        static let signedInfoTail = "</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        /// The same texts as bytes, for signing canonical documents without a tree.
        let text: SignatureText

        /// Prepares a signer. Refuses a key without its private part, and a certificate that does
        /// not certify the key (a misconfiguration the receiving side would only report as a bad signature).
        public init(key: Key, certificate: Certificate? = nil) throws(SignatureError) {
            guard key.hasPrivateKey else { throw .crypto(.signingFailed("the key has no private part")) }
            if let certificate {
                let certified: Key
                do { certified = try certificate.publicKey() } catch { throw .crypto(error) }
                guard certified.hasSamePublicKey(as: key) else {
                    throw .crypto(.signingFailed("certificate \(certificate.subjectLine) does not certify the signing key"))
                }
            }
            self.key = key
            self.certificate = certificate
            certificateBase64 = certificate?.derBase64
            signedInfoHead = key.algorithm == .ecdsaP256SHA256 ? Self.ecdsaHead : Self.rsaHead
            text = SignatureText(signedInfoHead: signedInfoHead, signedInfoTail: Self.signedInfoTail,
                                 certificateBase64: certificateBase64)
        }

        /// SignedInfo in canonical form up to the digest value, per algorithm.
        private static let ecdsaHead = head(.ecdsaP256SHA256)
        private static let rsaHead = head(.rsaSHA256)
        private static func head(_ algorithm: SignatureAlgorithm) -> String {
            "<ds:SignedInfo xmlns:ds=\"\(namespace)\">"
                + "<ds:CanonicalizationMethod Algorithm=\"\(exclusiveC14N)\"></ds:CanonicalizationMethod>"
                + "<ds:SignatureMethod Algorithm=\"\(algorithm.xmlDSigURI)\"></ds:SignatureMethod>"
                + "<ds:Reference URI=\"\"><ds:Transforms>"
                + "<ds:Transform Algorithm=\"\(envelopedSignature)\"></ds:Transform>"
                + "<ds:Transform Algorithm=\"\(exclusiveC14N)\"></ds:Transform></ds:Transforms>"
                + "<ds:DigestMethod Algorithm=\"\(sha256)\"></ds:DigestMethod><ds:DigestValue>"
        }

        /// Signs `doc` in place: appends a `ds:Signature` as the last child of its root element.
        /// Serialize once afterwards with `doc.serialized()`. Returns the SHA-256 of the signed
        /// content (the `DigestValue`, what ``XMLSignature/signedContentDigest(_:)`` computes), so a
        /// caller that records it needs no second canonicalization.
        @discardableResult
        public func sign(_ doc: XMLDocument) throws(SignatureError) -> Data {
            let root = doc.root
            if !findSignatures(in: root, limit: 0).isEmpty { throw .alreadySigned }
            let contentDigest = try Self.contentDigest(doc)
            let digest = contentDigest.base64EncodedString()
            let built = try build(doc.pointer, digest: digest, value: try signatureValue(digest))
            xmlAddChild(root, built.element)
            #if DEBUG
            let c14n = try Canonicalizer.canonical(doc.pointer, .only(built.signedInfo))
            let direct = Data((signedInfoHead + digest + Self.signedInfoTail).utf8)
            assert(c14n == direct, "direct SignedInfo differs from C14N: \(String(decoding: c14n, as: UTF8.self))")
            #endif
            return contentDigest
        }

        /// Signs several documents in phases (all digests, then all signatures, then the trees), so
        /// OpenSSL's precomputed tables stay in cache through the signatures: measurably faster than
        /// signing one by one between XML work. Returns the signed-content digests, in order. A
        /// failing digest or signature leaves every document of the batch unchanged.
        @discardableResult
        public func sign(_ docs: [XMLDocument]) throws(SignatureError) -> [Data] {
            var digests: [Data] = []
            digests.reserveCapacity(docs.count)
            for doc in docs {
                if !findSignatures(in: doc.root, limit: 0).isEmpty { throw .alreadySigned }
                digests.append(try Self.contentDigest(doc))
            }
            var values: [String] = []
            values.reserveCapacity(docs.count)
            for digest in digests { values.append(try signatureValue(digest.base64EncodedString())) }
            for (i, doc) in docs.enumerated() {
                let built = try build(doc.pointer, digest: digests[i].base64EncodedString(), value: values[i])
                xmlAddChild(doc.root, built.element)
            }
            return digests
        }

        /// The base64 `SignatureValue` over the canonical SignedInfo for `digest` (base64).
        func signatureValue(_ digest: String) throws(SignatureError) -> String {
            let signedInfo = Data((signedInfoHead + digest + Self.signedInfoTail).utf8)
            let raw: Data
            do { raw = try key.sign(signedInfo) } catch { throw .crypto(error) }
            guard key.algorithm == .ecdsaP256SHA256 else { return raw.base64EncodedString() }
            guard let r = ECDSAEncoding.raw(fromDER: raw) else {
                throw .crypto(.signingFailed("unexpected ECDSA signature encoding"))
            }
            return r.base64EncodedString()
        }

        /// SHA-256 of the exclusive C14N of the unsigned document: by the fast walk, or by libxml2
        /// when the walk declines. Debug builds check the walk against libxml2 every time.
        static func contentDigest(_ doc: XMLDocument) throws(SignatureError) -> Data {
            guard let canonical = FastCanonicalizer.canonicalize(doc.pointer) else {
                return try Canonicalizer.digest(doc.pointer, .all)
            }
            #if DEBUG
            let reference = try Canonicalizer.canonical(doc.pointer, .all)
            assert(Data(canonical) == reference, "fast C14N differs from libxml2:\n\(String(decoding: canonical, as: UTF8.self))\n\(String(decoding: reference, as: UTF8.self))")
            #endif
            return SHA256.hash(Data(canonical))
        }

        /// Parses `xml` (untrusted-input limits), signs it and returns the serialized signed document.
        public func sign(xml: Data, limits: XMLLimits = .default) throws(SignatureError) -> Data {
            let doc: XMLDocument
            do { doc = try XMLDocument.parse(xml, limits: limits) } catch { throw .xml(error) }
            try sign(doc)
            return doc.serialized()
        }

        /// Builds the unlinked `ds:Signature` subtree.
        private func build(_ doc: xmlDocPtr, digest: String, value: String) throws(SignatureError) -> (element: xmlNodePtr, signedInfo: xmlNodePtr) {
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
            _ = child(signedInfo, "SignatureMethod", algorithm: key.algorithm.xmlDSigURI)
            let reference = child(signedInfo, "Reference")
            xmlNewProp(reference, "URI", "")
            let transforms = child(reference, "Transforms")
            _ = child(transforms, "Transform", algorithm: envelopedSignature)
            _ = child(transforms, "Transform", algorithm: exclusiveC14N)
            _ = child(reference, "DigestMethod", algorithm: sha256)
            _ = child(reference, "DigestValue", text: digest)
            _ = child(sig, "SignatureValue", text: value)
            if let certificateBase64 {
                let keyInfo = child(sig, "KeyInfo")
                let x509 = child(keyInfo, "X509Data")
                _ = child(x509, "X509Certificate", text: certificateBase64)
            }
            return (sig, signedInfo)
        }
    }
}
