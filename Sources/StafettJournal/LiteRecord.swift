import Foundation

/// The fields of a payload that the projections need, read without building a `JournalEntry`:
/// kinds, events and organisation numbers become small integers and strings are made only for
/// identifiers, which keeps a replay of a million records near a second.
struct LiteRecord {
    var time: Int64 = 0
    var kind: JournalKind = .queued
    var messageId: String?
    var caseRef: String?
    var intakeId: String?
    var dossierNumber: String?
    var personKey: PersonKeyBits?
    /// Index into `EventNames` (0: none).
    var event: Int = 0
    /// Organisation numbers as integers (0: none).
    var sender: UInt64 = 0
    var recipient: UInt64 = 0

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
                    out.messageId = try r.string()
                case 4 where key[0] == 0x63 && key[1] == 0x61:  // case
                    out.caseRef = try r.string()
                case 6 where key[0] == 0x69:  // intake
                    out.intakeId = try r.string()
                case 7 where key[0] == 0x64:  // dossier
                    out.dossierNumber = try r.string()
                case 3 where key[0] == 0x70:  // pin
                    out.personKey = PersonKeyBits(hex: try r.rawBytesOfString())
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
}

/// Event type names interned as small integers, so a replay compares integers, not strings.
struct EventNames {
    private(set) var names: [String] = [""]
    private var known: [String: Int] = [:]

    /// The index of an event name (adding it the first time it is seen).
    mutating func index(_ b: UnsafeRawBufferPointer) -> Int {
        for i in 1..<names.count {
            let n = names[i]
            if n.utf8.count == b.count, n.utf8.elementsEqual(b) { return i }
        }
        return index(String(decoding: b, as: UTF8.self))
    }

    /// The index of an event name.
    mutating func index(_ s: String) -> Int {
        if let i = known[s] { return i }
        names.append(s)
        known[s] = names.count - 1
        return names.count - 1
    }
}

/// The first 128 bits of a personnummer key (HMAC hex): enough to join on, and a hashable value
/// that costs no allocation.
struct PersonKeyBits: Hashable {
    var high: UInt64
    var low: UInt64

    init?(hex: UnsafeRawBufferPointer) {
        guard hex.count >= 32 else { return nil }
        func word(_ from: Int) -> UInt64? {
            var v: UInt64 = 0
            for k in from..<(from + 16) {
                let c = hex[k]
                let d: UInt64
                switch c {
                case 0x30...0x39: d = UInt64(c - 0x30)
                case 0x61...0x66: d = UInt64(c - 0x61 + 10)
                case 0x41...0x46: d = UInt64(c - 0x41 + 10)
                default: return nil
                }
                v = v << 4 | d
            }
            return v
        }
        guard let h = word(0), let l = word(16) else { return nil }
        high = h
        low = l
    }

    init?(hex text: String) {
        var t = Array(text.utf8)
        guard let v = t.withUnsafeMutableBytes({ PersonKeyBits(hex: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = v
    }

    /// The first 8 hex digits, for display.
    var shortHex: String {
        let s = String(high, radix: 16)
        return String((String(repeating: "0", count: 16 - s.count) + s).prefix(8))
    }
}
