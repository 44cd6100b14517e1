import COpenSSL
import Foundation

/// SHA-256, one-shot or incremental. Incremental instances are confined to one thread.
public struct SHA256: ~Copyable {
    private let ctx: OpaquePointer

    /// Starts a new digest.
    public init() {
        ctx = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(ctx, FetchedDigest.sha256.md, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    /// Adds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count)
    }

    /// Adds bytes.
    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// Ends the digest and returns its 32 bytes.
    public consuming func finalize() -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        return Data(out)
    }

    /// The SHA-256 of `data`.
    public static func hash(_ data: Data) -> Data {
        data.withUnsafeBytes { hash($0) }
    }

    /// The SHA-256 of `bytes`, for callers that hold bytes they must not copy.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        _ = EVP_Digest(bytes.baseAddress, bytes.count, &out, nil, FetchedDigest.sha256.md, nil)
        return Data(out)
    }

    /// Whether two digests are equal, compared in constant time so that the comparison does not
    /// tell a forger how many leading bytes were right.
    public static func digestsEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { a in b.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 } }
    }

    /// The SHA-256 of `data`, as lowercase hex.
    public static func hex(_ data: Data) -> String { hash(data).hexString }
}

/// SHA-256 fetched from the default provider once: `EVP_sha256()` makes OpenSSL 3 look the
/// implementation up again on every call, which costs about as much as hashing a small message.
final class FetchedDigest: @unchecked Sendable {
    /// The fetched `EVP_MD`; immutable and shareable once fetched. Never freed (process lifetime).
    let md: OpaquePointer?

    private init(_ name: String) {
        md = EVP_MD_fetch(nil, name, nil) ?? EVP_sha256()
    }

    /// SHA-256.
    static let sha256 = FetchedDigest("SHA256")
}

/// HMAC-SHA-256 with a fixed secret: used to key personnummer before they enter the journal.
public struct HMACSHA256: Sendable {
    private let secret: Data

    /// Creates a keyed hasher. The secret should be at least 32 random bytes.
    public init(secret: Data) { self.secret = secret }

    /// The 32-byte MAC of `data`.
    public func authenticate(_ data: Data) -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        secret.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                         d.bindMemory(to: UInt8.self).baseAddress, d.count, &out, &len)
            }
        }
        return Data(out.prefix(Int(len)))
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public func secureRandomBytes(_ count: Int) -> Data {
    var out = [UInt8](repeating: 0, count: count)
    precondition(RAND_bytes(&out, Int32(count)) == 1, "OpenSSL RAND_bytes failed")
    return Data(out)
}

extension Data {
    /// Lowercase hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
