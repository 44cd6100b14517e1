import StafettCrypto
import StafettXML

/// Why an XML signature was not made or not accepted. Each case names what an operator (or the
/// peer, through a rejected receipt) needs to see which rule of the profile was broken.
public enum SignatureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The document has no `ds:Signature` element.
    case missingSignature
    /// The document has more than one `ds:Signature` element (anywhere in the tree).
    case multipleSignatures(count: Int)
    /// The `ds:Signature` is not the last element child of the root element.
    case notLastChild(parent: String)
    /// `sign` was asked to sign a document that already carries a signature.
    case alreadySigned
    /// The reference does not point at the whole document (`URI=""`); the value found, or `(absent)`.
    case referenceURI(String)
    /// `SignedInfo` holds a number of `Reference` elements other than one.
    case referenceCount(Int)
    /// The transforms are not exactly enveloped-signature followed by exclusive C14N.
    case transforms([String])
    /// An algorithm URI outside the profile (canonicalization, signature or digest method),
    /// or one that does not match the trusted key.
    case algorithm(String)
    /// The digest of the signed content does not match `DigestValue`: the content was changed.
    case digestMismatch
    /// `SignatureValue` does not verify with the trusted key.
    case badSignatureValue
    /// `KeyInfo` carries a certificate or key that is not the one trusted for this sender.
    case untrustedKeyInfo(String)
    /// The `ds:Signature` element breaks the profile's structure (unexpected element, attribute, text).
    case malformed(String)
    /// Parsing, canonicalizing or serializing the document failed.
    case xml(XMLError)
    /// The key could not sign.
    case crypto(CryptoError)
    /// The signature verifies, but with a trusted certificate that is not valid now (expired or
    /// not yet valid): which one, and its validity.
    case certificateNotValid(String)

    /// A one-line explanation for logs and operators.
    public var description: String {
        switch self {
        case .missingSignature: return "document is not signed: no ds:Signature element"
        case let .multipleSignatures(count): return "document has \(count) ds:Signature elements; exactly one is accepted"
        case let .notLastChild(parent):
            return "ds:Signature must be the last child of the root element, found it inside <\(parent)> or before other elements"
        case .alreadySigned: return "document already carries a ds:Signature"
        case let .referenceURI(uri): return "Reference URI must be \"\" (the whole document), found \(uri)"
        case let .referenceCount(n): return "SignedInfo must hold exactly one Reference, found \(n)"
        case let .transforms(list):
            return "transforms must be exactly [enveloped-signature, exc-c14n], found [" + list.joined(separator: ", ") + "]"
        case let .algorithm(uri): return "algorithm not accepted: \(uri)"
        case .digestMismatch: return "digest mismatch: the signed content was changed"
        case .badSignatureValue: return "SignatureValue does not verify with the trusted key"
        case let .untrustedKeyInfo(why): return "KeyInfo does not match the trusted key: \(why)"
        case let .malformed(why): return "malformed ds:Signature: \(why)"
        case let .xml(error): return "XML: \(error)"
        case let .crypto(error): return error.description
        case let .certificateNotValid(why): return "the signing certificate is not valid now: \(why)"
        }
    }
}
