import Foundation

/// The fields of a payload that the projections need, read without building a `JournalEntry`:
/// kinds, events and organisation numbers become small integers, and identifiers stay slices of
/// the payload (their raw JSON bytes, valid only while the record is), so a replay of a million
/// records builds almost no strings.
struct LiteRecord {
    var time: Int64 = 0
    var kind: JournalKind = .queued
    var messageId: UnsafeRawBufferPointer?
    var caseRef: UnsafeRawBufferPointer?
    var intakeId: UnsafeRawBufferPointer?
    var dossierNumber: UnsafeRawBufferPointer?
    var personKey: UnsafeRawBufferPointer?
    /// Index into `EventNames` (0: none).
    var event: Int = 0
    /// Organisation numbers as integers (0: none).
    var sender: UInt64 = 0
    var recipient: UInt64 = 0
    /// The identifier set's key, when computed ahead (by the parsing thread of a replay).
    var setKey: CaseJoin.IdSetKey?
    /// The message id's hash (seed 5), when computed ahead; 0 otherwise.
    var messageHash: UInt64 = 0
    /// Filled by `CaseJoin.resolve`: the case node (its root once this record is joined; -1 when
    /// the record carries no identifier), whether the case is new, which identifiers are new
    /// (1 intake, 2 dossier, 4 case, 8 pin), and where its merges are in the resolver's list.
    var caseNode: Int32 = -1
    var isNewCase = false
    var newIds: UInt8 = 0
    var firstMerge: Int32 = 0
    var mergeCount: Int32 = 0

    var hasIdentifier: Bool { intakeId != nil || dossierNumber != nil || caseRef != nil || personKey != nil }

    /// Parses a payload; nil when it is not the journal's JSON.
    static func parse(_ p: UnsafeRawBufferPointer, events: inout EventNames) -> LiteRecord? {
        var r = PayloadScanner(p)
        var out = LiteRecord()
        do {
            try r.expect(0x7B)
            while true {
                let key = try r.plainString()
                try r.expect(0x3A)
                switch key.count {
                case 1 where key[0] == 0x74:  // t
                    guard let ms = ISOTime.parse(try r.plainString()) else { return nil }
                    out.time = ms
                case 4 where key[0] == 0x6B:  // kind
                    guard let k = kindOf(try r.plainString()) else { return nil }
                    out.kind = k
                case 3 where key[0] == 0x6D:  // msg
                    out.messageId = try r.stringSlice()
                case 4 where key[0] == 0x63 && key[1] == 0x61:  // case
                    out.caseRef = try r.stringSlice()
                case 6 where key[0] == 0x69:  // intake
                    out.intakeId = try r.stringSlice()
                case 7 where key[0] == 0x64 && key[1] == 0x6F:  // dossier
                    out.dossierNumber = try r.stringSlice()
                case 3 where key[0] == 0x70:  // pin
                    out.personKey = try r.stringSlice()
                case 5 where key[0] == 0x65:  // event
                    out.event = events.index(try r.plainString())
                case 4 where key[0] == 0x66:  // from
                    out.sender = digits(try r.plainString())
                case 2 where key[0] == 0x74:  // to
                    out.recipient = digits(try r.plainString())
                case 3 where key[0] == 0x73:  // seq
                    try r.skipInteger()
                default:
                    // Mostly the 64-hex digest: a string, skipped a word at a time.
                    if try r.peekIs(0x22) { _ = try r.stringSlice() } else { try r.skipValue() }
                }
                if try r.peekIs(0x2C) { r.i += 1; continue }
                try r.expect(0x7D)
                return out
            }
        } catch {
            return nil
        }
    }

    @inline(__always)
    static func digits(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var v: UInt64 = 0
        guard b.count <= 18 else { return 0 }
        // At most 18 digits: no overflow, so no checked arithmetic.
        for c in b { guard c >= 0x30 && c <= 0x39 else { return 0 }; v = v &* 10 &+ UInt64(c &- 0x30) }
        return v
    }

    static func kindOf(_ b: UnsafeRawBufferPointer) -> JournalKind? {
        switch (b.count, b.first ?? 0) {
        case (6, 0x71): return .queued
        case (4, 0x73): return .sent
        case (9, 0x64): return .delivered
        case (8, 0x72): return b[2] == 0x6A ? .rejected : b[2] == 0x63 ? .received : nil
        case (7, 0x65): return .expired
        case (7, 0x72): return .refused
        case (10, 0x63): return .checkpoint
        // Whole names here: the generic fallback builds a String per record (perf: a tenth of
        // the records are intake-accepted).
        case (15, 0x69) where bytesEqual(b, "intake-accepted"): return .intakeAccepted
        case (13, 0x69) where bytesEqual(b, "intake-failed"): return .intakeFailed
        default: return JournalKind(rawValue: String(decoding: b, as: UTF8.self))
        }
    }

    @inline(__always)
    private static func bytesEqual(_ b: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        b.count == s.utf8CodeUnitCount && memcmp(b.baseAddress!, s.utf8Start, b.count) == 0
    }

    /// A slice as text (JSON escapes decoded).
    static func text(_ b: UnsafeRawBufferPointer) -> String {
        if memchr(b.baseAddress!, 0x5C, b.count) == nil { return String(decoding: b, as: UTF8.self) }
        var quoted: [UInt8] = [0x22]
        quoted.append(contentsOf: b)
        quoted.append(0x22)
        return quoted.withUnsafeBytes { q in
            var s = PayloadScanner(q)
            return (try? s.string()) ?? String(decoding: b, as: UTF8.self)
        }
    }
}

extension PayloadScanner {
    /// The index of the first quote or backslash at or after `from`, or nil when there is none. Eight
    /// bytes at a time (perf: the byte-at-a-time loops of the key, digest and identifier scans
    /// were most of `LiteRecord.parse`, itself the largest cost of a replay's parsing thread).
    @inline(__always)
    func quoteOrBackslash(from: Int) -> Int? {
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

    /// Skips an unsigned integer that `integer()` would accept (and throws where it would):
    /// up to 19 digits cannot overflow, so only a longer run is read as a number.
    @inline(__always)
    mutating func skipInteger() throws(PayloadError) {
        var j = i
        while j < p.count, p[j] >= 0x30, p[j] <= 0x39 { j += 1 }
        if j == i || j - i > 19 { _ = try integer(); return }
        i = j
    }

    /// A string without escapes (keys, times, kinds, event names, organisation numbers), as a
    /// slice of the payload; an escape is an error, as in `rawBytesOfString`.
    @inline(__always)
    mutating func plainString() throws(PayloadError) -> UnsafeRawBufferPointer {
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
    mutating func stringSlice() throws(PayloadError) -> UnsafeRawBufferPointer {
        try expect(0x22)
        let start = i
        var from = start
        while true {
            guard let end = quoteOrBackslash(from: from) else {
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

/// Event type names interned as small integers, so a replay compares integers, not strings.
struct EventNames {
    private(set) var names: [String] = [""]
    /// Each name's bytes, one after another (`spans` says where): one flat array, so the
    /// per-record search touches no nested array (perf: their retains and `memcmp` calls were
    /// a tenth of the parsing stage).
    private var flat: [UInt8] = []
    private var spans: [(offset: Int, count: Int)] = [(0, 0)]
    private var known: [String: Int] = [:]

    /// The index of an event name (adding it the first time it is seen).
    mutating func index(_ b: UnsafeRawBufferPointer) -> Int {
        let n = b.count
        let hit: Int? = flat.withUnsafeBytes { f in
            for i in 1..<spans.count where spans[i].count == n {
                let o = spans[i].offset
                var k = 0
                while k < n, f[o + k] == b[k] { k += 1 }
                if k == n { return i }
            }
            return nil
        }
        return hit ?? index(String(decoding: b, as: UTF8.self))
    }

    /// The index of an event name.
    mutating func index(_ s: String) -> Int {
        if let i = known[s] { return i }
        names.append(s)
        spans.append((flat.count, s.utf8.count))
        flat.append(contentsOf: s.utf8)
        known[s] = names.count - 1
        return names.count - 1
    }
}
