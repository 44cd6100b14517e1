import Foundation

extension XMLDocument {
    /// The name of the encoding libxml2 would decode `data` with, if it is one the byte-level checks
    /// before parsing cannot read; nil for UTF-8 and the ASCII-compatible single-byte encodings.
    ///
    /// The DOCTYPE sniff and the attribute scan look for `<`, `=`, quotes and `>` as bytes. In
    /// UTF-16 those bytes also occur inside other characters, and in UTF-7 an `=` or a quote can be
    /// written as `+AD0-` or `+ACI-`, so an element with 50 000 attributes got past the scan and
    /// cost libxml2 seconds. Stafett writes UTF-8 and so do its peers. This follows libxml2's own
    /// order: the first four bytes (byte order marks, UTF-16, UCS-4, EBCDIC), then the
    /// `encoding` of an XML declaration at the very start.
    static func unreadableEncoding(_ data: Data) -> String? {
        data.withUnsafeBytes { raw -> String? in
            let count = raw.count
            if count >= 4 {
                switch (raw[0], raw[1], raw[2], raw[3]) {
                case (0x00, 0x00, 0x00, 0x3C), (0x3C, 0x00, 0x00, 0x00), (0x00, 0x00, 0x3C, 0x00), (0x00, 0x3C, 0x00, 0x00):
                    return "UCS-4"
                case (0x4C, 0x6F, 0xA7, 0x94):
                    return "EBCDIC"
                case (0x00, 0x3C, 0x00, 0x3F), (0x3C, 0x00, 0x3F, 0x00), (0xFE, 0xFF, _, _), (0xFF, 0xFE, _, _):
                    return "UTF-16"
                default:
                    break
                }
            }
            var i = count >= 3 && raw[0] == 0xEF && raw[1] == 0xBB && raw[2] == 0xBF ? 3 : 0
            guard matches("<?xml", raw, at: i), i + 5 < count, isBlank(raw[i + 5]) else { return nil }
            // The declaration cannot hold a `>` before its end, and libxml2 reads no further in it.
            var end = i + 5
            while end < count, raw[end] != 0x3E { end += 1 }
            // Every `encoding` is checked, not only where libxml2 expects one: a declaration that
            // libxml2 reads differently from here must not be able to name an encoding unchecked.
            i += 5
            while i < end {
                if matches("encoding", raw, at: i), let name = encodingName(raw, after: i + 8, before: end),
                   !isASCIICompatible(name) {
                    // The name ends up in logs and rejection receipts; a sender chooses its length.
                    return name.count > 40 ? name.prefix(40) + "…" : name
                }
                i += 1
            }
            return nil
        }
    }

    /// The name in `S? = S? "name"` (or single quotes) from `start`, as libxml2 reads it
    /// (a letter, then letters, digits, `.`, `_` and `-`); nil when there is none.
    private static func encodingName(_ raw: UnsafeRawBufferPointer, after start: Int, before end: Int) -> String? {
        var i = start
        while i < end, isBlank(raw[i]) { i += 1 }
        guard i < end, raw[i] == 0x3D else { return nil }
        i += 1
        while i < end, isBlank(raw[i]) { i += 1 }
        guard i < end, raw[i] == 0x22 || raw[i] == 0x27 else { return nil }
        let quote = raw[i]
        let first = i + 1
        var j = first
        while j < end, isEncodingNameByte(raw[j], first: j == first) { j += 1 }
        guard j > first, j < end, raw[j] == quote else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[first..<j]), as: UTF8.self)
    }

    /// UTF-8, US-ASCII, ISO-8859-n and windows-125n: every byte below 0x80 is that ASCII
    /// character and no other character contains one.
    private static func isASCIICompatible(_ name: String) -> Bool {
        let upper = name.uppercased()
        if ["UTF-8", "UTF8", "US-ASCII", "ASCII", "LATIN1", "ISO-LATIN-1"].contains(upper) { return true }
        for (prefix, digits) in [("ISO-8859-", 1...2), ("WINDOWS-125", 1...1)] where upper.hasPrefix(prefix) {
            let rest = upper.dropFirst(prefix.count)
            return digits.contains(rest.count) && rest.allSatisfy { $0 >= "0" && $0 <= "9" }
        }
        return false
    }

    private static func isEncodingNameByte(_ b: UInt8, first: Bool) -> Bool {
        let letter = (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A
        if first { return letter }
        return letter || (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x5F || b == 0x2D
    }

    private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private static func matches(_ literal: StaticString, _ raw: UnsafeRawBufferPointer, at i: Int) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard i + n <= raw.count else { return false }
        for k in 0..<n where raw[i + k] != literal.utf8Start[k] { return false }
        return true
    }
}
