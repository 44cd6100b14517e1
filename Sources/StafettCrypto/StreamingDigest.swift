import CCRC32C
import COpenSSL
import Foundation

/// SHA-256 over many small inputs with one reused OpenSSL context: the journal hashes a few
/// hundred bytes per record, where a fresh `EVP_MD_CTX` and implicit algorithm fetch per record
/// would cost more than the hashing itself. Confined to one thread (make one per reader/writer).
public final class StreamingSHA256 {
    private let ctx: OpaquePointer
    private let md: OpaquePointer

    /// Creates a hasher with SHA-256 fetched once.
    public init() {
        md = EVP_MD_fetch(nil, "SHA256", nil)!
        ctx = EVP_MD_CTX_new()!
    }

    deinit {
        EVP_MD_CTX_free(ctx)
        EVP_MD_free(md)
    }

    /// Writes SHA-256(`first` || `second`) into `out` (32 bytes).
    public func hash(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
                     into out: UnsafeMutableRawPointer) {
        EVP_DigestInit_ex2(ctx, md, nil)
        EVP_DigestUpdate(ctx, first.baseAddress, first.count)
        EVP_DigestUpdate(ctx, second.baseAddress, second.count)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, out.assumingMemoryBound(to: UInt8.self), &len)
    }

    /// SHA-256(`first` || `second`) as 32 bytes.
    public func hash(_ first: Data, _ second: Data) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        first.withUnsafeBytes { a in
            second.withUnsafeBytes { b in
                out.withUnsafeMutableBytes { hash(a, b, into: $0.baseAddress!) }
            }
        }
        return out
    }
}

/// CRC-32C (Castagnoli), as used by the journal's framing; hardware-accelerated on x86-64.
public enum CRC32C {
    /// The CRC-32C of `bytes`, continuing from `crc` (0 for a fresh checksum).
    @inline(__always)
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        stafett_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// The CRC-32C of `data`.
    public static func checksum(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { checksum($0) }
    }
}
