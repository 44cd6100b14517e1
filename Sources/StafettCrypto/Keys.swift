import COpenSSL
import CShims
import Foundation

/// Why a cryptographic operation failed; carries OpenSSL's own reason where there is one.
public enum CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A PEM file could not be read or parsed.
    case unreadableKey(path: String, reason: String)
    /// A certificate could not be read or parsed.
    case unreadableCertificate(path: String, reason: String)
    /// The key type is outside the profile (only RSA ≥ 2048 and ECDSA P-256 are used).
    case unsupportedKey(String)
    /// Signing failed inside OpenSSL.
    case signingFailed(String)
    /// Any other OpenSSL failure.
    case openssl(String)
    /// A key or certificate file could not be written.
    case fileWrite(path: String, reason: String)
    /// A certificate could not be issued (bad subject, host name or validity).
    case issuance(String)

    /// A one-line explanation for logs and operators.
    public var description: String {
        switch self {
        case let .unreadableKey(path, reason): return "cannot read private key \(path): \(reason)"
        case let .unreadableCertificate(path, reason): return "cannot read certificate \(path): \(reason)"
        case let .unsupportedKey(what): return "unsupported key: \(what)"
        case let .signingFailed(why): return "signing failed: \(why)"
        case let .openssl(why): return "OpenSSL: \(why)"
        case let .fileWrite(path, reason): return "cannot write \(path): \(reason)"
        case let .issuance(why): return "cannot issue certificate: \(why)"
        }
    }

    /// The oldest queued OpenSSL error as text, and clears the queue.
    static func lastOpenSSLError() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown error" }
        ERR_error_string_n(code, &buf, buf.count)
        return String(nulTerminated: buf)
    }
}

/// The signature algorithms of Stafett's profile.
public enum SignatureAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// RSA PKCS#1 v1.5 with SHA-256.
    case rsaSHA256
    /// ECDSA on P-256 with SHA-256.
    case ecdsaP256SHA256

    /// The XML-DSig algorithm URI.
    public var xmlDSigURI: String {
        switch self {
        case .rsaSHA256: return "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        case .ecdsaP256SHA256: return "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
        }
    }
}

/// An owned OpenSSL `EVP_PKEY`, public or private. Safe to share once built: OpenSSL keys are
/// read-only after loading and each operation makes its own `EVP_MD_CTX`.
public final class Key: @unchecked Sendable {
    /// The OpenSSL key. Owned. Package-wide for the TLS context, which hands it to OpenSSL.
    package let pointer: OpaquePointer
    /// Which algorithm of the profile this key signs with.
    public let algorithm: SignatureAlgorithm
    /// Whether this key holds a private part (so it can sign). Found once, at load: signing paths
    /// ask per message.
    public let hasPrivateKey: Bool
    /// The public key as DER SubjectPublicKeyInfo; equal for equal public keys.
    public let publicKeyDER: Data

    /// Takes ownership of `pointer`; refuses keys outside the profile.
    init(taking pointer: OpaquePointer) throws(CryptoError) {
        self.pointer = pointer
        switch EVP_PKEY_get_base_id(pointer) {
        case EVP_PKEY_RSA:
            guard EVP_PKEY_get_bits(pointer) >= 2048 else {
                EVP_PKEY_free(pointer)
                throw .unsupportedKey("RSA keys must have at least 2048 bits")
            }
            algorithm = .rsaSHA256
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var len = 0
            EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, &len)
            let group = String(nulTerminated: name)
            guard group == "prime256v1" || group == "P-256" else {
                EVP_PKEY_free(pointer)
                throw .unsupportedKey("EC keys must be on P-256 (prime256v1), not \(group)")
            }
            algorithm = .ecdsaP256SHA256
        default:
            EVP_PKEY_free(pointer)
            throw .unsupportedKey("only RSA and ECDSA P-256 keys are accepted")
        }
        hasPrivateKey = Key.holdsPrivatePart(pointer, algorithm)
        publicKeyDER = Key.subjectPublicKeyInfo(pointer)
    }

    /// A public-only EVP_PKEY has no private component to export.
    private static func holdsPrivatePart(_ pointer: OpaquePointer, _ algorithm: SignatureAlgorithm) -> Bool {
        var bn: OpaquePointer? = nil
        let name = algorithm == .rsaSHA256 ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY
        let ok = EVP_PKEY_get_bn_param(pointer, name, &bn) == 1
        if let bn { BN_clear_free(bn) }
        ERR_clear_error()
        return ok
    }

    private static func subjectPublicKeyInfo(_ pointer: OpaquePointer) -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let n = i2d_PUBKEY(pointer, &out)
        guard n > 0, let out else { ERR_clear_error(); return Data() }
        defer { stafett_openssl_free(out) }
        return Data(bytes: out, count: Int(n))
    }

    deinit { EVP_PKEY_free(pointer) }

    /// Loads a private key from PEM text (unencrypted PKCS#8 or traditional).
    public static func privateKey(pem: Data, source: String = "<memory>") throws(CryptoError) -> Key {
        let bio = try MemoryBIO(pem)
        guard let pkey = PEM_read_bio_PrivateKey(bio.pointer, nil, nil, nil) else {
            throw .unreadableKey(path: source, reason: CryptoError.lastOpenSSLError())
        }
        return try Key(taking: pkey)
    }

    /// Loads a private key from a PEM file.
    public static func privateKey(path: String) throws(CryptoError) -> Key {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableKey(path: path, reason: "no such file or not readable")
        }
        return try privateKey(pem: data, source: path)
    }

    /// Contexts initialized once per key and reused (see ``PKeyContextPool``).
    private let signContexts = PKeyContextPool(.sign)
    private let verifyContexts = PKeyContextPool(.verify)

    /// Signs `data` (hashing it with SHA-256). ECDSA signatures come back DER-encoded.
    public func sign(_ data: Data) throws(CryptoError) -> Data {
        let digest = SHA256.hash(data)
        var length = Int(EVP_PKEY_get_size(pointer))  // the largest signature this key makes
        var sig = [UInt8](repeating: 0, count: length)
        let ok = signContexts.with(pointer) { ctx in
            digest.withUnsafeBytes { d in
                EVP_PKEY_sign(ctx, &sig, &length, d.bindMemory(to: UInt8.self).baseAddress, d.count) == 1
            }
        }
        guard ok == true else { throw .signingFailed(CryptoError.lastOpenSSLError()) }
        return Data(sig.prefix(length))
    }

    /// Verifies a signature over `data` (SHA-256). ECDSA signatures are DER-encoded.
    public func verify(signature: Data, over data: Data) -> Bool {
        let digest = SHA256.hash(data)
        let result = verifyContexts.with(pointer) { ctx in
            signature.withUnsafeBytes { s in
                digest.withUnsafeBytes { d in
                    EVP_PKEY_verify(ctx, s.bindMemory(to: UInt8.self).baseAddress, s.count,
                                    d.bindMemory(to: UInt8.self).baseAddress, d.count)
                }
            }
        }
        ERR_clear_error()
        return result == 1
    }
}

/// An owned read-only memory BIO over a copy of some bytes.
final class MemoryBIO {
    let pointer: OpaquePointer
    private let storage: UnsafeMutableRawBufferPointer

    init(_ data: Data) throws(CryptoError) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 1)
        _ = data.copyBytes(to: storage.bindMemory(to: UInt8.self))
        guard let bio = BIO_new_mem_buf(storage.baseAddress, Int32(data.count)) else {
            storage.deallocate()
            throw .openssl("BIO_new_mem_buf failed")
        }
        pointer = bio
    }

    deinit {
        BIO_free(pointer)
        storage.deallocate()
    }

    /// Every object `read` takes from the PEM text `pem`, in order; refuses text that holds none
    /// (naming `source` and what was looked for).
    static func pemObjects<T>(_ pem: Data, source: String, what: String,
                              _ read: (OpaquePointer) -> T?) throws(CryptoError) -> [T] {
        let bio = try MemoryBIO(pem)
        var result: [T] = []
        while let object = read(bio.pointer) { result.append(object) }
        ERR_clear_error()  // the loop ends on a "no start line" error
        guard !result.isEmpty else { throw .unreadableCertificate(path: source, reason: "no \(what) found") }
        return result
    }
}

extension String {
    /// Decodes a NUL-terminated C buffer as UTF-8.
    init(nulTerminated buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
