import Foundation

/// A parsed JSON value. Objects keep their keys in order so duplicates can be reported.
indirect enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// The number as written, so `0042` style ids and large numbers stay exact.
    case number(String)
    case string(String)
    case array([(value: JSONValue, line: Int)])
    case object([(key: String, value: JSONValue)])
}

/// A JSON syntax error at a line (1-based) and column (1-based, in bytes).
struct JSONSyntaxError: Error, Sendable {
    var line: Int
    var column: Int
    var reason: String
}

/// A strict RFC 8259 reader over UTF-8 bytes, with a nesting limit. Written here rather than
/// using JSONSerialization so that errors carry lines, duplicate keys are seen, and booleans are
/// never confused with numbers.
struct JSONReader {
    private let p: [UInt8]
    private var i: Int
    private(set) var line = 1
    private var lineStart = 0
    private let end: Int
    static let maxDepth = 32

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, line: Int = 1) {
        p = bytes
        i = start
        self.end = end ?? bytes.count
        self.line = line
        lineStart = start
    }

    /// Where the reader stands.
    var position: Int { i }

    private func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(line: line, column: i - lineStart + 1, reason: reason)
    }

    private var found: String {
        guard i < end else { return "the end of the input" }
        let b = p[i]
        return b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : String(format: "byte 0x%02X", b)
    }

    mutating func skipWhitespace() {
        while i < end {
            switch p[i] {
            case 0x20, 0x09, 0x0D: i += 1
            case 0x0A: i += 1; line += 1; lineStart = i
            default: return
            }
        }
    }

    var atEnd: Bool { i >= end }

    /// The byte at the reader, after whitespace.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return i < end ? p[i] : nil
    }

    mutating func value(depth: Int = 0) throws(JSONSyntaxError) -> JSONValue {
        guard depth < JSONReader.maxDepth else { throw error("nested more than \(JSONReader.maxDepth) levels deep") }
        skipWhitespace()
        guard i < end else { throw error("expected a value, found the end of the input") }
        switch p[i] {
        case 0x7B:  // {
            i += 1
            var members: [(key: String, value: JSONValue)] = []
            if peek() == 0x7D { i += 1; return .object(members) }
            while true {
                guard peek() == 0x22 else { throw error("expected a key in double quotes, found \(found)") }
                let key = try string()
                guard peek() == 0x3A else { throw error("expected ':' after a key, found \(found)") }
                i += 1
                members.append((key, try value(depth: depth + 1)))
                switch peek() {
                case 0x2C: i += 1
                case 0x7D: i += 1; return .object(members)
                default: throw error("expected ',' or '}' after a value, found \(found)")
                }
            }
        case 0x5B:  // [
            i += 1
            var items: [(value: JSONValue, line: Int)] = []
            if peek() == 0x5D { i += 1; return .array(items) }
            while true {
                skipWhitespace()
                let at = line
                items.append((try value(depth: depth + 1), at))
                switch peek() {
                case 0x2C: i += 1
                case 0x5D: i += 1; return .array(items)
                default: throw error("expected ',' or ']' after a value, found \(found)")
                }
            }
        case 0x22: return .string(try string())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        case 0x2D, 0x30...0x39: return .number(try number())
        default: throw error("expected a value, found \(found)")
        }
    }

    private mutating func literal(_ word: String) throws(JSONSyntaxError) {
        for c in word.utf8 {
            guard i < end, p[i] == c else { throw error("expected \(word), found \(found)") }
            i += 1
        }
    }

    private mutating func number() throws(JSONSyntaxError) -> String {
        let start = i
        if p[i] == 0x2D { i += 1 }
        func digits() -> Int {
            let s = i
            while i < end, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
            return i - s
        }
        guard digits() > 0 else { throw error("a number needs digits") }
        if i < end, p[i] == 0x2E { i += 1; guard digits() > 0 else { throw error("a number needs digits after '.'") } }
        if i < end, p[i] == 0x65 || p[i] == 0x45 {
            i += 1
            if i < end, p[i] == 0x2B || p[i] == 0x2D { i += 1 }
            guard digits() > 0 else { throw error("a number needs digits in its exponent") }
        }
        return String(decoding: p[start..<i], as: UTF8.self)
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < end {
            let b = p[i]
            if b == 0x22 { i += 1; return String(decoding: p[start..<(i - 1)], as: UTF8.self) }
            if b == 0x5C { break }
            if b < 0x20 { throw error("a control character or line break inside a string must be escaped (\\n)") }
            i += 1
        }
        var out = Array(p[start..<i])
        while i < end {
            let b = p[i]
            if b == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
            if b < 0x20 { throw error("a control character or line break inside a string must be escaped (\\n)") }
            if b != 0x5C { out.append(b); i += 1; continue }
            i += 1
            guard i < end else { break }
            let e = p[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < end, p[i] == 0x5C, p[i + 1] == 0x75 else { throw error("a lone UTF-16 surrogate in \\u escape") }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("a lone UTF-16 surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("a lone UTF-16 surrogate in \\u escape")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default: throw error("unknown escape '\\\(Character(Unicode.Scalar(e)))' in a string")
            }
        }
        throw error("a string is not closed: a double quote (\") is missing")
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < end, let h = Character(Unicode.Scalar(p[i])).hexDigitValue else {
                throw error("\\u must be followed by four hex digits")
            }
            v = v * 16 + UInt32(h)
            i += 1
        }
        return v
    }
}
