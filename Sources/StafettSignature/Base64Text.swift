import Foundation

/// Standard base64 (RFC 4648 §4, with padding, no line breaks) written straight into a byte array.
///
/// The signing path writes a digest and a signature value in base64 for every message; Foundation's
/// encoder returns a fresh `Data` each time, which then has to be copied into the document.
enum Base64Text {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends the base64 text of `bytes` to `out`.
    static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + (bytes.count + 2) / 3 * 4)
        alphabet.withUnsafeBufferPointer { a in
            var i = 0
            while i + 3 <= bytes.count {
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                out.append(a[Int(n >> 18)]); out.append(a[Int(n >> 12 & 63)])
                out.append(a[Int(n >> 6 & 63)]); out.append(a[Int(n & 63)])
                i += 3
            }
            switch bytes.count - i {
            case 1:
                let n = UInt32(bytes[i]) << 16
                out.append(a[Int(n >> 18)]); out.append(a[Int(n >> 12 & 63)]); out.append(0x3D); out.append(0x3D)
            case 2:
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
                out.append(a[Int(n >> 18)]); out.append(a[Int(n >> 12 & 63)]); out.append(a[Int(n >> 6 & 63)]); out.append(0x3D)
            default:
                break
            }
        }
    }

    /// What ``decodeCanonical(_:)`` made of a text.
    enum Decoded {
        case bytes(Data)
        /// Not base64 padded to whole groups of four, or nothing at all.
        case notBase64
        /// Base64 whose padding bits are not zero: another spelling of some bytes.
        case notCanonical
    }

    /// The bytes of the base64 text held by `chunks` (a value may be split over several text
    /// nodes), ignoring the XML whitespace xmlsec1 wraps lines with, when the rest is the one
    /// canonical spelling: padded to whole groups of four, zero padding bits, nothing after the
    /// padding, not empty. What `Data(base64Encoded:)` and a re-encoding comparison decided,
    /// without the two copies.
    static func decodeCanonical(_ chunks: [UnsafeBufferPointer<UInt8>]) -> Decoded {
        var out = [UInt8]()
        out.reserveCapacity(chunks.reduce(0) { $0 + $1.count } / 4 * 3)
        var group: UInt32 = 0, filled = 0, padding = 0
        // The table as a local buffer: read through the static, every byte paid for a swift_once.
        let verdict: Decoded? = values.withUnsafeBufferPointer { table in
            for chunk in chunks {
                for c in chunk {
                    if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A { continue }
                    if c == 0x3D {  // =
                        guard filled >= 2 else { return .notBase64 }
                        padding += 1
                        group <<= 6
                    } else {
                        let v = table[Int(c)]
                        guard v < 64, padding == 0 else { return .notBase64 }
                        group = group << 6 | UInt32(v)
                    }
                    filled += 1
                    guard filled == 4 else { continue }
                    switch padding {
                    case 0:
                        out.append(UInt8(group >> 16)); out.append(UInt8(group >> 8 & 0xFF)); out.append(UInt8(group & 0xFF))
                    case 1:
                        guard group & 0xFF == 0 else { return .notCanonical }
                        out.append(UInt8(group >> 16)); out.append(UInt8(group >> 8 & 0xFF))
                    case 2:
                        guard group & 0xFFFF == 0 else { return .notCanonical }
                        out.append(UInt8(group >> 16))
                    default:
                        return .notBase64
                    }
                    group = 0
                    filled = 0
                    // Padding ends the text: a following group finds `padding` still set.
                    if padding > 0 { padding = 3 }
                }
            }
            return nil
        }
        if let verdict { return verdict }
        guard filled == 0, !out.isEmpty else { return .notBase64 }
        return .bytes(Data(out))
    }

    /// Each byte's 6-bit value in the alphabet, 0xFF for bytes outside it.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// The base64 text of `data`.
    static func encode(_ data: Data) -> [UInt8] {
        var out: [UInt8] = []
        data.withUnsafeBytes { append($0, to: &out) }
        return out
    }
}
