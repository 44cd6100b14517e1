import Foundation

/// UTF-8 text borrowed from a buffer that outlives the call: an intake value before it is
/// accepted. Rules read values in this form so that a row costs no `String` until a value is kept.
typealias UTF8Bytes = UnsafeBufferPointer<UInt8>

/// Byte-level helpers for the hot path of intake, where Foundation's `trimmingCharacters` and
/// `lowercased` (which bridge through NSString on Linux) cost more than all the parsing.
enum IntakeBytes {
    /// The bounds of `u` without leading and trailing spaces, tabs, line breaks and no-break
    /// spaces (U+00A0, which Excel cells pasted from web pages carry).
    @inline(__always)
    static func trimmedBounds<C: BidirectionalCollection>(_ u: C) -> Range<C.Index> where C.Element == UInt8 {
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
        return start..<end
    }

    /// True for the bytes `FieldRules.split` separates list items at: `,` `;` `/` and whitespace
    /// (the no-break space is two bytes and handled by the caller).
    @inline(__always)
    static func isListSeparator(_ b: UInt8) -> Bool {
        b == 0x2C || b == 0x3B || b == 0x2F || b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
    }

    /// True when `u` may be kept as a text value as it is: no control characters (C0, DEL, C1,
    /// U+2028/U+2029; with `lineBreaks`, LF and tab pass), no CR to normalise, at most `max` bytes.
    /// False sends the value to the scalar-by-scalar rule, which gives the reason or the count.
    @inline(__always)
    static func isPlainText(_ u: UTF8Bytes, max: Int, lineBreaks: Bool) -> Bool {
        guard u.count <= max else { return false }
        var i = 0
        let n = u.count
        while i < n {
            let b = u[i]
            if b >= 0x20 && b < 0x7F { i += 1; continue }
            if b < 0x20 {
                guard lineBreaks, b == 0x0A || b == 0x09 else { return false }
            } else if b == 0x7F {
                return false
            } else if b == 0xC2 {
                // U+0080–U+009F, the C1 controls, are C2 80–C2 9F.
                if i + 1 < n, u[i + 1] < 0xA0 { return false }
            } else if b == 0xE2 {
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
                if i + 2 < n, u[i + 1] == 0x80, u[i + 2] == 0xA8 || u[i + 2] == 0xA9 { return false }
            }
            i += 1
        }
        return true
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// The bytes at `r`, rebased so that they start at index 0.
    @inline(__always)
    subscript(bytes r: Range<Int>) -> UTF8Bytes { UnsafeBufferPointer(rebasing: self[r]) }

    /// The bytes without the blanks `String.intakeTrimmed` removes.
    @inline(__always)
    var intakeTrimmed: UTF8Bytes { self[bytes: IntakeBytes.trimmedBounds(self)] }

    /// The bytes as a String. Intake text is valid UTF-8 by the time it is split (`TextDecoder`),
    /// and splitting happens at ASCII bytes, so nothing is repaired.
    var string: String {
        // A String of up to 15 bytes lives inline; built this way, ASCII skips the validation
        // `String(decoding:)` does.
        guard count <= 15 else { return String(decoding: self, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: count) { $0.initialize(fromContentsOf: self) }
    }
}

extension String {
    /// Without leading and trailing spaces, tabs, line breaks and no-break spaces (U+00A0, which
    /// Excel cells pasted from web pages carry).
    var intakeTrimmed: String {
        let u = utf8
        let r = IntakeBytes.trimmedBounds(u)
        if r.lowerBound == u.startIndex && r.upperBound == u.endIndex { return self }
        return String(self[r])
    }

    /// ASCII letters changed to the given case (0x20 = lower, 0 = upper); others kept.
    func asciiCased(lower: Bool) -> String {
        String(decoding: utf8.map { b in
            lower ? (b >= 0x41 && b <= 0x5A ? b + 0x20 : b) : (b >= 0x61 && b <= 0x7A ? b - 0x20 : b)
        }, as: UTF8.self)
    }

    /// Runs a field rule on the UTF-8 of the string, for callers that hold a `String`.
    func withIntakeBytes<T>(_ body: (UTF8Bytes) throws(FieldProblem) -> T) throws(FieldProblem) -> T {
        var s = self
        let result = s.withUTF8 { u in Result { () throws(FieldProblem) -> T in try body(u) } }
        return try result.get()
    }
}
