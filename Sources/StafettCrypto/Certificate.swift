import COpenSSL
import CShims
import Foundation
import StafettModel

/// An owned X.509 certificate. Immutable once loaded, so safe to share.
///
/// Stafett reads an organisation's identity from the subject: the eIDAS
/// `organizationIdentifier` (2.5.4.97) in the form `NTRSE-NNNNNNNNNN` (ETSI EN 319 412-1,
/// as Swedish organisation certificates carry it) or, failing that, a `serialNumber`
/// (2.5.4.5) of ten digits.
public final class Certificate: @unchecked Sendable {
    /// The OpenSSL `X509`. Owned. Package-wide for the TLS context, which hands it to OpenSSL.
    package let pointer: OpaquePointer

    /// The DER encoding. Computed once: signature verification compares it with `KeyInfo` per message.
    public let der: Data
    /// Base64 of the DER, as `X509Certificate` in a signature's KeyInfo carries it.
    package let derBase64: String
    /// The certified key, extracted once (or why it could not be).
    private let certifiedKey: Result<Key, CryptoError>

    /// Takes ownership of an `X509` pointer (the trust evaluator's copy of a peer's leaf).
    package init(taking pointer: OpaquePointer) {
        self.pointer = pointer
        der = Certificate.encode(pointer)
        derBase64 = der.base64EncodedString()
        if let k = X509_get_pubkey(pointer) {
            do { certifiedKey = .success(try Key(taking: k)) } catch { certifiedKey = .failure(error) }
        } else {
            certifiedKey = .failure(.openssl(CryptoError.lastOpenSSLError()))
        }
    }
    deinit { X509_free(pointer) }

    /// Parses every certificate in PEM text (a bundle may hold several).
    public static func all(pem: Data, source: String = "<memory>") throws(CryptoError) -> [Certificate] {
        try MemoryBIO.pemObjects(pem, source: source, what: "PEM certificate") { bio in
            PEM_read_bio_X509(bio, nil, nil, nil).map(Certificate.init(taking:))
        }
    }

    /// Parses the first certificate in PEM text.
    public static func first(pem: Data, source: String = "<memory>") throws(CryptoError) -> Certificate {
        try all(pem: pem, source: source)[0]
    }

    /// Loads a PEM file and returns its first certificate.
    public static func load(path: String) throws(CryptoError) -> Certificate {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableCertificate(path: path, reason: "no such file or not readable")
        }
        return try first(pem: data, source: path)
    }

    /// Parses one DER-encoded certificate.
    public static func fromDER(_ der: Data) throws(CryptoError) -> Certificate {
        let cert: OpaquePointer? = der.withUnsafeBytes { raw in
            var p: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return d2i_X509(nil, &p, raw.count)
        }
        guard let cert else { throw .unreadableCertificate(path: "<der>", reason: CryptoError.lastOpenSSLError()) }
        return Certificate(taking: cert)
    }

    private static func encode(_ pointer: OpaquePointer) -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let n = i2d_X509(pointer, &out)
        guard n > 0, let out else { return Data() }
        defer { stafett_openssl_free(out) }
        return Data(bytes: out, count: Int(n))
    }

    /// PEM text.
    public var pem: String {
        "-----BEGIN CERTIFICATE-----\n"
            + der.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END CERTIFICATE-----\n"
    }

    /// SHA-256 of the DER encoding, lowercase hex: what a pinned peer is configured with.
    public var sha256Fingerprint: String { SHA256.hex(der) }

    /// The certified public key.
    public func publicKey() throws(CryptoError) -> Key {
        try certifiedKey.get()
    }

    /// The value of the first subject attribute with this NID, or nil.
    public func subjectAttribute(nid: Int32) -> String? {
        guard let name = X509_get_subject_name(pointer) else { return nil }
        let idx = X509_NAME_get_index_by_NID(name, nid, -1)
        guard idx >= 0, let entry = X509_NAME_get_entry(name, idx),
              let asn1 = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var out: UnsafeMutablePointer<UInt8>? = nil
        let n = ASN1_STRING_to_UTF8(&out, asn1)
        guard n >= 0, let out else { return nil }
        defer { stafett_openssl_free(out) }
        return String(decoding: UnsafeBufferPointer(start: out, count: Int(n)), as: UTF8.self)
    }

    /// Subject organisation (O).
    public var organisationName: String? { subjectAttribute(nid: NID_organizationName) }
    /// Subject common name (CN).
    public var commonName: String? { subjectAttribute(nid: NID_commonName) }

    /// The organisationsnummer this certificate speaks for, or nil when the subject carries none.
    public var organisationNumber: OrganisationNumber? {
        if let oi = subjectAttribute(nid: NID_organizationIdentifier), oi.hasPrefix("NTRSE-"),
           let n = try? OrganisationNumber(String(oi.dropFirst(6))) { return n }
        if let sn = subjectAttribute(nid: NID_serialNumber), let n = try? OrganisationNumber(sn) { return n }
        return nil
    }

    /// The one-line subject, for logs (`CN=..., O=...`).
    public var subjectLine: String { Certificate.line(X509_get_subject_name(pointer)) }

    /// An X.509 name in RFC 2253 form.
    static func line(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "?" }
        defer { BIO_free(bio) }
        X509_NAME_print_ex(bio, name, 0, stafett_xn_flag_rfc2253())
        var p: UnsafeMutablePointer<CChar>? = nil
        let n = stafett_bio_get_mem_data(bio, &p)
        guard n > 0, let p else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }

    /// Start of validity.
    public var notBefore: Date { Certificate.date(X509_get0_notBefore(pointer)) }
    /// End of validity.
    public var notAfter: Date { Certificate.date(X509_get0_notAfter(pointer)) }

    static func date(_ t: UnsafePointer<ASN1_TIME>?) -> Date {
        var tm = tm()
        guard let t, ASN1_TIME_to_tm(t, &tm) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
    }
}
