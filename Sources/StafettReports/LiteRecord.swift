import Foundation
import StafettJournal

/// An optional slice of a payload stored without Optional's tag byte (which pads it to 24 bytes):
/// a nil base address means absent, since a slice of a payload always has one, even an empty
/// string's. Records are copied from stage to stage of a replay, so their size counts (perf: at
/// 208 bytes a record, memmove was the largest cost of the applying thread).
@propertyWrapper
struct CompactSlice {
    private var stored = UnsafeRawBufferPointer(start: nil, count: 0)

    init() {}

    var wrappedValue: UnsafeRawBufferPointer? {
        get { stored.baseAddress == nil ? nil : stored }
        set { stored = newValue ?? UnsafeRawBufferPointer(start: nil, count: 0) }
    }
}

/// The fields of a payload that the projections need, read without building a `JournalEntry`:
/// kinds, events and organisation numbers become small integers, and identifiers stay slices of
/// the payload (their raw JSON bytes, valid only while the record is), so a replay of a million
/// records builds almost no strings.
///
/// The stored fields are declared widest first, so that none is padded: the record is exactly
/// 160 bytes (`LiteRecordTests`). Small values are packed behind computed properties: the event
/// index in 16 bits, the join's flags in one byte, the event time in seconds, the intake id's
/// issuer as an offset to its digits.
struct LiteRecord {
    var time: Int64 = 0
    /// What a message-scope rule follows: the message id, or on an intake record (which has none)
    /// the intake file's name, so a rule on `kind:intake-failed` follows the file until it is
    /// accepted under the same name.
    @CompactSlice var subject: UnsafeRawBufferPointer?
    @CompactSlice var caseRef: UnsafeRawBufferPointer?
    @CompactSlice var intakeId: UnsafeRawBufferPointer?
    @CompactSlice var dossierNumber: UnsafeRawBufferPointer?
    @CompactSlice var personKey: UnsafeRawBufferPointer?
    /// Organisation numbers as integers (0: none).
    var sender: UInt64 = 0
    var recipient: UInt64 = 0
    private var key = CaseJoin.IdSetKey(a: 0, b: 0)
    /// The message id's hash (seed 5), when computed ahead; 0 otherwise.
    var messageHash: UInt64 = 0
    /// Filled by `CaseJoin.resolve`: the case node (its root once this record is joined; -1 when
    /// the record carries no identifier), whether the case is new, which identifiers are new
    /// (1 intake, 2 dossier, 4 case, 8 pin), and where its merges are in the resolver's list.
    var caseNode: Int32 = -1
    var firstMerge: Int32 = 0
    var mergeCount: Int32 = 0
    /// The message id (nil on intake records, whose `subject` is their file).
    var messageId: UnsafeRawBufferPointer? {
        get { kind == .intakeAccepted || kind == .intakeFailed ? nil : subject }
        set { subject = newValue }
    }

    /// Where the reason is, as an offset from the subject's first byte, and its length plus one
    /// (0: none). Not a slice: one more would push the record past 160 bytes, and the reason is
    /// wanted only for message items (`reason`).
    private var reasonOffset: Int32 = 0
    private var reasonStored: UInt32 = 0
    /// The event's time (`et`) in whole seconds since 1970, plus one (0: none). Seconds, not
    /// milliseconds: the deadlines it starts are hours and days, and 32 bits keep the record at
    /// 160 bytes (times before 1970 or after 2106 are not kept).
    private var eventSecondsPlusOne: UInt32 = 0
    /// Where the intake id's issuer (`iss`) is, as an offset from the intake id's first byte (0: none).
    private var issuerOffset: Int32 = 0
    /// Index into `EventNames` (0: none); `EventNames` holds at most `UInt16.max` names.
    private var eventIndex: UInt16 = 0
    var kind: JournalKind = .queued
    /// `newIds` in the low four bits, then `isNewCase` and whether `setKey` is set.
    private var flags: UInt8 = 0

    /// Index into `EventNames` (0: none).
    var event: Int {
        get { Int(eventIndex) }
        set { eventIndex = UInt16(truncatingIfNeeded: newValue) }
    }

    /// Which identifiers are new to the case (1 intake, 2 dossier, 4 case, 8 pin).
    var newIds: UInt8 {
        get { flags & 0x0F }
        set { flags = flags & ~0x0F | newValue & 0x0F }
    }

    /// Whether the record opened a new case.
    var isNewCase: Bool {
        get { flags & 0x10 != 0 }
        set { flags = newValue ? flags | 0x10 : flags & ~0x10 }
    }

    private var hasKey: Bool {
        get { flags & 0x20 != 0 }
        set { flags = newValue ? flags | 0x20 : flags & ~0x20 }
    }

    /// When the event happened, in milliseconds since 1970 (whole seconds); nil when the record
    /// does not say (records written before event times were journaled: use `time`).
    var eventTime: Int64? {
        get { eventSecondsPlusOne == 0 ? nil : (Int64(eventSecondsPlusOne) - 1) * 1000 }
        set {
            let seconds = newValue.map { $0 >= 0 ? $0 / 1000 : -1 } ?? -1
            eventSecondsPlusOne = (0..<Int64(UInt32.max)).contains(seconds) ? UInt32(seconds + 1) : 0
        }
    }

    /// The organisation that issued `intakeId`: the record's `iss` when it names one, else its
    /// sender (always, for records written before issuers were journaled); 0 when unknown or
    /// not a number. Join intake ids by (this, `intakeId`).
    var intakeIdIssuer: UInt64 {
        guard issuerOffset != 0, let id = intakeId else { return sender }
        // The digits end at the closing quote, which the parse has seen.
        let start = id.baseAddress! + Int(issuerOffset)
        var n = 0
        while n <= 18, start.load(fromByteOffset: n, as: UInt8.self) != 0x22 { n += 1 }
        return LiteRecord.digits(UnsafeRawBufferPointer(start: start, count: n))
    }

    /// Keeps `slice` as the issuer's digits, when the record has an intake id to count from.
    @inline(__always)
    private mutating func setIssuer(_ slice: UnsafeRawBufferPointer?) {
        guard let slice, let id = intakeId, let o = Int32(exactly: slice.baseAddress! - id.baseAddress!), o != 0 else { return }
        issuerOffset = o
    }

    /// The reason's bytes (raw JSON, escapes kept), for a record with a subject.
    var reason: UnsafeRawBufferPointer? {
        guard reasonStored > 0, let m = subject else { return nil }
        return UnsafeRawBufferPointer(start: m.baseAddress! + Int(reasonOffset), count: Int(reasonStored - 1))
    }

    /// Keeps `slice` as the reason, when the record has a subject to count from.
    @inline(__always)
    private mutating func setReason(_ slice: UnsafeRawBufferPointer?) {
        guard let slice, let m = subject, slice.count < Int(UInt32.max) else { return }
        let offset = slice.baseAddress! - m.baseAddress!
        guard let o = Int32(exactly: offset) else { return }
        reasonOffset = o
        reasonStored = UInt32(slice.count) + 1
    }

    /// Makes an intake record's file its subject (other records keep their message id).
    @inline(__always)
    private mutating func takeFile(_ file: UnsafeRawBufferPointer?) {
        if subject == nil, kind == .intakeAccepted || kind == .intakeFailed { subject = file }
    }

    /// The identifier set's key, when computed ahead (by the parsing thread of a replay).
    var setKey: CaseJoin.IdSetKey? {
        get { hasKey ? key : nil }
        set { key = newValue ?? CaseJoin.IdSetKey(a: 0, b: 0); hasKey = newValue != nil }
    }

    var hasIdentifier: Bool { intakeId != nil || dossierNumber != nil || caseRef != nil || personKey != nil }

    /// Parses a payload; nil when it is not the journal's JSON.
    @inline(__always)
    static func parse(_ p: UnsafeRawBufferPointer, events: inout EventNames) -> LiteRecord? {
        if let r = parseWritten(p, events: &events) { return r }
        return parseAnyShape(p, events: &events)
    }

    /// The fast path of `parse`, for payloads as `EntryCodec` writes them: every key one this
    /// version knows (matched as one 8-byte word, not scanned), no escapes in the fields read as
    /// plain text (time, kind, event, organisations), no checkpoint seal. It returns exactly what
    /// `parseAnyShape` returns for such a payload, and nil (for `parseAnyShape` to decide) for
    /// anything else: unknown keys, escapes where they would need decoding, a seal, bad values.
    /// Strings are scanned sixteen bytes at a time; fixed-width values (the 24-byte time, 10-digit
    /// organisation numbers) are checked in place (perf: the key-by-key scanner spent about
    /// 2 000 instructions per record, a third of a whole replay's).
    static func parseWritten(_ p: UnsafeRawBufferPointer, events: inout EventNames) -> LiteRecord? {
        guard let b = p.baseAddress, p.count >= 10, b.load(as: UInt8.self) == 0x7B else { return nil }
        let n = p.count
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var out = LiteRecord()
        var event: UnsafeRawBufferPointer?
        var reason: UnsafeRawBufferPointer?
        var issuer: UnsafeRawBufferPointer?
        var file: UnsafeRawBufferPointer?
        var i = 1
        @inline(__always) func byte(_ k: Int) -> UInt8 { b.load(fromByteOffset: k, as: UInt8.self) }
        @inline(__always) func slice(_ from: Int, _ to: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: b + from, count: to - from)
        }
        /// The end (closing quote) of the string whose first byte is at `from`, escapes skipped; -1 if none.
        @inline(__always) func stringEnd(_ from: Int) -> Int {
            var j = from
            while true {
                guard let e = PayloadScanner(p).quoteOrBackslashLong(from: j) else { return -1 }
                if byte(e) == 0x22 { return e }
                j = e + 2  // an escape: the next byte is never the end
            }
        }
        /// The end of a string that must hold no escape; -1 when it has one or no end.
        @inline(__always) func plainEnd(_ from: Int) -> Int {
            guard let e = PayloadScanner(p).quoteOrBackslash(from: from), byte(e) == 0x22 else { return -1 }
            return e
        }
        while true {
            // A key: `"` then up to 7 bytes and `"`, read as one word.
            guard i + 9 <= n, byte(i) == 0x22 else { return nil }
            let w = (b + i + 1).loadUnaligned(as: UInt64.self)
            let x = w ^ 0x2222_2222_2222_2222
            let flags = (x &- ones) & ~x & highs  // the lowest flag marks the first quote
            guard flags != 0 else { return nil }
            let keyLength = flags.trailingZeroBitCount >> 3
            let key = keyLength == 7 ? w : w & ((1 << UInt64((keyLength + 1) * 8)) &- 1)
            i += keyLength + 2
            guard i + 2 <= n, byte(i) == 0x3A else { return nil }
            i += 1
            let isString = byte(i) == 0x22
            let s = i + 1  // a string value's first byte
            switch key {
            case 0x2271_6573:  // seq"
                var j = i
                while j < n, byte(j) >= 0x30, byte(j) <= 0x39 { j += 1 }
                guard j > i, j - i <= 19 else { return nil }
                i = j
            case 0x2274:  // t"
                guard isString, s + 24 < n, byte(s + 24) == 0x22,
                      let ms = ISOTime.parse(slice(s, s + 24), memo: &events.dayMemo) else { return nil }
                out.time = ms
                i = s + 25
            case 0x22_7465:  // et"
                guard isString, s + 24 < n, byte(s + 24) == 0x22,
                      let ms = ISOTime.parse(slice(s, s + 24), memo: &events.eventDayMemo) else { return nil }
                out.eventTime = ms
                i = s + 25
            case 0x2273_7369:  // iss"
                let e = isString ? plainEnd(s) : -1
                guard e >= 0 else { return nil }
                issuer = slice(s, e)
                i = e + 1
            case 0x22_646E_696B:  // kind"
                let e = isString ? plainEnd(s) : -1
                guard e >= 0, let k = kindOf(slice(s, e)) else { return nil }
                out.kind = k
                i = e + 1
            case 0x2274_6E65_7665:  // event"
                let e = isString ? plainEnd(s) : -1
                guard e >= 0, event == nil else { return nil }  // interned once, at the end
                event = slice(s, e)
                i = e + 1
            case 0x22_6D6F_7266, 0x22_6F74:  // from", to"
                guard isString else { return nil }
                var v: UInt64 = 0, allDigits = s + 10 < n && byte(s + 10) == 0x22
                if allDigits {
                    for k in s..<(s + 10) {
                        let c = byte(k)
                        allDigits = allDigits && c >= 0x30 && c <= 0x39
                        v = v &* 10 &+ UInt64(c &- 0x30)
                    }
                }
                if allDigits {
                    // Ten digits then the quote: no quote or escape can hide inside.
                    i = s + 11
                } else {
                    let e = plainEnd(s)
                    guard e >= 0 else { return nil }
                    v = digits(slice(s, e))
                    i = e + 1
                }
                if key == 0x22_6F74 { out.recipient = v } else { out.sender = v }
            default:
                // Slices kept as they are (escapes and all), and values skipped: both strings here.
                guard isString else { return nil }
                let e = stringEnd(s)
                guard e >= 0 else { return nil }
                let v = slice(s, e)
                switch key {
                case 0x2267_736D: out.subject = v  // msg"
                case 0x22_656C_6966: file = v  // file"
                case 0x22_6573_6163: out.caseRef = v  // case"
                case 0x0022_656B_6174_6E69: out.intakeId = v  // intake"
                case 0x2272_6569_7373_6F64: out.dossierNumber = v  // dossier"
                case 0x226E_6970: out.personKey = v  // pin"
                case 0x0022_6E6F_7361_6572: reason = v  // reason"
                case 0x0022_7473_6567_6964, 0x0022_7375_7461_7473,  // digest" status"
                     0x2274_7069_6563_6572, 0x2274_7365_6769_6472:  // receipt" rdigest"
                    break
                default: return nil  // a key this version does not know, or the seal: parseAnyShape
                }
                i = e + 1
            }
            guard i < n else { return nil }
            if byte(i) == 0x2C { i += 1; continue }
            guard byte(i) == 0x7D else { return nil }
            if let event { out.event = events.index(event) }
            if file != nil { out.takeFile(file) }
            if reason != nil { out.setReason(reason) }
            if issuer != nil { out.setIssuer(issuer) }
            return out
        }
    }

    /// Parses a payload with its keys in any order, unknown keys skipped.
    static func parseAnyShape(_ p: UnsafeRawBufferPointer, events: inout EventNames) -> LiteRecord? {
        var r = PayloadScanner(p)
        var out = LiteRecord()
        var reason: UnsafeRawBufferPointer?
        var issuer: UnsafeRawBufferPointer?
        var file: UnsafeRawBufferPointer?
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
                    out.subject = try r.stringSlice()
                case 4 where key[0] == 0x66 && key[1] == 0x69:  // file
                    if try r.peekIs(0x22) { file = try r.stringSlice() } else { try r.skipValue() }
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
                case 4 where key[0] == 0x66 && key[1] == 0x72:  // from (not "file")
                    out.sender = digits(try r.plainString())
                case 2 where key[0] == 0x74:  // to
                    out.recipient = digits(try r.plainString())
                case 2 where key[0] == 0x65:  // et
                    guard let ms = ISOTime.parse(try r.plainString()) else { return nil }
                    out.eventTime = ms
                case 3 where key[0] == 0x69:  // iss
                    issuer = try r.stringSlice()
                case 3 where key[0] == 0x73:  // seq
                    try r.skipInteger()
                case 6 where key[0] == 0x72 && key.elementsEqual("reason".utf8):
                    if try r.peekIs(0x22) { reason = try r.stringSlice() } else { try r.skipValue() }
                default:
                    // Mostly the 64-hex digest: a string, skipped a word at a time.
                    if try r.peekIs(0x22) { _ = try r.stringSlice() } else { try r.skipValue() }
                }
                if try r.peekIs(0x2C) { r.i += 1; continue }
                try r.expect(0x7D)
                // Set last: the message id may come after the reason, the intake id after its issuer.
                if file != nil { out.takeFile(file) }
                if reason != nil { out.setReason(reason) }
                if issuer != nil { out.setIssuer(issuer) }
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
        case (9, 0x77): return .withdrawn
        case (8, 0x72): return b[2] == 0x6A ? .rejected : b[2] == 0x63 ? .received : nil
        case (7, 0x65): return .expired
        case (7, 0x72): return b[2] == 0x66 ? .refused : b[2] == 0x6D ? .removed : nil
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

/// Event type names interned as small integers, so a replay compares integers, not strings.
struct EventNames {
    private(set) var names: [String] = [""]
    /// Each name's bytes, one after another (`spans` says where): one flat array, so the
    /// per-record search touches no nested array (perf: their retains and `memcmp` calls were
    /// a tenth of the parsing stage).
    private var flat: [UInt8] = []
    private var spans: [(offset: Int, count: Int)] = [(0, 0)]
    private var known: [String: Int] = [:]

    /// Each name's first eight bytes (zero-padded) as a word, to rule out most names with one compare.
    private var heads: [UInt64] = [0]
    /// Not about event names: the day of the last time read, kept here because this is the state
    /// every reader of payloads already carries (see `ISOTime.parse(_:memo:)`).
    var dayMemo = ISOTime.DayMemo()
    /// The same for event times, whose days differ from the records' own (one memo for both
    /// would miss on every record that has both).
    var eventDayMemo = ISOTime.DayMemo()

    @inline(__always)
    private static func head(_ b: UnsafeRawBufferPointer) -> UInt64 {
        if b.count >= 8 { return b.loadUnaligned(as: UInt64.self) }
        var w: UInt64 = 0
        for k in 0..<b.count { w |= UInt64(b[k]) << UInt64(k * 8) }
        return w
    }

    /// The index of an event name (adding it the first time it is seen).
    mutating func index(_ b: UnsafeRawBufferPointer) -> Int {
        let n = b.count, h = EventNames.head(b)
        let hit: Int? = flat.withUnsafeBytes { f in
            for i in 1..<spans.count where heads[i] == h && spans[i].count == n {
                // The head matched: compare what follows it.
                if n <= 8 || memcmp(f.baseAddress! + spans[i].offset + 8, b.baseAddress! + 8, n - 8) == 0 { return i }
            }
            return nil
        }
        return hit ?? index(String(decoding: b, as: UTF8.self))
    }

    /// The index of an event name; 0 (none) for a name beyond the first `UInt16.max`, which no
    /// journal Stafett writes has (a `LiteRecord` keeps the index in 16 bits).
    mutating func index(_ s: String) -> Int {
        if let i = known[s] { return i }
        guard names.count <= Int(UInt16.max) else { return 0 }
        names.append(s)
        heads.append(Array(s.utf8).withUnsafeBytes { EventNames.head($0) })
        spans.append((flat.count, s.utf8.count))
        flat.append(contentsOf: s.utf8)
        known[s] = names.count - 1
        return names.count - 1
    }
}
