import Foundation
import StafettModel

/// Text rules of XML 1.0 as Stafett's encoders apply them.
public enum XMLText {
    /// The first Unicode scalar in `text` that XML 1.0 cannot carry at all (control characters
    /// other than tab, line feed and carriage return; U+FFFE; U+FFFF), or nil when there is none.
    /// Intake should refuse such values; the encoders silently drop them.
    public static func firstDisallowedScalar(in text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { s in
            (s.value < 0x20 && s.value != 0x09 && s.value != 0x0A && s.value != 0x0D)
                || s.value == 0xFFFE || s.value == 0xFFFF
        }
    }

    /// `text` escaped for element content or a double-quoted attribute value.
    public static func escaped(_ text: String) -> String {
        var w = XMLWriter(capacity: text.utf8.count + 16)
        w.text(text)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// Builds an XML document as UTF-8 bytes. Element names are static ASCII; text is escaped.
struct XMLWriter {
    private(set) var bytes: [UInt8] = []
    /// Where the document's structure also goes, as it is written: a schema validator (see
    /// `SchemaValidator.validateEvents`). Text reaches it decoded, as a parser would report it.
    var events: SchemaEvents?

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Appends markup as is.
    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A line feed and up to 16 spaces, sliced for each indentation depth.
    private static let lineStart: [UInt8] = [0x0A] + [UInt8](repeating: 0x20, count: 16)

    /// Appends `count` spaces of indentation after a newline.
    mutating func newline(indent: Int) {
        guard indent < Self.lineStart.count else {
            bytes.append(0x0A)
            bytes.append(contentsOf: repeatElement(0x20, count: indent))
            return
        }
        bytes.append(contentsOf: Self.lineStart[...indent])
    }

    /// `<name xmlns="namespace">`: the root element, declaring the default namespace.
    mutating func root(_ name: StaticString, namespace: StaticString) {
        bytes.append(0x3C); raw(name); raw(" xmlns=\""); raw(namespace); bytes.append(0x22); bytes.append(0x3E)
        events?.startRoot(name)
    }

    /// `<name>` on a new line.
    mutating func open(_ name: StaticString, indent: Int) {
        newline(indent: indent)
        bytes.append(0x3C); raw(name); bytes.append(0x3E)
        events?.start(name)
    }

    /// `</name>` on a new line.
    mutating func close(_ name: StaticString, indent: Int) {
        newline(indent: indent)
        endTag(name)
    }

    /// `</name>` where the writer stands.
    private mutating func endTag(_ name: StaticString) {
        bytes.append(0x3C); bytes.append(0x2F); raw(name); bytes.append(0x3E)
        events?.end(name)
    }

    /// `<name>text</name>` on a new line.
    mutating func leaf(_ name: StaticString, _ value: String, indent: Int) {
        open(name, indent: indent)
        content(value)
        endTag(name)
    }

    /// `<name attribute="attributeValue">text</name>` on a new line; the attribute value is escaped too.
    mutating func leaf(_ name: StaticString, attribute: StaticString, _ attributeValue: String,
                       _ value: String, indent: Int) {
        startTag(name, attribute: attribute, attributeValue, indent: indent)
        content(value)
        endTag(name)
    }

    /// `<name attribute="attributeValue">YYYY-MM-DD</name>` on a new line.
    mutating func leaf(_ name: StaticString, attribute: StaticString, _ attributeValue: String,
                       _ date: CalendarDate, indent: Int) {
        startTag(name, attribute: attribute, attributeValue, indent: indent)
        let from = bytes.count
        self.date(date)
        textWritten(since: from)
        endTag(name)
    }

    /// `<name attribute="attributeValue">` on a new line.
    private mutating func startTag(_ name: StaticString, attribute: StaticString, _ attributeValue: String, indent: Int) {
        newline(indent: indent)
        bytes.append(0x3C); raw(name); bytes.append(0x20); raw(attribute)
        bytes.append(0x3D); bytes.append(0x22); attributeText(attributeValue); bytes.append(0x22); bytes.append(0x3E)
        if let events { Self.withDecoded(attributeValue) { events.start(name, attribute: attribute, value: $0) } }
    }

    /// Reports the bytes written since `from` (markup-free ASCII) as character data.
    private func textWritten(since from: Int) {
        guard let events else { return }
        bytes.withUnsafeBufferPointer { events.text(UnsafeBufferPointer(rebasing: $0[from...])) }
    }

    /// The UTF-8 of `value` as a parser reads it back from the escaped bytes: without the
    /// characters XML cannot carry, which escaping drops.
    private static func withDecoded(_ value: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var value = value
        value.withUTF8 { p in
            guard p.indices.contains(where: { droppedBytes(p, at: $0) > 0 }) else { return body(p) }
            var kept: [UInt8] = []
            kept.reserveCapacity(p.count)
            var i = 0
            while i < p.count {
                let dropped = droppedBytes(p, at: i)
                if dropped == 0 { kept.append(p[i]); i += 1 } else { i += dropped }
            }
            kept.withUnsafeBufferPointer(body)
        }
    }

    /// How many bytes at `i` escaping drops: 1 for a control character XML 1.0 cannot carry
    /// (all below U+0020 but tab, line feed and carriage return), 3 for U+FFFE or U+FFFF, else 0.
    @inline(__always) private static func droppedBytes(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let b = p[i]
        if b < 0x20 { return b == 0x09 || b == 0x0A || b == 0x0D ? 0 : 1 }
        if b == 0xEF && i + 2 < p.count && p[i + 1] == 0xBF && (p[i + 2] == 0xBE || p[i + 2] == 0xBF) { return 3 }
        return 0
    }

    /// Appends `value` escaped for element content or an attribute alike: `&`, `<`, `>`, `"`
    /// become entity references, a carriage return `&#xD;`; characters XML 1.0 cannot carry are dropped.
    mutating func text(_ value: String) {
        escape(value, mode: .anywhere)
    }

    /// Appends `value` as element content, escaped exactly as exclusive C14N writes text (`&amp;`,
    /// `&lt;`, `&gt;`, `&#xD;`; quotes, tabs and line feeds as they are), so an encoder built on
    /// it can write documents whose bytes already are their canonical form. Characters XML 1.0
    /// cannot carry are dropped.
    mutating func content(_ value: String) {
        escape(value, mode: .content)
        if let events { Self.withDecoded(value) { events.text($0) } }
    }

    /// Appends `value` for a double-quoted attribute, escaped exactly as exclusive C14N writes
    /// attribute values (`&amp;`, `&lt;`, `&quot;`, `&#x9;`, `&#xA;`, `&#xD;`; `>` as it is): the
    /// character references also keep tabs and line breaks from attribute-value normalization.
    mutating func attributeText(_ value: String) {
        escape(value, mode: .attribute)
    }

    /// Where escaped text goes: C14N's element content, C14N's attribute values, or either.
    private enum EscapeMode { case content, attribute, anywhere }

    private mutating func escape(_ value: String, mode: EscapeMode) {
        let attribute = mode == .attribute
        var value = value
        value.withUTF8 { p in
            if !p.contains(where: { $0 < 0x20 || $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0xEF }) {
                bytes.append(contentsOf: p)
                return
            }
            let n = p.count
            var i = 0
            while i < n {
                let dropped = Self.droppedBytes(p, at: i)
                if dropped > 0 { i += dropped; continue }
                let b = p[i]
                switch b {
                case 0x26: raw("&amp;")
                case 0x3C: raw("&lt;")
                case 0x3E: if attribute { bytes.append(b) } else { raw("&gt;") }
                case 0x22: if mode == .content { bytes.append(b) } else { raw("&quot;") }
                case 0x0D: raw("&#xD;")
                case 0x09: if attribute { raw("&#x9;") } else { bytes.append(b) }
                case 0x0A: if attribute { raw("&#xA;") } else { bytes.append(b) }
                default: bytes.append(b)
                }
                i += 1
            }
        }
    }

    /// Appends `n` as exactly `width` decimal digits (zero-padded; `n` must fit).
    mutating func digits(_ n: Int, width: Int) {
        var buf: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        var v = n
        withUnsafeMutableBytes(of: &buf) { b in
            for k in stride(from: width - 1, through: 0, by: -1) {
                b[k] = UInt8(0x30 + v % 10)
                v /= 10
            }
            bytes.append(contentsOf: b.prefix(width))
        }
    }

    /// `YYYY-MM-DD`, without Foundation's slow `String(format:)`.
    mutating func date(_ d: CalendarDate) {
        digits(d.year, width: 4); bytes.append(0x2D); digits(d.month, width: 2); bytes.append(0x2D); digits(d.day, width: 2)
    }

    /// `<name>` + the xs:dateTime of `date` + `</name>` on a new line.
    mutating func leaf(_ name: StaticString, _ date: Date, indent: Int) {
        open(name, indent: indent)
        let from = bytes.count
        XMLDateTime.append(date, to: &self)
        textWritten(since: from)
        endTag(name)
    }
}
