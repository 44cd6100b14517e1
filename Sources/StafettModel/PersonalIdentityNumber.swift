import Foundation

/// A personnummer or samordningsnummer, kept in its 12-digit form `YYYYMMDDNNNC`.
///
/// Accepts `YYYYMMDD-NNNC`, `YYYYMMDDNNNC`, `YYMMDD-NNNC` and `YYMMDD+NNNC` (the `+` marks
/// a person aged 100 or more). A 10-digit number's century is inferred relative to `referenceDate`.
public struct PersonalIdentityNumber: Sendable, Codable, Hashable, CustomStringConvertible {
    /// Which register issued the number.
    public enum Kind: String, Sendable, Codable, Hashable {
        /// Personnummer, from the population register.
        case personnummer
        /// Samordningsnummer: the day of birth plus 60, for people not (yet) registered.
        case samordningsnummer
    }

    /// The twelve digits.
    public let digits: String

    /// Personnummer or samordningsnummer.
    public var kind: Kind {
        let day = Int(digits.dropFirst(6).prefix(2)) ?? 0
        return day > 60 ? .samordningsnummer : .personnummer
    }

    /// The date of birth it encodes (for a samordningsnummer, the day minus 60).
    public var dateOfBirth: CalendarDate {
        let y = Int(digits.prefix(4))!, m = Int(digits.dropFirst(4).prefix(2))!
        var d = Int(digits.dropFirst(6).prefix(2))!
        if d > 60 { d -= 60 }
        return try! CalendarDate(year: y, month: m, day: d)
    }

    /// Validates the date part, the century and the Luhn check digit.
    public init(_ text: String, referenceDate: Date = Date()) throws(FieldError) {
        let field = "personnummer"
        let trimmed = text.intakeTrimmed
        let shown = CellEcho.prefix(trimmed, 4)  // never echo a whole personnummer, nor a name shifted into its column
        let plus = trimmed.utf8.contains(0x2B)  // "+": aged 100 or more
        let d = trimmed.filter { $0 != "-" && $0 != "+" }
        guard d.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), d.count == 10 || d.count == 12 else {
            throw FieldError(field: field, value: shown,
                             reason: "a personnummer or samordningsnummer is written YYYYMMDD-NNNN or YYMMDD-NNNN")
        }
        var full = d
        let today = SwedishTime.localDate(at: referenceDate)
        if d.count == 10 {
            // The century: the latest one in which the whole date has been, not only the year
            // (in 2026, 261215 is 1926-12-15, not a child born next month); "+" means 100 more.
            // (A Foundation Calendar per number cost more than the rest of the check.)
            let yy = Int(d.prefix(2))!, mm = Int(d.dropFirst(2).prefix(2))!
            var dd = Int(d.dropFirst(4).prefix(2))!
            if dd > 60 { dd -= 60 }
            var year = (today.year / 100) * 100 + yy
            if (year, mm, dd) > (today.year, today.month, today.day) { year -= 100 }
            if plus { year -= 100 }
            full = String(year) + d.dropFirst(2)
        }
        let y = Int(full.prefix(4))!, m = Int(full.dropFirst(4).prefix(2))!
        var day = Int(full.dropFirst(6).prefix(2))!
        if day > 60 { day -= 60 }
        guard let born = try? CalendarDate(year: y, month: m, day: day) else {
            throw FieldError(field: field, value: shown, reason: "the date part is not a real date")
        }
        guard born <= today else {
            throw FieldError(field: field, value: shown, reason: "the date part lies in the future: check the year")
        }
        guard Luhn.isValid(full.utf8.dropFirst(2).map { $0 - 0x30 }) else {
            throw FieldError(field: field, value: shown,
                             reason: "the check digit is wrong (Luhn): check for a mistyped digit")
        }
        digits = full
    }

    /// The Swedish for one of the reasons a number is refused (for intake reports), nil for another text.
    static func swedishReason(_ reason: String) -> String? {
        switch reason {
        case "a personnummer or samordningsnummer is written YYYYMMDD-NNNN or YYMMDD-NNNN":
            return "ett personnummer eller samordningsnummer skrivs ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN"
        case "the date part is not a real date": return "datumdelen är inget riktigt datum"
        case "the date part lies in the future: check the year": return "datumdelen ligger i framtiden: kontrollera året"
        case "the check digit is wrong (Luhn): check for a mistyped digit":
            return "kontrollsiffran stämmer inte: kontrollera om en siffra är felskriven"
        default: return nil
        }
    }

    /// `YYYYMMDD-NNNC`.
    public var formatted: String { "\(digits.prefix(8))-\(digits.suffix(4))" }
    /// Redacted form for logs and errors: the birth date only.
    public var description: String { "\(digits.prefix(8))-****" }

    public init(from decoder: Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(digits)
    }
}
