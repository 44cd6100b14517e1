import Foundation

/// Why a single field value was refused, in words a case worker can act on.
public struct FieldError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field, as named in the intake file or schema (e.g. `personnummer`).
    public var field: String
    /// The offending value, shortened; never logged for personal identity numbers.
    public var value: String
    /// What is wrong and what would be right.
    public var reason: String

    /// Creates a field error.
    public init(field: String, value: String, reason: String) {
        self.field = field
        self.value = value
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// The Luhn (mod 10) check used by personnummer, samordningsnummer and organisationsnummer.
public enum Luhn {
    /// True when the digit string passes the Luhn check.
    public static func isValid<S: Sequence>(_ digits: S) -> Bool where S.Element == UInt8 {
        var sum = 0
        var double = false
        for d in digits.reversed() {
            var v = Int(d)
            if double { v *= 2; if v > 9 { v -= 9 } }
            sum += v
            double.toggle()
        }
        return sum % 10 == 0
    }
}

/// A message id: one for the life of a message across every retry.
/// 1 to 128 characters from `A-Z a-z 0-9 . _ : -`, so it is safe in file names and XML.
public struct MessageID: Sendable, Codable, Hashable, Comparable, CustomStringConvertible {
    /// The id as text.
    public let rawValue: String

    /// Validates and wraps an id.
    public init(_ text: String) throws(FieldError) {
        guard (1...128).contains(text.utf8.count),
              text.utf8.allSatisfy({ b in
                  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                      || b == 0x2E || b == 0x5F || b == 0x3A || b == 0x2D
              })
        else {
            throw FieldError(field: "message_id", value: String(text.prefix(40)),
                             reason: "a message id is 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'")
        }
        rawValue = text
    }

    /// Wraps text its maker built from the allowed characters alone, 1 to 128 of them, where the
    /// check would cost more than the rest of the id's making.
    init(unchecked text: String) {
        assert((try? MessageID(text)) != nil, "not a valid message id: \(text)")
        rawValue = text
    }

    /// A fresh random id: 122 random bits in the lowercase form of a version-4 UUID.
    ///
    /// The receiver mints one per request (its receipt's id). Foundation's `UUID()` opens and reads
    /// /dev/urandom on every call on Linux; `SystemRandomNumberGenerator` is the getrandom(2) call
    /// alone, with no file descriptor.
    public static func random() -> MessageID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// `random()` with the bits from `generator` (tests pin them).
    static func random<G: RandomNumberGenerator>(using generator: inout G) -> MessageID {
        var high: UInt64 = generator.next(), low: UInt64 = generator.next()
        high = (high & ~0xF000) | 0x4000                // version 4: the 13th hex digit is 4
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)  // variant 10xx: the 17th is 8, 9, a or b
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for n in 0..<32 {
            if n == 8 || n == 12 || n == 16 || n == 20 { text.append(UInt8(ascii: "-")) }
            let word = n < 16 ? high : low
            text.append(hex[Int((word >> UInt64(60 - 4 * (n % 16))) & 0xF)])
        }
        // Hex digits and '-' always satisfy the character rule.
        return try! MessageID(String(decoding: text, as: UTF8.self))
    }

    public var description: String { rawValue }
    public static func < (a: MessageID, b: MessageID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// A Swedish organisationsnummer: 10 digits, Luhn-checked, written `NNNNNN-NNNN`.
public struct OrganisationNumber: Sendable, Codable, Hashable, Comparable, CustomStringConvertible {
    /// The ten digits, without the hyphen.
    public let digits: String

    /// Accepts `2120000142`, `212000-0142` or `16212000-0142` (with the `16` prefix some registers use).
    public init(_ text: String) throws(FieldError) {
        var d = text.intakeTrimmed.filter { $0 != "-" && $0 != " " }
        if d.count == 12, d.hasPrefix("16") { d.removeFirst(2) }
        guard d.count == 10, d.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw FieldError(field: "organisationsnummer", value: String(text.prefix(20)),
                             reason: "an organisationsnummer has 10 digits, like 212000-1355")
        }
        guard Luhn.isValid(d.utf8.map { $0 - 0x30 }) else {
            throw FieldError(field: "organisationsnummer", value: String(text.prefix(20)),
                             reason: "the check digit is wrong (Luhn): check for a mistyped digit")
        }
        // The third digit is at least 2 for every legal person (it tells them from personnummer).
        guard let third = d.utf8.dropFirst(2).first, third >= 0x32 else {
            throw FieldError(field: "organisationsnummer", value: String(text.prefix(20)),
                             reason: "the third digit of an organisationsnummer is 2 or more; this looks like a personnummer")
        }
        digits = d
    }

    /// `NNNNNN-NNNN`.
    public var formatted: String { "\(digits.prefix(6))-\(digits.suffix(4))" }
    public var description: String { formatted }
    public static func < (a: OrganisationNumber, b: OrganisationNumber) -> Bool { a.digits < b.digits }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(digits)
    }
}

/// A calendar date without time zone (`YYYY-MM-DD`), as dates of birth are.
public struct CalendarDate: Sendable, Codable, Hashable, Comparable, CustomStringConvertible {
    /// Year, month (1-12), day (1-31).
    public let year: Int, month: Int, day: Int

    /// Validates a date; rejects 2015-02-30.
    public init(year: Int, month: Int, day: Int) throws(FieldError) {
        guard (1900...2200).contains(year), (1...12).contains(month),
              (1...CalendarDate.daysIn(month: month, year: year)).contains(day) else {
            throw FieldError(field: "date", value: String(format: "%04d-%02d-%02d", year, month, day),
                             reason: "no such date")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD` (ISO 8601).
    public init(iso text: String) throws(FieldError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else {
            throw FieldError(field: "date", value: String(text.prefix(20)), reason: "write dates as YYYY-MM-DD, like 2015-10-23")
        }
        try self.init(year: y, month: m, day: d)
    }

    /// Days in a month, with Gregorian leap years.
    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm): calendar
    /// arithmetic without Foundation's formatters, which cost microseconds per call.
    public static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date for a day count since 1970-01-01 (the inverse of `daysSinceEpoch`).
    public static func civil(daysSinceEpoch z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// `YYYY-MM-DD`.
    public var iso: String { String(format: "%04d-%02d-%02d", year, month, day) }
    public var description: String { iso }
    public static func < (a: CalendarDate, b: CalendarDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }

    public init(from decoder: Decoder) throws {
        try self.init(iso: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(iso)
    }
}
