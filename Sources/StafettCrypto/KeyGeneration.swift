import COpenSSL
import CShims
import Foundation

/// What kind of key to generate: the two algorithms of Stafett's signing profile.
public enum KeySpecification: Sendable, Hashable {
    /// An ECDSA key on P-256 (prime256v1), signing with SHA-256. The default: fast and small.
    case ecdsaP256SHA256
    /// An RSA key of `bits` bits (at least 2048), signing with PKCS#1 v1.5 and SHA-256.
    case rsaSHA256(bits: Int = 2048)
}

extension Key {
    /// Generates a fresh private key.
    ///
    /// Uses `EVP_PKEY_CTX_new_id` and the keygen calls, since `EVP_EC_gen`/`EVP_PKEY_Q_keygen`
    /// are variadic and Swift cannot call them.
    public static func generate(_ spec: KeySpecification = .ecdsaP256SHA256) throws(CryptoError) -> Key {
        let id: Int32
        switch spec {
        case .ecdsaP256SHA256: id = EVP_PKEY_EC
        case let .rsaSHA256(bits):
            guard bits >= 2048, bits <= 16384 else { throw .unsupportedKey("RSA keys must have 2048 to 16384 bits, not \(bits)") }
            id = EVP_PKEY_RSA
        }
        guard let ctx = EVP_PKEY_CTX_new_id(id, nil) else { throw .openssl(CryptoError.lastOpenSSLError()) }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw .openssl(CryptoError.lastOpenSSLError()) }
        switch spec {
        case .ecdsaP256SHA256:
            guard EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1 else {
                throw .openssl(CryptoError.lastOpenSSLError())
            }
        case let .rsaSHA256(bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else {
                throw .openssl(CryptoError.lastOpenSSLError())
            }
        }
        var pkey: OpaquePointer? = nil
        guard EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else { throw .openssl(CryptoError.lastOpenSSLError()) }
        return try Key(taking: pkey)
    }

    /// Loads a public key from PEM text (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo).
    public static func publicKey(pem: Data, source: String = "<memory>") throws(CryptoError) -> Key {
        let bio = try MemoryBIO(pem)
        guard let pkey = PEM_read_bio_PUBKEY(bio.pointer, nil, nil, nil) else {
            throw .unreadableKey(path: source, reason: CryptoError.lastOpenSSLError())
        }
        return try Key(taking: pkey)
    }

    /// The private key as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`). Empty for a public-only key.
    ///
    /// Write it only with ``PEMFile/write(_:to:mode:)`` (mode 0600): it is the node's identity.
    public var privateKeyPEM: String {
        Key.pem { bio in PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) }
    }

    /// The public key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    public var publicKeyPEM: String {
        Key.pem { bio in PEM_write_bio_PUBKEY(bio, pointer) }
    }

    /// Writes the private key as PKCS#8 PEM, atomically, mode 0600.
    public func writePrivateKey(to path: String) throws(CryptoError) {
        guard hasPrivateKey else { throw .fileWrite(path: path, reason: "the key has no private part") }
        try PEMFile.write(privateKeyPEM, to: path, mode: 0o600)
    }

    /// Whether `other` holds the same public key (equal SubjectPublicKeyInfo).
    public func hasSamePublicKey(as other: Key) -> Bool {
        if !publicKeyDER.isEmpty && !other.publicKeyDER.isEmpty { return publicKeyDER == other.publicKeyDER }
        let r = EVP_PKEY_eq(pointer, other.pointer)
        ERR_clear_error()
        return r == 1
    }

    /// Runs a PEM writer against a memory BIO and returns what it wrote.
    static func pem(_ write: (OpaquePointer) -> Int32) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { ERR_clear_error(); return "" }
        var p: UnsafeMutablePointer<CChar>? = nil
        let n = stafett_bio_get_mem_data(bio, &p)
        guard n > 0, let p else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }
}

/// Writes key and certificate files the way a daemon must: atomically and with tight modes.
public enum PEMFile {
    /// Writes `text` to `path` via a temporary file in the same directory: write, fsync, chmod,
    /// rename, then fsync the directory, so a crash leaves either the old file or the new one.
    /// Private keys must use mode 0600 (the default).
    public static func write(_ text: String, to path: String, mode: mode_t = 0o600) throws(CryptoError) {
        let dir = (path as NSString).deletingLastPathComponent
        // A fresh name per write (threads of one process may write the same file), never an existing one.
        let tmp = (dir.isEmpty ? "." : dir) + "/." + (path as NSString).lastPathComponent
            + ".tmp-\(getpid())-" + secureRandomBytes(6).hexString
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .fileWrite(path: tmp, reason: String(cString: strerror(errno))) }
        var failure: String? = nil
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 { if errno == EINTR { continue }; failure = String(cString: strerror(errno)); break }
            offset += n
        }
        // The umask may have narrowed or (never for 0600) widened the mode: set it exactly.
        if failure == nil, fchmod(fd, mode) != 0 { failure = String(cString: strerror(errno)) }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if let failure {
            unlink(tmp)
            throw .fileWrite(path: path, reason: failure)
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw .fileWrite(path: path, reason: reason)
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
