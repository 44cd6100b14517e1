import Foundation

/// The text encodings intake files arrive in.
public enum IntakeTextEncoding: String, Sendable, Hashable {
    /// UTF-8 without a byte-order mark.
    case utf8
    /// UTF-8 with the byte-order mark Excel writes for "CSV UTF-8".
    case utf8WithBOM = "utf8-bom"
    /// Windows-1252, what Excel writes for plain "CSV" on a Swedish Windows.
    case windows1252 = "windows-1252"

    /// Bytes read as Windows-1252 (the five bytes it leaves undefined as the C1 controls of the
    /// same value), for file names an old Windows tool wrote.
    public static func windows1252String(_ bytes: [UInt8]) -> String {
        String(decoding: TextDecoder.windows1252ToUTF8(bytes), as: UTF8.self)
    }
}

/// Decides the encoding of raw bytes and turns them into UTF-8 bytes.
///
/// The rule: a UTF-8 byte-order mark means UTF-8 (and then the bytes must be valid); otherwise
/// valid UTF-8 is UTF-8 and anything else is Windows-1252. The 1252 table is our own because
/// Foundation's legacy encodings are incomplete on Linux. A Swedish name in Windows-1252 is
/// never valid UTF-8 by accident (å is 0xE5, which UTF-8 would need to follow with two
/// continuation bytes), so the guess is safe for real files.
enum TextDecoder {
    enum Failure: Error {
        /// UTF-16 (Excel's "Unicode text") or UTF-32: a different export format.
        case utf16
        /// A UTF-8 byte-order mark followed by bytes that are not UTF-8, at this byte offset.
        case invalidAfterBOM(offset: Int)
        /// Not UTF-8 at this byte offset, yet UTF-8 elsewhere: two exports pasted together, or a
        /// UTF-8 header over Windows-1252 rows. Read as either, some names would come out garbled.
        case mixed(offset: Int)
        /// Not UTF-8 at this byte offset where only UTF-8 may be (JSON, RFC 8259).
        case notUTF8(offset: Int)
    }

    /// Returns UTF-8 bytes without a BOM, and the encoding found. The file's bytes are read where
    /// they lie: the result is the only copy made, so that a file costs its size once more.
    static func decode(_ bytes: UTF8Bytes, allowWindows1252: Bool = true) throws(Failure) -> ([UInt8], IntakeTextEncoding) {
        if bytes.count >= 2, (bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF) {
            throw .utf16
        }
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            let rest = bytes[bytes: 3..<bytes.count]
            if let bad = firstInvalidUTF8(rest) { throw .invalidAfterBOM(offset: bad + 3) }
            return (Array(rest), .utf8WithBOM)
        }
        guard let bad = firstInvalidUTF8(bytes) else { return (Array(bytes), .utf8) }
        guard allowWindows1252 else { throw .notUTF8(offset: bad) }
        if containsUTF8Letters(bytes) { throw .mixed(offset: bad) }
        return (windows1252ToUTF8(bytes), .windows1252)
    }

    /// `decode` over an array.
    static func decode(_ bytes: [UInt8], allowWindows1252: Bool = true) throws(Failure) -> ([UInt8], IntakeTextEncoding) {
        try bytes.withUnsafeBufferPointer { u throws(Failure) in try decode(u, allowWindows1252: allowWindows1252) }
    }

    /// Whether `bytes` hold a UTF-8 encoded Latin-1 letter (`C3 80`–`C3 BF`: å, ä, ö, é, ü …). In
    /// Windows-1252 that pair is "Ã" followed by a symbol, which no real name or note holds.
    static func containsUTF8Letters(_ bytes: UTF8Bytes) -> Bool {
        var i = bytes.startIndex
        while let k = bytes[i...].firstIndex(of: 0xC3), k + 1 < bytes.endIndex {
            if (0x80...0xBF).contains(bytes[k + 1]) { return true }
            i = k + 1
        }
        return false
    }

    /// `firstInvalidUTF8` over an array.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { firstInvalidUTF8($0) }
    }

    /// The offset of the first byte that breaks UTF-8 (overlong forms, surrogates and values
    /// above U+10FFFF included), or nil when all of it is valid.
    static func firstInvalidUTF8(_ p: UTF8Bytes) -> Int? {
        let n = p.count
        var i = 0
        while i < n {
            // Eight ASCII bytes at a time: most of a file is ASCII.
            if i + 8 <= n, let base = p.baseAddress,
               UnsafeRawPointer(base).loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
                continue
            }
            let b = p[i]
            if b < 0x80 { i += 1; continue }
            var need = 0
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; hi = 0x9F
            case 0xF0: need = 3; lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; hi = 0x8F
            default: return i
            }
            guard i + need < n else { return i }
            let c1 = p[i + 1]
            guard c1 >= lo && c1 <= hi else { return i }
            var k = 2
            while k <= need {
                guard p[i + k] & 0xC0 == 0x80 else { return i }
                k += 1
            }
            i += need + 1
        }
        return nil
    }

    /// Unicode scalars for 0x80–0x9F in Windows-1252. The five bytes the code page leaves
    /// undefined map to the C1 control with the same value (as WHATWG does), which the field
    /// rules then refuse as control characters.
    static let cp1252High: [UInt32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ]

    /// Transcodes Windows-1252 to UTF-8; 0xA0–0xFF are U+00A0–U+00FF. The output is sized
    /// exactly before it is written (up to three bytes per byte, for €): an array grown by
    /// doubling would briefly hold both its old and new storage.
    static func windows1252ToUTF8(_ bytes: UTF8Bytes) -> [UInt8] {
        var size = 0
        for b in bytes {
            size += b < 0x80 ? 1 : b < 0xA0 && cp1252High[Int(b - 0x80)] >= 0x800 ? 3 : 2
        }
        return [UInt8](unsafeUninitializedCapacity: size) { out, written in
            var w = 0
            for b in bytes {
                if b < 0x80 { out[w] = b; w += 1; continue }
                let scalar = b < 0xA0 ? cp1252High[Int(b - 0x80)] : UInt32(b)
                if scalar < 0x800 {
                    out[w] = UInt8(0xC0 | (scalar >> 6))
                    out[w + 1] = UInt8(0x80 | (scalar & 0x3F))
                    w += 2
                } else {
                    out[w] = UInt8(0xE0 | (scalar >> 12))
                    out[w + 1] = UInt8(0x80 | ((scalar >> 6) & 0x3F))
                    out[w + 2] = UInt8(0x80 | (scalar & 0x3F))
                    w += 3
                }
            }
            written = w
        }
    }

    /// `windows1252ToUTF8` over an array.
    static func windows1252ToUTF8(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBufferPointer { windows1252ToUTF8($0) }
    }
}
