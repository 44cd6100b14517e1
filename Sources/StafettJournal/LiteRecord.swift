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
                let key = try r.rawBytesOfString()
                try r.expect(0x3A)
                switch key.count {
                case 1 where key[0] == 0x74:  // t
                    guard let ms = ISOTime.parse(try r.rawBytesOfString()) else { return nil }
                    out.time = ms
                case 4 where key[0] == 0x6B:  // kind
                    guard let k = kindOf(try r.rawBytesOfString()) else { return nil }
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
                    out.event = events.index(try r.rawBytesOfString())
                case 4 where key[0] == 0x66:  // from
                    out.sender = digits(try r.rawBytesOfString())
                case 2 where key[0] == 0x74:  // to
                    out.recipient = digits(try r.rawBytesOfString())
                case 3 where key[0] == 0x73:  // seq
                    _ = try r.integer()
                default:
                    try r.skipValue()
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
        for c in b { guard c >= 0x30 && c <= 0x39 else { return 0 }; v = v * 10 + UInt64(c - 0x30) }
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
        default: return JournalKind(rawValue: String(decoding: b, as: UTF8.self))
        }
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
    /// A string value's raw bytes (escapes left as they are), as a slice of the payload.
    @inline(__always)
    mutating func stringSlice() throws(PayloadError) -> UnsafeRawBufferPointer {
        try expect(0x22)
        let start = i
        guard let base = p.baseAddress else { throw PayloadError(offset: i, reason: "unterminated string") }
        var from = start
        while true {
            guard let q = memchr(base + from, 0x22, p.count - from) else {
                throw PayloadError(offset: start, reason: "unterminated string")
            }
            let end = base.distance(to: UnsafeRawPointer(q))
            var bs = 0
            while end - bs - 1 >= start && p[end - bs - 1] == 0x5C { bs += 1 }
            if bs % 2 == 0 {
                i = end + 1
                return UnsafeRawBufferPointer(start: base + start, count: end - start)
            }
            from = end + 1
        }
    }
}

/// Event type names interned as small integers, so a replay compares integers, not strings.
struct EventNames {
    private(set) var names: [String] = [""]
    private var bytes: [[UInt8]] = [[]]
    private var known: [String: Int] = [:]

    /// The index of an event name (adding it the first time it is seen).
    mutating func index(_ b: UnsafeRawBufferPointer) -> Int {
        for i in 1..<bytes.count where bytes[i].count == b.count {
            if bytes[i].withUnsafeBytes({ memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0 }) { return i }
        }
        return index(String(decoding: b, as: UTF8.self))
    }

    /// The index of an event name.
    mutating func index(_ s: String) -> Int {
        if let i = known[s] { return i }
        names.append(s)
        bytes.append(Array(s.utf8))
        known[s] = names.count - 1
        return names.count - 1
    }
}
