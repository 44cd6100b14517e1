import Foundation
import StafettXML

extension XMLSignature {
    /// The `DigestValue` of a document's signature: SHA-256 of the exclusive canonical form of the
    /// document without its `ds:Signature`, i.e. of the signed content. What a receipt quotes, as AS4
    /// receipts quote the message's reference digests. Read it only after ``verify(_:trustingAnyOf:)``
    /// has passed, which proves it matches the content; this function itself checks only the profile.
    public static func signedDigestValue(_ doc: XMLDocument) throws(SignatureError) -> Data {
        try parseProfile(doc).digestValue
    }
}
