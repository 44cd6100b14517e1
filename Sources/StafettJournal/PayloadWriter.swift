import Foundation

/// Writes payload bytes through a raw pointer into space reserved ahead, for the writer's hot
/// path: an append encodes its entry with one capacity check instead of one per byte and field
/// (perf: `[UInt8].append` calls and a byte-at-a-time escape check were most of the ~6 000
/// instructions an entry's encoding took, a tenth of an append's CPU).
struct PayloadWriter {
    private let start: UnsafeMutablePointer<UInt8>
    private var at: UnsafeMutablePointer<UInt8>

    /// Bytes written so far.
    var count: Int { start.distance(to: at) }

    private static let zeros = [UInt8](repeating: 0, count: 4096)

    /// The most bytes `string(bytes:)` writes for `n` bytes: quotes and every byte as `\u00XX`.
    static func stringBound(_ n: Int) -> Int { 2 + 6 * n }

    /// Runs `body` with a writer over `bound` bytes appended to `out`, then trims `out` to what it wrote.
    /// `body` must write at most `bound` bytes.
    @inline(__always)
    static func append(to out: inout [UInt8], bound: Int, _ body: (inout PayloadWriter) -> Void) {
        let from = out.count
        // Grown with copies of a zero page: `repeatElement` stored the zeros a byte at a time
        // (perf: 900 instructions an append).
        var left = bound
        while left > 0 {
            let k = min(left, zeros.count)
            out.append(contentsOf: zeros[0..<k])
            left -= k
        }
        let written = out.withUnsafeMutableBufferPointer { buf in
            var w = PayloadWriter(start: buf.baseAddress! + from)
            body(&w)
            precondition(w.count <= bound, "payload writer overran its bound")
            return w.count
        }
        out.removeLast(bound - written)
    }

    private init(start: UnsafeMutablePointer<UInt8>) {
        self.start = start
        at = start
    }

    @inline(__always) mutating func byte(_ b: UInt8) {
        at.pointee = b
        at += 1
    }

    @inline(__always) mutating func bytes(_ s: StaticString) {
        at.update(from: s.utf8Start, count: s.utf8CodeUnitCount)
        at += s.utf8CodeUnitCount
    }

    @inline(__always) mutating func bytes(_ b: UnsafeRawBufferPointer) {
        guard let base = b.baseAddress, b.count > 0 else { return }
        UnsafeMutableRawPointer(at).copyMemory(from: base, byteCount: b.count)
        at += b.count
    }

    /// Writes `s` raw (no quotes, no escapes): for text known to need none, like a kind's name.
    @inline(__always) mutating func raw(_ s: String) {
        var s = s
        s.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    /// A decimal number.
    mutating func int(_ v: UInt64) {
        var digits = 1, p: UInt64 = 10
        while digits < 20 && v >= p { digits += 1; p = p &* 10 }
        var rest = v
        for k in stride(from: digits - 1, through: 0, by: -1) {
            at[k] = 0x30 + UInt8(rest % 10)
            rest /= 10
        }
        at += digits
    }

    /// Two decimal digits of `v` (0...99).
    @inline(__always) mutating func two(_ v: Int) {
        at[0] = 0x30 + UInt8(v / 10)
        at[1] = 0x30 + UInt8(v % 10)
        at += 2
    }

    /// `s` as a JSON string literal (quotes; escapes for `"`, `\` and control characters).
    @inline(__always) mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { string(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Runs of bytes that need no escape are copied whole, found eight bytes at a time: a
    /// journaled receipt is a few KB of XML with an escape (its attribute quotes) every few dozen
    /// bytes, and the other fields are short and have none.
    mutating func string(bytes b: UnsafeRawBufferPointer) {
        byte(0x22)
        let n = b.count
        var run = 0, i = 0
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while i < n {
            if i + 8 <= n {
                let w = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let q = w ^ 0x2222_2222_2222_2222, s = w ^ 0x5C5C_5C5C_5C5C_5C5C
                // High bits flag a zero byte of q or s (a quote or backslash) or a byte below 0x20.
                let flags = ((q &- ones) & ~q | (s &- ones) & ~s | (w &- 0x2020_2020_2020_2020) & ~w) & highs
                if flags == 0 { i += 8; continue }
            }
            let c = b[i]
            if c < 0x20 || c == 0x22 || c == 0x5C {
                bytes(UnsafeRawBufferPointer(rebasing: b[run..<i]))
                byte(0x5C)
                switch c {
                case 0x22, 0x5C: byte(c)
                case 0x0A: byte(0x6E)
                case 0x0D: byte(0x72)
                case 0x09: byte(0x74)
                default:
                    bytes("u00")
                    byte(PayloadWriter.hexDigit(c >> 4))
                    byte(PayloadWriter.hexDigit(c & 15))
                }
                run = i + 1
            }
            i += 1
        }
        bytes(UnsafeRawBufferPointer(rebasing: b[run..<n]))
        byte(0x22)
    }

    @inline(__always)
    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }
}
