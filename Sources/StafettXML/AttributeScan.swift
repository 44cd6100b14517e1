import Foundation

extension XMLDocument {
    /// The byte offset of the `<` of the first start tag with more than `limit` attributes
    /// (namespace declarations included), or nil when there is none.
    ///
    /// libxml2 2.9 compares each attribute of an element with every earlier one, so one element
    /// with N attributes costs O(N²) before any schema or signature check: 50 000 take seconds.
    /// This pass is linear and stops at the first tag over the limit. A tag's attributes are its
    /// `=` signs outside quoted values; comments, CDATA sections, processing instructions and the
    /// XML declaration are skipped, and end tags have none.
    ///
    /// It must never see fewer attributes than libxml2 parses, on malformed input too, because
    /// libxml2 keeps parsing after a fatal error: a control character inside a comment ends the
    /// comment there and the rest is read as content, start tags and all. So a section is skipped
    /// only when libxml2 certainly reads it whole; from the first one in doubt on, nothing is
    /// skipped and every `<` starts a possible start tag, which can only over-count, and only in
    /// documents libxml2 refuses anyway. The bytes are read as ASCII-compatible text (UTF-8,
    /// ISO-8859-n and the like), where every `<`, `>`, `=` and quote is the character itself;
    /// `unreadableEncoding` refuses the rest first.
    static func firstStartTag(withMoreAttributesThan limit: Int, in data: Data) -> Int? {
        data.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress else { return nil }
            var scan = AttributeScan(bytes: base.assumingMemoryBound(to: UInt8.self), count: raw.count, limit: limit)
            return scan.run()
        }
    }

    /// The line (from 1) of byte `offset`, counting line feeds as libxml2 does.
    static func line(at offset: Int, in data: Data) -> Int {
        data.withUnsafeBytes { raw -> Int in
            var line = 1
            for i in 0..<min(offset, raw.count) where raw[i] == Byte.lineFeed { line += 1 }
            return line
        }
    }
}

/// The ASCII bytes the scan looks for.
private enum Byte {
    static let tab: UInt8 = 0x09
    static let lineFeed: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let bang: UInt8 = 0x21
    static let quote: UInt8 = 0x22
    static let apostrophe: UInt8 = 0x27
    static let hyphen: UInt8 = 0x2D
    static let slash: UInt8 = 0x2F
    static let lessThan: UInt8 = 0x3C
    static let equals: UInt8 = 0x3D
    static let greaterThan: UInt8 = 0x3E
    static let question: UInt8 = 0x3F
    static let rightBracket: UInt8 = 0x5D
}

/// One pass of `XMLDocument.firstStartTag(withMoreAttributesThan:in:)` over borrowed bytes.
private struct AttributeScan {
    let bytes: UnsafePointer<UInt8>
    let count: Int
    let limit: Int
    /// Cleared at the first comment, CDATA section or processing instruction libxml2 might not
    /// read whole; a later one could then hide a start tag that libxml2 reads as content.
    private var skipsSections = true

    /// libxml2 gives up on a comment, PI, CDATA section or attribute value past 10 000 000 bytes
    /// (XML_MAX_TEXT_LENGTH, counted after decoding to UTF-8, at most 3 bytes per input byte here)
    /// and parses on from the middle of it. Anything shorter than this ends where the scan thinks.
    private static let longestTrustedText = 1 << 20
    /// libxml2 refuses names past 50 000 bytes (XML_MAX_NAME_LENGTH); a PI whose target is that
    /// long is no PI to libxml2, and its body is read as content.
    private static let longestTrustedTarget = 1_000

    init(bytes: UnsafePointer<UInt8>, count: Int, limit: Int) {
        self.bytes = bytes
        self.count = count
        self.limit = limit
    }

    private enum Tag { case next(Int), overLimit, endOfInput }
    private enum Section { case skipTo(Int), unterminated, inDoubt }

    mutating func run() -> Int? {
        var i = afterXMLDeclaration()
        while let lt = index(of: Byte.lessThan, from: i) {
            guard lt + 1 < count else { return nil }
            switch bytes[lt + 1] {
            case Byte.slash:
                i = lt + 2
            case Byte.bang, Byte.question:
                guard let next = afterSection(at: lt) else { return nil }
                i = next
            default:
                switch startTag(at: lt) {
                case let .next(next): i = next
                case .overLimit: return lt
                case .endOfInput: return nil
                }
            }
        }
        return nil
    }

    /// Where the content starts: after a UTF-8 byte order mark and the XML declaration, if any.
    private func afterXMLDeclaration() -> Int {
        let start = has("\u{FEFF}", at: 0) ? 3 : 0
        guard has("<?xml", at: start), start + 5 < count, isBlank(bytes[start + 5]) else { return start }
        // libxml2 reads on after the first `>`, whether or not the declaration is well-formed
        // (a broken one is skipped up to it); the pseudo-attributes cannot hold a `>`.
        guard let gt = index(of: Byte.greaterThan, from: start + 5) else { return count }
        return gt + 1
    }

    /// Counts the `=` outside quotes of the start tag at `lt`.
    private func startTag(at lt: Int) -> Tag {
        var attributes = 0
        var j = lt + 1
        while j < count {
            switch bytes[j] {
            case Byte.greaterThan:
                return .next(j + 1)
            case Byte.lessThan:
                // libxml2 gives up on the tag here and reads on from this `<`.
                return .next(j)
            case Byte.equals:
                attributes += 1
                if attributes > limit { return .overLimit }
                j += 1
            case Byte.quote, Byte.apostrophe:
                let quote = bytes[j]
                var k = j + 1
                // A `<` ends a value for libxml2 too (as an error), and it reads on from there.
                while k < count, bytes[k] != quote, bytes[k] != Byte.lessThan { k += 1 }
                if k - j > Self.longestTrustedText { return quoteBlind(from: lt) }
                guard k < count else { return .endOfInput }
                j = bytes[k] == quote ? k + 1 : k
            default:
                j += 1
            }
        }
        return .endOfInput
    }

    /// Counts every `=` from `lt` to the next `<`, quotes or not: libxml2 may resume inside an
    /// overlong value, but never past a `<`, so this bounds what it can parse as one tag.
    private func quoteBlind(from lt: Int) -> Tag {
        let end = index(of: Byte.lessThan, from: lt + 1) ?? count
        var attributes = 0
        for j in (lt + 1)..<end where bytes[j] == Byte.equals {
            attributes += 1
            if attributes > limit { return .overLimit }
        }
        return end < count ? .next(end) : .endOfInput
    }

    /// Where scanning goes on after the `<!` or `<?` at `lt`; nil when the input ends inside a section.
    private mutating func afterSection(at lt: Int) -> Int? {
        guard skipsSections else { return lt + 2 }
        let section: Section?
        if bytes[lt + 1] == Byte.bang {
            if has("<!--", at: lt) {
                section = comment(from: lt + 4)
            } else if has("<![CDATA[", at: lt) {
                section = cdata(from: lt + 9)
            } else {
                section = nil  // a DOCTYPE is refused before this scan; anything else is an error to libxml2
            }
        } else {
            section = processingInstruction(at: lt)
        }
        switch section {
        case nil: return lt + 2
        case let .skipTo(next)?: return next
        case .unterminated?: return nil
        case .inDoubt?:
            skipsSections = false
            return lt + 2
        }
    }

    /// A comment's body from `start`. libxml2 ends it at the first `--`, which must be followed by
    /// `>`; after a `--` elsewhere (an error) its fast and slow paths disagree on where it ends.
    private func comment(from start: Int) -> Section {
        var j = start
        while j < count {
            if j - start > Self.longestTrustedText || endsSection(at: j) { return .inDoubt }
            if bytes[j] == Byte.hyphen, j + 1 < count, bytes[j + 1] == Byte.hyphen {
                guard j + 2 < count else { return .unterminated }
                return bytes[j + 2] == Byte.greaterThan ? .skipTo(j + 3) : .inDoubt
            }
            j += 1
        }
        return .unterminated
    }

    /// A CDATA section's body from `start`, up to the first `]]>`.
    private func cdata(from start: Int) -> Section {
        var j = start
        while j < count {
            if j - start > Self.longestTrustedText || endsSection(at: j) { return .inDoubt }
            if bytes[j] == Byte.rightBracket, j + 2 < count, bytes[j + 1] == Byte.rightBracket,
               bytes[j + 2] == Byte.greaterThan {
                return .skipTo(j + 3)
            }
            j += 1
        }
        return .unterminated
    }

    /// The processing instruction at `lt`, up to the first `?>`; nil when libxml2 finds no target
    /// name and reads on right after the `<?`.
    private func processingInstruction(at lt: Int) -> Section? {
        let start = lt + 2
        guard start < count else { return .unterminated }
        let first = bytes[start]
        // Whether a non-ASCII character may start a name is libxml2's business; do not guess.
        if first >= 0x80 { return .inDoubt }
        guard isLetter(first) || first == 0x5F || first == 0x3A else { return nil }
        var j = start + 1
        while j < count, bytes[j] >= 0x80 || isNameByte(bytes[j]) {
            if j - start > Self.longestTrustedTarget { return .inDoubt }
            j += 1
        }
        // A character XML does not allow ends the target as well as the body.
        j = start + 1
        while j < count {
            if j - start > Self.longestTrustedText || endsSection(at: j) { return .inDoubt }
            if bytes[j] == Byte.question, j + 1 < count, bytes[j + 1] == Byte.greaterThan { return .skipTo(j + 2) }
            j += 1
        }
        return .unterminated
    }

    /// Whether libxml2 may stop reading a comment, PI or CDATA section at byte `j` and read on
    /// from there as content: at a character XML does not allow. That is a C0 control other than
    /// tab, LF and CR, or in UTF-8 a surrogate, U+FFFE, U+FFFF or a code point past U+10FFFF.
    /// Errs towards yes (other encodings, truncated sequences), which only costs skipping.
    private func endsSection(at j: Int) -> Bool {
        let b = bytes[j]
        if b < Byte.space { return b != Byte.tab && b != Byte.lineFeed && b != Byte.carriageReturn }
        if b < 0xED { return false }
        let next: UInt8 = j + 1 < count ? bytes[j + 1] : 0xFF
        switch b {
        case 0xED: return next >= 0xA0
        case 0xEF: return next == 0xBF && (j + 2 >= count || bytes[j + 2] >= 0xBE)
        case 0xF4: return next >= 0x90
        case 0xF5...0xFF: return true
        default: return false
        }
    }

    private func isBlank(_ b: UInt8) -> Bool {
        b == Byte.space || b == Byte.tab || b == Byte.lineFeed || b == Byte.carriageReturn
    }

    private func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }

    /// An ASCII byte that can continue a name: letter, digit, `-`, `.`, `_` or `:`.
    private func isNameByte(_ b: UInt8) -> Bool {
        isLetter(b) || (b >= 0x30 && b <= 0x3A) || b == Byte.hyphen || b == 0x2E || b == 0x5F
    }

    /// Whether the bytes at `i` are `literal`'s UTF-8.
    private func has(_ literal: StaticString, at i: Int) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard i >= 0, i + n <= count else { return false }
        return memcmp(bytes + i, literal.utf8Start, n) == 0
    }

    private func index(of byte: UInt8, from i: Int) -> Int? {
        guard i < count, let hit = memchr(bytes + i, Int32(byte), count - i) else { return nil }
        return UnsafeRawPointer(bytes).distance(to: UnsafeRawPointer(hit))
    }
}
