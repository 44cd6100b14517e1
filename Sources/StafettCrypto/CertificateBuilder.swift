import COpenSSL
import CShims
import Foundation

/// Assembles one X.509 v3 certificate. Owns the `X509` until ``sign(with:)`` hands it to a
/// ``Certificate``. Confined to the function that builds it.
final class CertificateBuilder {
    private var x509: OpaquePointer?
    /// The issuer certificate for extension contexts (AKI), or nil for self-signed.
    private var issuer: Certificate?

    /// Starts a certificate with a random 128-bit serial, `subject` (NID, UTF-8 value) pairs in order,
    /// the public key and the validity window.
    init(subject: [(Int32, String)], publicKey: Key, notBefore: Date, notAfter: Date) throws(CryptoError) {
        guard notAfter > notBefore else { throw .issuance("notAfter \(notAfter) is not after notBefore \(notBefore)") }
        guard let x = X509_new() else { throw .openssl(CryptoError.lastOpenSSLError()) }
        x509 = x
        guard X509_set_version(x, 2) == 1 else { throw .openssl(CryptoError.lastOpenSSLError()) }

        // RFC 5280: positive, at most 20 octets; 16 random bytes with the top bit cleared.
        var serial = [UInt8](secureRandomBytes(16))
        serial[0] &= 0x7F
        serial[0] |= 0x01  // never a leading zero octet, so the encoding length is stable
        guard let bn = BN_bin2bn(serial, Int32(serial.count), nil) else { throw .openssl(CryptoError.lastOpenSSLError()) }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil else { throw .openssl(CryptoError.lastOpenSSLError()) }

        for (date, setter) in [(notBefore, X509_set1_notBefore), (notAfter, X509_set1_notAfter)] as [(Date, (OpaquePointer?, UnsafePointer<ASN1_TIME>?) -> Int32)] {
            guard let t = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970.rounded(.down))) else {
                throw .issuance("date out of range: \(date)")
            }
            defer { ASN1_TIME_free(t) }
            guard setter(x, t) == 1 else { throw .openssl(CryptoError.lastOpenSSLError()) }
        }

        guard let name = X509_NAME_new() else { throw .openssl(CryptoError.lastOpenSSLError()) }
        defer { X509_NAME_free(name) }
        for (nid, value) in subject {
            guard !value.isEmpty else { throw .issuance("empty subject attribute \(String(cString: OBJ_nid2sn(nid)))") }
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1 else {
                throw .issuance("subject \(String(cString: OBJ_nid2sn(nid)))=\(value): \(CryptoError.lastOpenSSLError())")
            }
        }
        guard X509_set_subject_name(x, name) == 1, X509_set_pubkey(x, publicKey.pointer) == 1 else {
            throw .openssl(CryptoError.lastOpenSSLError())
        }
    }

    deinit { if let x509 { X509_free(x509) } }

    /// Sets the issuer name from `issuer`, or from the subject itself when nil (self-signed).
    func setIssuer(_ issuer: Certificate?) throws(CryptoError) {
        guard let x = x509 else { throw .issuance("certificate already signed") }
        self.issuer = issuer
        let name = issuer.map { X509_get_subject_name($0.pointer) } ?? X509_get_subject_name(x)
        guard X509_set_issuer_name(x, name) == 1 else { throw .openssl(CryptoError.lastOpenSSLError()) }
    }

    /// Adds an extension written in OpenSSL's config syntax (`"critical,CA:FALSE"`).
    func addExtension(_ nid: Int32, _ value: String) throws(CryptoError) {
        guard let x = x509 else { throw .issuance("certificate already signed") }
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer?.pointer ?? x, x, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else {
            throw .issuance("extension \(String(cString: OBJ_nid2sn(nid)))=\(value): \(CryptoError.lastOpenSSLError())")
        }
        defer { X509_EXTENSION_free(ext) }
        guard X509_add_ext(x, ext, -1) == 1 else { throw .openssl(CryptoError.lastOpenSSLError()) }
    }

    /// Signs with SHA-256 and hands the certificate over.
    func sign(with key: Key) throws(CryptoError) -> Certificate {
        guard let x = x509 else { throw .issuance("certificate already signed") }
        guard X509_sign(x, key.pointer, EVP_sha256()) > 0 else { throw .signingFailed(CryptoError.lastOpenSSLError()) }
        // Hand out a certificate parsed from its DER: the one in memory still references the subject's
        // EVP_PKEY, private part included, which a Certificate must never carry.
        var out: UnsafeMutablePointer<UInt8>? = nil
        let n = i2d_X509(x, &out)
        guard n > 0, let out else { throw .openssl(CryptoError.lastOpenSSLError()) }
        defer { stafett_openssl_free(out) }
        return try Certificate.fromDER(Data(bytes: out, count: Int(n)))
    }
}
