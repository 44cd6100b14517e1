import COpenSSL
import Foundation

/// An owned X.509 certificate revocation list (CRL), as a CA publishes it. Immutable once
/// loaded, so safe to share.
///
/// Stafett reads CRLs from a PEM file the operator keeps current (fetched by cron from the CA's
/// distribution point, say): the daemon never goes to the network for them. A CRL is checked
/// with its issuer's key when a chain is verified, not when it is loaded.
public final class RevocationList: @unchecked Sendable {
    /// The OpenSSL `X509_CRL`. Owned. Package-wide for the trust evaluator's certificate store.
    package let pointer: OpaquePointer

    /// Takes ownership of an `X509_CRL` pointer.
    init(taking pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_CRL_free(pointer) }

    /// Parses every CRL in PEM text; refuses text that holds none.
    public static func all(pem: Data, source: String = "<memory>") throws(CryptoError) -> [RevocationList] {
        try MemoryBIO.pemObjects(pem, source: source, what: "PEM certificate revocation list (X509 CRL)") { bio in
            PEM_read_bio_X509_CRL(bio, nil, nil, nil).map(RevocationList.init(taking:))
        }
    }

    /// Loads every CRL in a PEM file.
    public static func load(path: String) throws(CryptoError) -> [RevocationList] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableCertificate(path: path, reason: "no such file or not readable")
        }
        return try all(pem: data, source: path)
    }

    /// Whether this list is issued by the subject of `certificate` (by name, as X.509 matches them).
    public func isIssued(by certificate: Certificate) -> Bool {
        guard let issuer = X509_CRL_get_issuer(pointer), let subject = X509_get_subject_name(certificate.pointer) else {
            return false
        }
        return X509_NAME_cmp(issuer, subject) == 0
    }

    /// The issuing CA's name (RFC 2253).
    public var issuerLine: String { Certificate.line(X509_CRL_get_issuer(pointer)) }

    /// When the CA promises the next list; nil when the list does not say. Past it, OpenSSL
    /// refuses the list as expired, and with it every certificate of that CA.
    public var nextUpdate: Date? {
        guard let t = X509_CRL_get0_nextUpdate(pointer) else { return nil }
        return Certificate.date(t)
    }

    /// Number of certificates it revokes.
    public var revokedCount: Int {
        guard let stack = X509_CRL_get_REVOKED(pointer) else { return 0 }
        return Int(OPENSSL_sk_num(stack))
    }
}
