import Foundation

/// The journal's compact JSON payload, written and read by hand: one object, keys in this fixed
/// order, absent fields left out, no whitespace:
/// `{"seq":N,"t":"YYYY-MM-DDTHH:MM:SS.mmmZ","kind":K,"msg":..,"case":..,"intake":..,"iss":..,"dossier":..,
/// "pin":..,"event":..,"et":"YYYY-MM-DDTHH:MM:SS.mmmZ","from":..,"to":..,"digest":..,"status":..,"reason":..,
/// "file":..,"rdigest":..,"receipt":..,"cp":{"upto":N,"hash":..,"alg":..,"sig":..}}`.
/// The reader accepts any key order and ignores unknown keys, so later versions may add fields
/// (`iss`, `et` and `rdigest` came after the first release: older readers skip them, and records
/// without them read as before).
public enum EntryCodec {
    /// Appends the payload of `entry` to `out`.
    public static func encode(_ e: JournalEntry, into out: inout [UInt8]) {
        appendSequence(e.sequence, &out)
        encodeAfterSequence(e, kind: e.kind, into: &out)
    }

    /// The payload's opening up to its sequence number: `{"seq":N`.
    static func appendSequence(_ sequence: UInt64, _ out: inout [UInt8]) {
        out.append(contentsOf: #"{"seq":"#.utf8)
        appendInt(sequence, &out)
    }

    /// Everything of the payload after the sequence number, so that the writer can encode an
    /// entry before it holds the journal's mutex and only put `appendSequence` in front under it.
    /// `kind` stands in for `e.kind` (the writer may not let an entry call itself a checkpoint,
    /// and copying an entry to change it costs a retain and release of every field).
    static func encodeAfterSequence(_ e: JournalEntry, kind: JournalKind, into out: inout [UInt8]) {
        // Room for the fixed text and every field at its longest (each value byte escaped).
        var bound = 128 + kind.rawValue.utf8.count + (e.eventTimeMillis == nil ? 0 : 32)
        fields(e) { _, v in if let v { bound += 12 + PayloadWriter.stringBound(v.utf8.count) } }
        PayloadWriter.append(to: &out, bound: bound) { w in
            w.bytes(#","t":""#)
            ISOTime.write(millis: e.timeMillis, into: &w)
            w.bytes(#"","kind":""#)
            w.raw(kind.rawValue)
            w.byte(0x22)
            fields(e) { key, value in
                if key.utf8Start.pointee == 0x68 { w.bytes(#","cp":{"upto":"#); w.int(e.checkpoint!.upTo) }  // "hash" opens the seal
                // "from" (not "file"): the event's time goes before it.
                if key.utf8Start[0] == 0x66, key.utf8Start[1] == 0x72, let et = e.eventTimeMillis, writableTimes.contains(et) {
                    w.bytes(#","et":""#)
                    ISOTime.write(millis: et, into: &w)
                    w.byte(0x22)
                }
                if let value {
                    w.bytes(#",""#)
                    w.bytes(key)
                    w.bytes(#"":"#)
                    w.string(value)
                }
            }
            if e.checkpoint != nil { w.byte(0x7D) }
            w.byte(0x7D)
        }
    }

    /// Each text field after `kind`, in the payload's order, with its key; the seal's three last
    /// (their `hash` is where the `cp` object opens). Absent fields come as nil. `et`, a time,
    /// is written by the caller between `event` and `from` (present in every call, nil or not).
    @inline(__always)
    private static func fields(_ e: JournalEntry, _ body: (StaticString, String?) -> Void) {
        body("msg", e.messageId); body("case", e.caseRef); body("intake", e.intakeId); body("iss", e.intakeIdIssuer)
        body("dossier", e.dossierNumber); body("pin", e.personKey); body("event", e.eventType)
        body("from", e.sender); body("to", e.recipient); body("digest", e.digest); body("status", e.status)
        body("reason", e.reason); body("file", e.file); body("rdigest", e.receiptDigest); body("receipt", e.receipt)
        if let cp = e.checkpoint { body("hash", cp.chainHash); body("alg", cp.algorithm); body("sig", cp.signature) }
    }

    /// The times the 24-byte form holds (years 0001 to 9999). An event time outside them (the
    /// schema allows any xs:dateTime) is left out rather than written in a form no reader takes.
    static let writableTimes: ClosedRange<Int64> = -62_135_596_800_000 ... 253_402_300_799_999

    /// The payload of `entry` as bytes.
    public static func encode(_ e: JournalEntry) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        encode(e, into: &out)
        return out
    }

    /// Appends `s` as a JSON string literal (quotes, escapes for `"`, `\` and control characters).
    public static func appendString(_ s: String, _ out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendString(bytes: UnsafeRawBufferPointer($0), &out) }
    }

    /// `appendString` for bytes.
    static func appendString(bytes: UnsafeRawBufferPointer, _ out: inout [UInt8]) {
        PayloadWriter.append(to: &out, bound: PayloadWriter.stringBound(bytes.count)) { $0.string(bytes: bytes) }
    }

    @inline(__always)
    static func appendInt(_ v: UInt64, _ out: inout [UInt8]) {
        if v < 10 { out.append(0x30 + UInt8(v)); return }
        var p: UInt64 = 1
        while p <= v / 10 { p *= 10 }
        var rest = v
        while p > 0 {
            out.append(0x30 + UInt8(rest / p))
            rest %= p
            p /= 10
        }
    }

    /// Reads just the sequence number from a payload that starts `{"seq":N` (the only shape
    /// this journal writes); nil otherwise.
    @inline(__always)
    public static func fastSequence(_ p: UnsafeRawBufferPointer) -> UInt64? {
        guard p.count > 8, p[0] == 0x7B, p[1] == 0x22, p[2] == 0x73, p[3] == 0x65, p[4] == 0x71,
              p[5] == 0x22, p[6] == 0x3A else { return nil }
        var i = 7, v: UInt64 = 0
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39 {
            v = v &* 10 &+ UInt64(p[i] - 0x30)
            i += 1
        }
        return i > 7 ? v : nil
    }

    /// True when a payload in the shape this journal writes is a checkpoint, checked at the
    /// fixed position of `"kind"`; falls back to a full parse for other shapes.
    public static func isCheckpoint(_ p: UnsafeRawBufferPointer) -> Bool {
        var i = 7
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
        // ,"t":"<24>","kind":"checkpoint"
        let kindAt = i + 6 + 24 + 2
        let lit = Array(#""kind":"checkpoint""#.utf8)
        if kindAt + lit.count <= p.count, p[i] == 0x2C, p[kindAt - 1] == 0x2C {
            for j in 0..<lit.count where p[kindAt + j] != lit[j] { return false }
            return true
        }
        return (try? decode(p))?.kind == .checkpoint
    }

    /// The kind and time of a payload, read where this journal's writer puts them
    /// (`{"seq":N,"t":"<24>","kind":"K"`) without parsing the rest, so a reader that wants only some
    /// kinds decodes only those; a payload of another shape is parsed whole. Nil when neither works.
    public static func kindAndTime(_ p: UnsafeRawBufferPointer) -> (kind: JournalKind, timeMillis: Int64)? {
        var i = 7
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
        let timeAt = i + 6, kindAt = timeAt + 24 + 10
        if fastSequence(p) != nil, kindAt < p.count, matches(#","t":""#, p, at: i),
           matches(#"","kind":""#, p, at: timeAt + 24),
           let time = ISOTime.parse(UnsafeRawBufferPointer(rebasing: p[timeAt..<(timeAt + 24)])) {
            var end = kindAt
            while end < p.count, p[end] != 0x22, p[end] != 0x5C { end += 1 }
            if end < p.count, p[end] == 0x22,
               let kind = JournalKind(rawValue: String(decoding: UnsafeRawBufferPointer(rebasing: p[kindAt..<end]), as: UTF8.self)) {
                return (kind, time)
            }
        }
        guard let e = try? decode(p) else { return nil }
        return (e.kind, e.timeMillis)
    }

    private static func matches(_ literal: StaticString, _ p: UnsafeRawBufferPointer, at i: Int) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard i >= 0, i + n <= p.count else { return false }
        let l = literal.utf8Start
        for j in 0..<n where p[i + j] != l[j] { return false }
        return true
    }

    /// Parses a payload.
    public static func decode(_ p: UnsafeRawBufferPointer) throws(PayloadError) -> JournalEntry {
        var r = PayloadScanner(p)
        var e = JournalEntry(kind: .queued, time: Date(timeIntervalSince1970: 0))
        var haveKind = false, haveSeq = false, haveTime = false
        try r.expect(0x7B)
        if try r.peekIs(0x7D) { throw PayloadError(offset: r.i, reason: "empty object") }
        while true {
            let key = try r.rawString()
            try r.expect(0x3A)
            switch key {
            case "seq": e.sequence = try r.integer(); haveSeq = true
            case "t":
                let s = try r.rawBytesOfString()
                guard let ms = ISOTime.parse(s) else { throw PayloadError(offset: r.i, reason: "bad time") }
                e.timeMillis = ms; haveTime = true
            case "kind":
                let k = try r.string()
                guard let kind = JournalKind(rawValue: k) else { throw PayloadError(offset: r.i, reason: "unknown kind \(k)") }
                e.kind = kind; haveKind = true
            case "msg": e.messageId = try r.string()
            case "case": e.caseRef = try r.string()
            case "intake": e.intakeId = try r.string()
            case "iss": e.intakeIdIssuer = try r.string()
            case "dossier": e.dossierNumber = try r.string()
            case "pin": e.personKey = try r.string()
            case "event": e.eventType = try r.string()
            case "et":
                guard let ms = ISOTime.parse(try r.rawBytesOfString()) else { throw PayloadError(offset: r.i, reason: "bad event time") }
                e.eventTimeMillis = ms
            case "from": e.sender = try r.string()
            case "to": e.recipient = try r.string()
            case "digest": e.digest = try r.string()
            case "status": e.status = try r.string()
            case "reason": e.reason = try r.string()
            case "file": e.file = try r.string()
            case "rdigest": e.receiptDigest = try r.string()
            case "receipt": e.receipt = try r.string()
            case "cp": e.checkpoint = try decodeSeal(&r)
            default: try r.skipValue()
            }
            if try r.peekIs(0x2C) { r.i += 1; continue }
            try r.expect(0x7D)
            break
        }
        guard haveSeq, haveKind, haveTime else { throw PayloadError(offset: 0, reason: "seq, t or kind missing") }
        return e
    }

    private static func decodeSeal(_ r: inout PayloadScanner) throws(PayloadError) -> CheckpointSeal {
        var seal = CheckpointSeal(upTo: 0, chainHash: "", algorithm: "", signature: "")
        try r.expect(0x7B)
        while true {
            let key = try r.rawString()
            try r.expect(0x3A)
            switch key {
            case "upto": seal.upTo = try r.integer()
            case "hash": seal.chainHash = try r.string()
            case "alg": seal.algorithm = try r.string()
            case "sig": seal.signature = try r.string()
            default: try r.skipValue()
            }
            if try r.peekIs(0x2C) { r.i += 1; continue }
            try r.expect(0x7D)
            return seal
        }
    }
}

/// A payload that is not the journal's JSON.
public struct PayloadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset inside the payload.
    public var offset: Int
    /// What was wrong.
    public var reason: String
    public var description: String { "payload byte \(offset): \(reason)" }
}

/// A forward-only scanner over one JSON payload. `package`: the reports' replay reads payloads
/// with it too; the scans its hot loop calls are `@inlinable` so they still inline across modules.
package struct PayloadScanner {
    package let p: UnsafeRawBufferPointer
    package var i = 0
    @inlinable package init(_ p: UnsafeRawBufferPointer) { self.p = p }

    @inline(__always)
    package mutating func expect(_ b: UInt8) throws(PayloadError) {
        guard i < p.count, p[i] == b else {
            throw PayloadError(offset: i, reason: "expected '\(Character(Unicode.Scalar(b)))'")
        }
        i += 1
    }

    @inline(__always)
    package func peekIs(_ b: UInt8) throws(PayloadError) -> Bool {
        guard i < p.count else { throw PayloadError(offset: i, reason: "unexpected end") }
        return p[i] == b
    }

    mutating func integer() throws(PayloadError) -> UInt64 {
        let start = i
        var v: UInt64 = 0
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(p[i] - 0x30))
            guard !o1, !o2 else { throw PayloadError(offset: start, reason: "number too large") }
            v = a
            i += 1
        }
        guard i > start else { throw PayloadError(offset: i, reason: "expected a number") }
        return v
    }

    /// The bytes of a string without escapes (keys and times), as a slice of the payload.
    /// A plain loop: these strings are a few bytes long, shorter than a `memchr` call costs.
    @inline(__always)
    mutating func rawBytesOfString() throws(PayloadError) -> UnsafeRawBufferPointer {
        try expect(0x22)
        let start = i
        while i < p.count {
            let b = p[i]
            if b == 0x22 {
                let s = UnsafeRawBufferPointer(rebasing: p[start..<i])
                i += 1
                return s
            }
            if b == 0x5C { throw PayloadError(offset: i, reason: "escape where none is allowed") }
            i += 1
        }
        throw PayloadError(offset: start, reason: "unterminated string")
    }

    /// Skips a string value, escapes and all, without building it.
    mutating func skipString() throws(PayloadError) {
        try expect(0x22)
        while i < p.count {
            let b = p[i]
            if b == 0x22 { i += 1; return }
            i += b == 0x5C ? 2 : 1
        }
        throw PayloadError(offset: i, reason: "unterminated string")
    }

    mutating func rawString() throws(PayloadError) -> String {
        String(decoding: try rawBytesOfString(), as: UTF8.self)
    }

    package mutating func string() throws(PayloadError) -> String {
        try expect(0x22)
        let start = i
        if let base = p.baseAddress, let q = memchr(base + start, 0x22, p.count - start) {
            let end = base.distance(to: UnsafeRawPointer(q))
            if memchr(base + start, 0x5C, end - start) == nil {
                i = end + 1
                return String(decoding: UnsafeRawBufferPointer(start: base + start, count: end - start), as: UTF8.self)
            }
        }
        while i < p.count, p[i] != 0x22, p[i] != 0x5C { i += 1 }
        guard i < p.count else { throw PayloadError(offset: start, reason: "unterminated string") }
        if p[i] == 0x22 {
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
            i += 1
            return s
        }
        var bytes = Array(UnsafeRawBufferPointer(rebasing: p[start..<i]))
        while true {
            guard i < p.count else { throw PayloadError(offset: start, reason: "unterminated string") }
            let b = p[i]
            if b == 0x22 { i += 1; break }
            if b != 0x5C { bytes.append(b); i += 1; continue }
            i += 1
            guard i < p.count else { throw PayloadError(offset: i, reason: "bad escape") }
            let c = p[i]
            i += 1
            switch c {
            case 0x22, 0x5C, 0x2F: bytes.append(c)
            case 0x6E: bytes.append(0x0A)
            case 0x72: bytes.append(0x0D)
            case 0x74: bytes.append(0x09)
            case 0x62: bytes.append(0x08)
            case 0x66: bytes.append(0x0C)
            case 0x75:
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), i + 6 <= p.count, p[i] == 0x5C, p[i + 1] == 0x75 {
                    i += 2
                    let low = try hex4()
                    // Anything but a low surrogate after a high one is not a character (and, added
                    // as one, would overflow): it reads as U+FFFD, as a lone surrogate does.
                    scalar = (0xDC00..<0xE000).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                bytes.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw PayloadError(offset: i - 1, reason: "bad escape")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func hex4() throws(PayloadError) -> UInt32 {
        guard i + 4 <= p.count else { throw PayloadError(offset: i, reason: "bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = p[i]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            default: throw PayloadError(offset: i, reason: "bad \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Skips any JSON value (for keys a later version may add).
    package mutating func skipValue() throws(PayloadError) {
        guard i < p.count else { throw PayloadError(offset: i, reason: "unexpected end") }
        switch p[i] {
        case 0x22: _ = try stringSlice()
        case 0x7B, 0x5B:
            let open = p[i], close: UInt8 = open == 0x7B ? 0x7D : 0x5D
            i += 1
            if try peekIs(close) { i += 1; return }
            while true {
                if open == 0x7B { _ = try string(); try expect(0x3A) }
                try skipValue()
                if try peekIs(0x2C) { i += 1; continue }
                try expect(close)
                return
            }
        default:
            let start = i
            while i < p.count, p[i] != 0x2C, p[i] != 0x7D, p[i] != 0x5D { i += 1 }
            guard i > start else { throw PayloadError(offset: i, reason: "expected a value") }
        }
    }
}

extension PayloadScanner {
    /// The index of the first quote or backslash at or after `from`, or nil when there is none. Eight
    /// bytes at a time (perf: the byte-at-a-time loops of the key, digest and identifier scans
    /// were most of `LiteRecord.parse`, itself the largest cost of a replay's parsing thread).
    @inlinable @inline(__always)
    package func quoteOrBackslash(from: Int) -> Int? {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var j = from
        while j + 8 <= p.count {
            let w = p.loadUnaligned(fromByteOffset: j, as: UInt64.self)
            let q = w ^ 0x2222_2222_2222_2222, b = w ^ 0x5C5C_5C5C_5C5C_5C5C
            // A zero byte of q or b flags a match; the lowest flag is always a true one
            // (false flags arise only above a true zero, from the borrow).
            let m = ((q &- ones) & ~q | (b &- ones) & ~b) & highs
            if m != 0 { return j + m.trailingZeroBitCount >> 3 }
            j += 8
        }
        while j < p.count {
            if p[j] == 0x22 || p[j] == 0x5C { return j }
            j += 1
        }
        return nil
    }

    /// `quoteOrBackslash` for strings that may be long (identifiers, digests, receipts): sixteen
    /// bytes at a time first (two compares and a byte mask each), then the word loop finds the
    /// byte within the block that hit, or scans the tail (perf: the word loop alone was 750 of
    /// the 2 000 instructions `LiteRecord.parse` spent per record, most of them in 64-hex digests).
    @inlinable @inline(__always)
    package func quoteOrBackslashLong(from: Int) -> Int? {
        var j = from
        let quote = SIMD16<UInt8>(repeating: 0x22), backslash = SIMD16<UInt8>(repeating: 0x5C)
        while j + 16 <= p.count {
            let v = p.loadUnaligned(fromByteOffset: j, as: SIMD16<UInt8>.self)
            if any((v .== quote) .| (v .== backslash)) { break }
            j += 16
        }
        return quoteOrBackslash(from: j)
    }

    /// Skips an unsigned integer that `integer()` would accept (and throws where it would):
    /// up to 19 digits cannot overflow, so only a longer run is read as a number.
    @inline(__always)
    package mutating func skipInteger() throws(PayloadError) {
        var j = i
        while j < p.count, p[j] >= 0x30, p[j] <= 0x39 { j += 1 }
        if j == i || j - i > 19 { _ = try integer(); return }
        i = j
    }

    /// A string without escapes (keys, times, kinds, event names, organisation numbers), as a
    /// slice of the payload; an escape is an error, as in `rawBytesOfString`.
    @inline(__always)
    package mutating func plainString() throws(PayloadError) -> UnsafeRawBufferPointer {
        try expect(0x22)
        let start = i
        guard let end = quoteOrBackslash(from: start) else {
            throw PayloadError(offset: start, reason: "unterminated string")
        }
        guard p[end] == 0x22 else { throw PayloadError(offset: end, reason: "escape where none is allowed") }
        i = end + 1
        return UnsafeRawBufferPointer(rebasing: p[start..<end])
    }

    /// A string value's raw bytes (escapes left as they are), as a slice of the payload.
    @inline(__always)
    package mutating func stringSlice() throws(PayloadError) -> UnsafeRawBufferPointer {
        try expect(0x22)
        let start = i
        var from = start
        while true {
            guard let end = quoteOrBackslashLong(from: from) else {
                throw PayloadError(offset: start, reason: "unterminated string")
            }
            if p[end] == 0x22 {
                i = end + 1
                return UnsafeRawBufferPointer(rebasing: p[start..<end])
            }
            from = end + 2  // an escape: the next byte is never the end
        }
    }
}
