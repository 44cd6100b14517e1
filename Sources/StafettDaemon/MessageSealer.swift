import Foundation
import StafettCrypto
import StafettModel
import StafettSignature
import StafettXML

/// A case message ready to send: signed XML and the digest an accepted receipt must echo.
public struct SealedMessage: Sendable {
    /// The message as a model value.
    public var message: CaseMessage
    /// The signed XML document, serialized once.
    public var signedXML: Data
    /// Base64 SHA-256 of the signed content (the signature's `DigestValue`): what an accepted receipt quotes.
    public var digest: String
}

/// Why a message could not be sealed.
public enum SealError: Error, Sendable, CustomStringConvertible {
    /// The encoded XML is not valid against case-1.xsd: a bug or a model value the schema forbids.
    case schema(MessageID, XMLError)
    /// Signing failed.
    case signature(MessageID, SignatureError)

    public var description: String {
        switch self {
        case let .schema(id, error): return "message \(id): \(error)"
        case let .signature(id, error): return "message \(id): signing failed: \(error)"
        }
    }
}

/// Translate, validate and sign: the path every outgoing case message takes, in the daemon,
/// in `stafett translate --sign` and in the benchmark. Immutable and shareable across threads.
public struct MessageSealer: Sendable {
    /// The node's signing key.
    public var key: Key { signer.key }
    /// Its certificate, placed in KeyInfo for readers (never trusted by verifiers).
    public var certificate: Certificate? { signer.certificate }
    private let signer: XMLSignature.Signer

    /// Creates a sealer; refuses a certificate that does not certify the key.
    public init(key: Key, certificate: Certificate?) throws(SignatureError) {
        signer = try XMLSignature.Signer(key: key, certificate: certificate)
    }

    /// Encodes `message` as case XML, validates it against case-1.xsd, signs it and serializes it.
    ///
    /// No tree is built and nothing is parsed: the encoder writes the document's canonical form
    /// directly while libxml2's schema validator follows its elements and text, and the signer
    /// digests the bytes and splices the `ds:Signature` in as text.
    public func seal(_ message: CaseMessage) throws(SealError) -> SealedMessage {
        let id = message.header.messageId
        let encoded = try Self.encodeValidated(message)
        let signed: SignedDocument
        do { signed = try signer.sign(canonicalDocument: encoded.document, canonicalRange: encoded.canonicalRange) } catch {
            throw .signature(id, error)
        }
        return SealedMessage(message: message, signedXML: signed.xml, digest: signed.digest.base64EncodedString())
    }

    /// Seals several messages: all the XML work first, then all the signatures in one run, so
    /// OpenSSL's precomputed tables stay in cache (measurably faster than one by one). All or
    /// nothing: the first failure is thrown.
    public func seal(_ messages: [CaseMessage]) throws(SealError) -> [SealedMessage] {
        var encoded: [(document: Data, canonicalRange: Range<Int>)] = []
        encoded.reserveCapacity(messages.count)
        for m in messages { encoded.append(try Self.encodeValidated(m)) }
        let signed: [SignedDocument]
        do { signed = try signer.sign(canonicalDocuments: encoded) } catch {
            throw .signature(messages.first?.header.messageId ?? MessageID.random(), error)
        }
        return messages.indices.map {
            SealedMessage(message: messages[$0], signedXML: signed[$0].xml, digest: signed[$0].digest.base64EncodedString())
        }
    }

    /// Throws what `seal` would for `message` before signing: whether its encoding is valid
    /// against case-1.xsd. Intake checks a large export this way before any of it is queued.
    public func check(_ message: CaseMessage) throws(SealError) {
        _ = try Self.encodeValidated(message)
    }

    /// The canonical encoding of `m`, validated against case-1.xsd.
    private static func encodeValidated(_ m: CaseMessage) throws(SealError) -> (document: Data, canonicalRange: Range<Int>) {
        do { return try CaseXML.encodeCanonicalValidated(m) } catch { throw .schema(m.header.messageId, error) }
    }
}

/// Encode and sign: the path every receipt a receiver issues takes.
public enum ReceiptSealer {
    /// The signed XML of `receipt`.
    ///
    /// A receipt without free text (every accepted one) holds only message ids, times,
    /// organisation numbers, enumerations and a base64 digest: `ReceiptXML.encode` writes its root
    /// element exactly as exclusive C14N would, so it is signed as text (digest the root element,
    /// splice the signature in) without building, canonicalizing and serializing a tree, which
    /// cost the receiver about as much as the signature itself. A receipt with a detail text
    /// (rejections, whose text may need escaping) takes the tree path.
    public static func seal(_ receipt: Receipt, with signer: XMLSignature.Signer) throws -> Data {
        try seal(ReceiptXML.encode(receipt), root: "<Receipt ", asText: receipt.detail == nil, with: signer)
    }

    /// The signed XML of a batch receipt; as text when no entry carries a detail text (every
    /// entry accepted), for the reason `seal(_:with:)` gives.
    public static func seal(_ receipt: BatchReceipt, with signer: XMLSignature.Signer) throws -> Data {
        try seal(BatchReceiptXML.encode(receipt), root: "<BatchReceipt ", asText: receipt.entries.allSatisfy { $0.detail == nil },
                 with: signer)
    }

    private static func seal(_ encoded: Data, root open: String, asText: Bool, with signer: XMLSignature.Signer) throws -> Data {
        if asText, let root = canonicalRootRange(encoded, root: open) {
            return try signer.sign(canonicalDocument: encoded, canonicalRange: root).xml
        }
        let doc = try XMLDocument.parse(encoded)
        try signer.sign(doc)
        return doc.serialized()
    }

    /// The bytes of the root element in an encoded receipt (after the XML declaration, before the
    /// final line feed), or nil when the encoding does not look as expected.
    static func canonicalRootRange(_ encoded: Data, root: String = "<Receipt ") -> Range<Int>? {
        encoded.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Range<Int>? in
            let open = Array(root.utf8)
            guard let start = (0..<max(0, raw.count - open.count)).first(where: { i in
                raw[i] == open[0] && zip(open.indices, open).allSatisfy { raw[i + $0] == $1 }
            }) else { return nil }
            guard let last = raw.lastIndex(of: UInt8(ascii: ">")), last > start else { return nil }
            return start..<(last + 1)
        }
    }
}
