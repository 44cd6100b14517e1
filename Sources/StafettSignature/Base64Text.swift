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

    /// The base64 text of `data`.
    static func encode(_ data: Data) -> [UInt8] {
        var out: [UInt8] = []
        data.withUnsafeBytes { append($0, to: &out) }
        return out
    }
}
