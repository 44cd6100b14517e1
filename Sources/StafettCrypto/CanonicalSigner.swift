import Foundation

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
        return try splice(document, canonicalRange, digest: digest, value: signatureValue(digest.base64EncodedString()))
    }

    /// Signs several canonical documents in phases (all digests, then all signatures, then the
    /// splicing) so OpenSSL's tables stay in cache through the signatures. All or nothing.
    public func sign(canonicalDocuments documents: [(document: Data, canonicalRange: Range<Int>)]) throws(SignatureError) -> [SignedDocument] {
        var digests: [Data] = []
        digests.reserveCapacity(documents.count)
        for d in documents { digests.append(try Self.canonicalDigest(d.document, d.canonicalRange)) }
        var values: [String] = []
        values.reserveCapacity(documents.count)
        for digest in digests { values.append(try signatureValue(digest.base64EncodedString())) }
        var signed: [SignedDocument] = []
        signed.reserveCapacity(documents.count)
        for (i, d) in documents.enumerated() {
            signed.append(try splice(d.document, d.canonicalRange, digest: digests[i], value: values[i]))
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
    /// appears only as markup, so scanning tags is exact.
    private static func holdsSignatureElement(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let name = Array("Signature".utf8)
        let n = bytes.count
        var i = 0
        while i < n {
            if bytes[i] == 0x3C && i + 1 < n && bytes[i + 1] != 0x2F {
                var j = i + 1, local = j
                while j < n && bytes[j] != 0x20 && bytes[j] != 0x3E && bytes[j] != 0x2F {
                    if bytes[j] == 0x3A { local = j + 1 }
                    j += 1
                }
                if j - local == name.count && name.indices.allSatisfy({ bytes[local + $0] == name[$0] }) { return true }
                i = j
            } else {
                i += 1
            }
        }
        return false
    }

    private static let signatureOpen = Array("<ds:Signature xmlns:ds=\"\(XMLSignature.namespace)\"><ds:SignedInfo>".utf8)
    /// What `signedInfoHead` starts with: SignedInfo's own namespace declaration, which the
    /// enclosing `ds:Signature` carries instead (exclusive C14N of SignedInfo renders it either way).
    private static let signedInfoOpenCount = "<ds:SignedInfo xmlns:ds=\"\(XMLSignature.namespace)\">".utf8.count

    /// The document with the `ds:Signature` text inserted before the root end tag.
    private func splice(_ document: Data, _ range: Range<Int>, digest: Data, value: String) throws(SignatureError) -> SignedDocument {
        let spliced: [UInt8]? = document.withUnsafeBytes { raw in
            guard let endTag = Self.rootEndTag(UnsafeRawBufferPointer(rebasing: raw[range])) else { return nil }
            let at = range.lowerBound + endTag
            var out: [UInt8] = []
            out.reserveCapacity(raw.count + 1100 + (certificateBase64?.utf8.count ?? 0))
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<at]))
            out.append(contentsOf: Self.signatureOpen)
            out.append(contentsOf: signedInfoHead.utf8.dropFirst(Self.signedInfoOpenCount))
            out.append(contentsOf: digest.base64EncodedString().utf8)
            out.append(contentsOf: Self.signedInfoTail.utf8)
            out.append(contentsOf: "<ds:SignatureValue>".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "</ds:SignatureValue>".utf8)
            if let certificateBase64 {
                out.append(contentsOf: "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>".utf8)
                out.append(contentsOf: certificateBase64.utf8)
                out.append(contentsOf: "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>".utf8)
            }
            out.append(contentsOf: "</ds:Signature>".utf8)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[at...]))
            return out
        }
        guard let spliced else { throw .malformed("the canonical bytes do not end with the root element's end tag") }
        return SignedDocument(xml: Data(spliced), digest: digest)
    }
}
