import Foundation
import StafettCrypto

/// A document signed by ``XMLSignature/Signer/sign(canonicalDocument:canonicalRange:)``.
public struct SignedDocument: Sendable {
    /// The signed document, serialized: the input with the `ds:Signature` spliced in.
    public var xml: Data
    /// SHA-256 of the signed content (the signature's `DigestValue`).
    public var digest: Data
}

extension XMLSignature.Signer {
    /// Signs a document whose bytes in `canonicalRange` already are the exclusive C14N of the
    /// whole document (as `CaseXML.encodeCanonical` writes them), without parsing it: the digest
    /// is the SHA-256 of those bytes, and the `ds:Signature` is written as text and spliced in as
    /// the last child of the root element, right before its end tag (after any whitespace already
    /// there), so the enveloped-signature transform gives back exactly the digested bytes.
    ///
    /// The caller vouches for the canonical form; a wrong range or a non-canonical document gives
    /// a signature that does not verify, never a wrong "valid" one. Refuses a range that does not
    /// end in an end tag, and a document that already holds a `Signature` element.
    public func sign(canonicalDocument document: Data, canonicalRange: Range<Int>) throws(SignatureError) -> SignedDocument {
        let digest = try Self.canonicalDigest(document, canonicalRange)
        let digestText = Base64Text.encode(digest)
        return try splice(document, canonicalRange, digest: digest, digestText: digestText,
                          value: signatureValueText(digestText))
    }

    /// Signs several canonical documents in phases (all digests, then all signatures, then the
    /// splicing) so OpenSSL's tables stay in cache through the signatures. All or nothing.
    public func sign(canonicalDocuments documents: [(document: Data, canonicalRange: Range<Int>)]) throws(SignatureError) -> [SignedDocument] {
        var digests: [Data] = []
        digests.reserveCapacity(documents.count)
        for d in documents { digests.append(try Self.canonicalDigest(d.document, d.canonicalRange)) }
        let digestTexts = digests.map(Base64Text.encode)
        var values: [[UInt8]] = []
        values.reserveCapacity(documents.count)
        for digestText in digestTexts { values.append(try signatureValueText(digestText)) }
        var signed: [SignedDocument] = []
        signed.reserveCapacity(documents.count)
        for (i, d) in documents.enumerated() {
            signed.append(try splice(d.document, d.canonicalRange, digest: digests[i], digestText: digestTexts[i], value: values[i]))
        }
        return signed
    }

    /// SHA-256 of the canonical bytes, after checking that they can take a signature.
    static func canonicalDigest(_ document: Data, _ range: Range<Int>) throws(SignatureError) -> Data {
        let checked: Result<Data, SignatureError> = document.withUnsafeBytes { raw in
            guard range.lowerBound >= 0, range.upperBound <= raw.count, range.count > 3 else {
                return .failure(.malformed("canonical range \(range) is outside the \(raw.count)-byte document"))
            }
            let bytes = UnsafeRawBufferPointer(rebasing: raw[range])
            guard bytes.last == 0x3E, rootEndTag(bytes) != nil else {
                return .failure(.malformed("the canonical bytes do not end with the root element's end tag"))
            }
            if holdsSignatureElement(bytes) { return .failure(.alreadySigned) }
            var hash = SHA256()
            hash.update(bytes)
            return .success(hash.finalize())
        }
        return try checked.get()
    }

    /// Offset of the `</` that starts the root element's end tag, in canonical bytes.
    private static func rootEndTag(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = bytes.count - 1
        while i > 0 && bytes[i] != 0x3C { i -= 1 }
        return i > 0 && bytes[i + 1] == 0x2F ? i : nil
    }

    /// Whether any start tag names a `Signature` element (any prefix). In canonical form `<`
    /// appears only as markup, so finding the name and looking back to its tag's `<` is exact.
    private static let signatureName = Array("Signature".utf8)

    private static func holdsSignatureElement(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let name = signatureName
        var from = 1
        while from < bytes.count, let hit = memchr(base + from, 0x53, bytes.count - from) {
            let at = hit - UnsafeMutableRawPointer(mutating: base)
            from = at + 1
            guard at + 9 <= bytes.count, name.indices.allSatisfy({ bytes[at + $0] == name[$0] }) else { continue }
            from = at + 9
            // Followed by the end of a name, preceded by `<` or by `<prefix:`.
            guard from < bytes.count, bytes[from] == 0x20 || bytes[from] == 0x3E || bytes[from] == 0x2F else { continue }
            if bytes[at - 1] == 0x3C { return true }
            guard bytes[at - 1] == 0x3A else { continue }
            var i = at - 2
            while i >= 0, bytes[i] != 0x3C, bytes[i] != 0x20, bytes[i] != 0x3E, bytes[i] != 0x2F, bytes[i] != 0x3A { i -= 1 }
            if i >= 0, bytes[i] == 0x3C { return true }
        }
        return false
    }

    /// The base64 `SignatureValue` over the canonical SignedInfo for `digestText` (base64), as bytes.
    private func signatureValueText(_ digestText: [UInt8]) throws(SignatureError) -> [UInt8] {
        var signedInfo = text.signedInfoHead
        signedInfo.append(contentsOf: digestText)
        signedInfo.append(contentsOf: text.signedInfoTail)
        let raw: Data
        do { raw = try key.sign(Data(signedInfo)) } catch { throw .crypto(error) }
        guard key.algorithm == .ecdsaP256SHA256 else { return Base64Text.encode(raw) }
        // XML-DSig wants r || s, 64 bytes, where OpenSSL gives DER.
        var rs = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var text: [UInt8] = []
        let converted = withUnsafeMutableBytes(of: &rs) { out -> Bool in
            guard raw.withUnsafeBytes({ ECDSAEncoding.raw(fromDER: $0, into: out) }) else { return false }
            Base64Text.append(UnsafeRawBufferPointer(out), to: &text)
            return true
        }
        guard converted else { throw .crypto(.signingFailed("unexpected ECDSA signature encoding")) }
        return text
    }

    /// The document with the `ds:Signature` text inserted before the root end tag.
    private func splice(_ document: Data, _ range: Range<Int>, digest: Data, digestText: [UInt8],
                        value: [UInt8]) throws(SignatureError) -> SignedDocument {
        let spliced: [UInt8]? = document.withUnsafeBytes { raw in
            guard let endTag = Self.rootEndTag(UnsafeRawBufferPointer(rebasing: raw[range])) else { return nil }
            let at = range.lowerBound + endTag
            var out: [UInt8] = []
            out.reserveCapacity(raw.count + text.signatureHead.count + digestText.count + text.signatureTail.count + 200)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<at]))
            out.append(contentsOf: text.signatureHead)
            out.append(contentsOf: digestText)
            out.append(contentsOf: text.signedInfoTail)
            out.append(contentsOf: SignatureText.valueOpen)
            out.append(contentsOf: value)
            out.append(contentsOf: text.signatureTail)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[at...]))
            return out
        }
        guard let spliced else { throw .malformed("the canonical bytes do not end with the root element's end tag") }
        return SignedDocument(xml: Data(spliced), digest: digest)
    }
}

/// The fixed parts of one signer's `ds:Signature`, as UTF-8 bytes prepared once.
struct SignatureText: Sendable {
    /// Canonical SignedInfo up to the digest value (what is signed).
    let signedInfoHead: [UInt8]
    /// Canonical SignedInfo after the digest value.
    let signedInfoTail: [UInt8]
    /// `<ds:Signature xmlns:ds="…"><ds:SignedInfo>` and SignedInfo up to the digest value: the
    /// namespace is declared once, on Signature (exclusive C14N of SignedInfo renders it either way).
    let signatureHead: [UInt8]
    /// `</ds:SignatureValue>`, the KeyInfo if any, `</ds:Signature>`.
    let signatureTail: [UInt8]
    static let valueOpen = Array("<ds:SignatureValue>".utf8)

    init(signedInfoHead head: String, signedInfoTail tail: String, certificateBase64: String?) {
        signedInfoHead = Array(head.utf8)
        signedInfoTail = Array(tail.utf8)
        let ownDeclaration = "<ds:SignedInfo xmlns:ds=\"\(XMLSignature.namespace)\">"
        precondition(head.hasPrefix(ownDeclaration))
        signatureHead = Array("<ds:Signature xmlns:ds=\"\(XMLSignature.namespace)\"><ds:SignedInfo>".utf8)
            + Array(head.utf8.dropFirst(ownDeclaration.utf8.count))
        var end = "</ds:SignatureValue>"
        if let certificateBase64 {
            end += "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>" + certificateBase64
                + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        }
        signatureTail = Array((end + "</ds:Signature>").utf8)
    }
}
