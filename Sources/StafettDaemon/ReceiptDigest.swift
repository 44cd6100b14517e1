import StafettCrypto
import StafettSignature
import StafettXML

/// The digest that binds a receipt to the message it answers: base64 of the SHA-256 `DigestValue`
/// in the message's signature, over its exclusive-canonical signed content. The sealer gets it
/// from the signature it makes (`SealedMessage.digest`); a receiver, and a queue reading back its
/// own messages, read it from a document whose signature has verified.
public enum ReceiptDigest {
    /// The digest of `doc`, a signed case message whose signature has verified.
    public static func of(verified doc: XMLDocument) throws(SignatureError) -> String {
        try XMLSignature.signedDigestValue(doc).base64EncodedString()
    }

    /// The digest of a message as its verification found it: the same value, without reading the
    /// signature's profile a second time (which cost a receiver about a twentieth of its CPU).
    public static func of(_ verification: XMLSignature.Verification) -> String {
        verification.digestValue.base64EncodedString()
    }
}
