import Foundation

/// Byte-level helpers for the hot path of intake, where Foundation's `trimmingCharacters` and
/// `lowercased` (which bridge through NSString on Linux) cost more than all the parsing.
extension String {
    /// Without leading and trailing spaces, tabs, line breaks and no-break spaces (U+00A0, which
    /// Excel cells pasted from web pages carry).
    var intakeTrimmed: String {
        let u = utf8
        var start = u.startIndex, end = u.endIndex
        while start < end {
            let b = u[start]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { start = u.index(after: start); continue }
            if b == 0xC2, u.index(after: start) < end, u[u.index(after: start)] == 0xA0 {
                start = u.index(start, offsetBy: 2)
                continue
            }
            break
        }
        while end > start {
            let last = u.index(before: end)
            let b = u[last]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { end = last; continue }
            if b == 0xA0, last > start, u[u.index(before: last)] == 0xC2 { end = u.index(before: last); continue }
            break
        }
        if start == u.startIndex && end == u.endIndex { return self }
        return String(self[start..<end])
    }

    /// ASCII letters changed to the given case (0x20 = lower, 0 = upper); others kept.
    func asciiCased(lower: Bool) -> String {
        String(decoding: utf8.map { b in
            lower ? (b >= 0x41 && b <= 0x5A ? b + 0x20 : b) : (b >= 0x61 && b <= 0x7A ? b - 0x20 : b)
        }, as: UTF8.self)
    }
}
