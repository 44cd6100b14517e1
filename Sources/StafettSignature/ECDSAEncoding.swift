import Foundation

/// Converts ECDSA P-256 signatures between OpenSSL's DER `ECDSA-Sig-Value` and the fixed-width
/// `r || s` form (32 + 32 bytes) that XML-DSig 1.1 puts in `SignatureValue`.
///
/// Done by hand rather than with `d2i_ECDSA_SIG`/`BIGNUM`: the DER side is only ever OpenSSL's own
/// output, the raw side is a fixed 64 bytes, and the signing path runs thousands of times a second.
enum ECDSAEncoding {
    /// Bytes per coordinate on P-256.
    static let width = 32

    /// `SEQUENCE { INTEGER r, INTEGER s }` → `r || s`, or nil when `der` is not that shape.
    static func raw(fromDER der: Data) -> Data? {
        var out = [UInt8](repeating: 0, count: 2 * width)
        let ok = der.withUnsafeBytes { b in out.withUnsafeMutableBytes { raw(fromDER: b, into: $0) } }
        return ok ? Data(out) : nil
    }

    /// Writes `r || s` of the DER signature `b` into `out` (64 bytes, zeroed); false when `b` is not that shape.
    static func raw(fromDER b: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Bool {
        guard b.count >= 8, b[0] == 0x30, out.count == 2 * width else { return false }
        var i = 1
        guard let seqLen = length(b, &i), i + seqLen == b.count else { return false }
        for half in 0..<2 {
            guard i < b.count, b[i] == 0x02 else { return false }
            i += 1
            guard var n = length(b, &i), n >= 1, i + n <= b.count else { return false }
            // DER integers are signed: skip the sign byte of a positive number with a high bit.
            while n > 1, b[i] == 0 { i += 1; n -= 1 }
            guard n <= width else { return false }
            let start = half * width + (width - n)
            for k in 0..<n { out[start + k] = b[i + k] }
            i += n
        }
        return i == b.count
    }

    /// `r || s` (exactly 64 bytes) → DER, or nil when `raw` has the wrong length.
    static func der(fromRaw raw: Data) -> Data? {
        let b = [UInt8](raw)
        guard b.count == 2 * width else { return nil }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var v = Array(bytes.drop { $0 == 0 })
            if v.isEmpty { v = [0] }
            if v[0] & 0x80 != 0 { v.insert(0, at: 0) }
            return [0x02, UInt8(v.count)] + v
        }
        let body = integer(b[0..<width]) + integer(b[width..<(2 * width)])
        // At most 2 × 35 bytes: the short length form always suffices.
        return Data([0x30, UInt8(body.count)] + body)
    }

    /// Reads a DER length (short form, or long form up to two bytes) at `i`, advancing `i`.
    private static func length(_ b: UnsafeRawBufferPointer, _ i: inout Int) -> Int? {
        guard i < b.count else { return nil }
        let first = b[i]
        i += 1
        if first < 0x80 { return Int(first) }
        let count = Int(first & 0x7F)
        guard count >= 1, count <= 2, i + count <= b.count else { return nil }
        var n = 0
        for _ in 0..<count { n = (n << 8) | Int(b[i]); i += 1 }
        return n
    }
}
