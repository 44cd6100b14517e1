import Foundation

/// Why one value was refused; the reason is a sentence for a case worker.
struct FieldProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The rules for single intake values. Each returns the normalised value or throws the reason.
enum FieldRules {
    /// Earliest date accepted for dates of birth and events: older values are typing errors.
    static let earliestYear = 1990
    /// How far past the reference time an event may lie (clock skew, a list filled in at night).
    static let eventFutureSlack: TimeInterval = 86_400

    /// Length in characters and no control characters (line breaks and tabs only where allowed).
    static func text(_ s: String, max: Int, what: String, lineBreaks: Bool = false) throws(FieldProblem) -> String {
        for u in s.unicodeScalars {
            let v = u.value
            if v < 0x20 || (v >= 0x7F && v < 0xA0) || v == 0x2028 || v == 0x2029 {
                if lineBreaks && (v == 0x0A || v == 0x0D || v == 0x09) { continue }
                throw FieldProblem("contains a control character (code \(String(format: "U+%04X", v))), which "
                    + "often comes from copying out of another program: retype the \(what)")
            }
        }
        let normalised = lineBreaks && s.utf8.contains(0x0D) ? s.replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "\r", with: "\n") : s
        // UTF-8 length bounds the character count, so most values need no counting.
        if normalised.utf8.count > max, case let count = normalised.count, count > max {
            throw FieldProblem("is \(count) characters long; the \(what) may be at most \(max) characters")
        }
        return normalised
    }

    /// A given or family name: at most 200 characters, with at least one letter.
    static func name(_ s: String) throws(FieldProblem) -> String {
        let v = try text(s, max: 200, what: "name")
        guard v.unicodeScalars.contains(where: { $0.properties.isAlphabetic }) else {
            throw FieldProblem("has no letters; a name must contain letters (is this value in the wrong column?)")
        }
        return v
    }

    /// A local identifier (intake id, dossier number): 1–64 characters of letters, digits, `- / . _ :`.
    static func identifier(_ s: String, what: String) throws(FieldProblem) -> String {
        guard s.utf8.count <= 64, s.unicodeScalars.allSatisfy({ u in
            switch u.value {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2F, 0x2E, 0x5F, 0x3A, 0x20: return true
            case 0...0x7F: return false
            default: return u.properties.isAlphabetic
            }
        }) else {
            throw FieldProblem("the \(what) may only hold letters, digits, spaces and - / . _ : (at most 64)")
        }
        return s
    }

    /// A personnummer or samordningsnummer (Luhn, real date, century from `reference`).
    static func personalIdentityNumber(_ s: String, reference: Date) throws(FieldProblem) -> PersonalIdentityNumber {
        do { return try PersonalIdentityNumber(s, referenceDate: reference) } catch { throw FieldProblem(error.reason) }
    }

    /// A date `YYYY-MM-DD` (or `YYYYMMDD`), not before 1990, not after `today`.
    static func dateOfBirth(_ s: String, today: CalendarDate) throws(FieldProblem) -> CalendarDate {
        let d = try date(s)
        if d > today { throw FieldProblem("\(d.iso) is in the future: check the year") }
        return d
    }

    /// A real date `YYYY-MM-DD` or `YYYYMMDD` from 1990 on.
    static func date(_ s: String) throws(FieldProblem) -> CalendarDate {
        var scan = Scanner8(s)
        guard let (y, m, d) = scan.date(), scan.atEnd else {
            throw FieldProblem("\"\(s.prefix(20))\" is not a date: write it as YYYY-MM-DD, like 2001-04-17")
        }
        return try checked(y, m, d)
    }

    private static func checked(_ y: Int, _ m: Int, _ d: Int) throws(FieldProblem) -> CalendarDate {
        guard let date = try? CalendarDate(year: y, month: m, day: d) else {
            throw FieldProblem(String(format: "%04d-%02d-%02d is not a real date: check the day and month", y, m, d))
        }
        if y < earliestYear { throw FieldProblem("\(date.iso) is before \(earliestYear): check the year") }
        return date
    }

    /// An event time: ISO 8601 with a zone, or a Swedish wall-clock time `YYYY-MM-DD HH:MM[:SS]`,
    /// or a date alone (midnight, Swedish time).
    static func eventTime(_ s: String, reference: Date) throws(FieldProblem) -> Date {
        let hint = "write it as YYYY-MM-DD HH:MM in Swedish time, like 2015-10-23 14:05, "
            + "or with a time zone, like 2015-10-23T14:05:00+02:00"
        var scan = Scanner8(s)
        guard let (y, mo, d) = scan.date() else { throw FieldProblem("\"\(s.prefix(30))\" is not a time: " + hint) }
        let date = try checked(y, mo, d)
        var seconds = 0
        var zone: Int? = nil
        if !scan.atEnd {
            guard scan.skip("T") || scan.skipSpaces(), let h = scan.number(1...2), scan.skip(":") || scan.skip("."),
                  let mi = scan.number(2...2), h < 24, mi < 60 else {
                throw FieldProblem("\"\(s.prefix(30))\" is not a time: " + hint)
            }
            seconds = h * 3600 + mi * 60
            if scan.skip(":") {
                guard let sec = scan.number(2...2), sec <= 60 else { throw FieldProblem("the seconds are wrong: " + hint) }
                seconds += min(sec, 59)
                if scan.skip(".") || scan.skip(",") { _ = scan.number(1...9) }
            }
            _ = scan.skipSpaces()
            if scan.skip("Z") || scan.skip("z") {
                zone = 0
            } else if let sign = scan.sign() {
                guard let zh = scan.number(2...2) else { throw FieldProblem("the time zone is wrong: " + hint) }
                _ = scan.skip(":")
                let zm = scan.number(2...2) ?? 0
                guard zh <= 14, zm < 60 else { throw FieldProblem("the time zone is wrong: " + hint) }
                zone = sign * (zh * 3600 + zm * 60)
            }
            guard scan.atEnd else { throw FieldProblem("\"\(s.prefix(30))\" has extra text after the time: " + hint) }
        }
        let wall = SwedishTime.days(year: date.year, month: date.month, day: date.day) * 86_400 + seconds
        let utc: Int
        if let zone {
            utc = wall - zone
        } else {
            switch SwedishTime.instant(localSeconds: wall) {
            case .instant(let t): utc = t
            case .skipped:
                throw FieldProblem("this time does not exist in Sweden: the clocks jumped from 02:00 to 03:00 that night; "
                    + "check the hour, or give the time zone (+01:00 or +02:00)")
            }
        }
        let instant = Date(timeIntervalSince1970: TimeInterval(utc))
        if instant.timeIntervalSince(reference) > eventFutureSlack {
            throw FieldProblem("\(s.prefix(30)) lies in the future: check the date")
        }
        return instant
    }

    /// ja/nej, yes/no, true/false, 1/0, x (marked) — empty means no.
    static func flag(_ s: String) throws(FieldProblem) -> Bool {
        switch IntakeField.fold(s) {
        case "ja", "j", "yes", "y", "true", "1", "x", "sant": return true
        case "nej", "n", "no", "false", "0", "", "falskt": return false
        default: throw FieldProblem("\"\(s.prefix(20))\" is not yes or no: write ja or nej (or yes/no, x for yes)")
        }
    }

    /// flicka, pojke, kvinna, man, annat, okänt and the English words and letters.
    static func sex(_ s: String) throws(FieldProblem) -> Sex {
        switch IntakeField.fold(s) {
        case "flicka", "kvinna", "k", "female", "f", "girl", "woman": return .female
        case "pojke", "man", "m", "male", "boy": return .male
        case "annat", "annan", "other", "o", "x": return .other
        case "okant", "okand", "unknown", "u": return .unknown
        default:
            throw FieldProblem("\"\(s.prefix(20))\" is not a sex we know: write flicka, pojke, annat or okänt "
                + "(or female, male, other, unknown, F, M)")
        }
    }

    private static let eventNames: [String: EventType] = {
        var map: [String: EventType] = [:]
        for t in EventType.allCases {
            map[IntakeField.fold(t.rawValue)] = t
            map[IntakeField.fold(t.swedishTerm)] = t
        }
        let extra: [String: EventType] = [
            "registrerad": .registered, "ankomst": .registered, "ankommen": .registered,
            "asylansokan": .asylumApplicationLodged, "asylumapplication": .asylumApplicationLodged,
            "placering": .placed, "anvisad": .assigned, "anvisning": .assigned, "anvisadkommun": .assigned,
            "overflyttning": .transferSent, "transfer": .transferSent, "mottagning": .transferReceived,
            "avvikit": .reportedMissing, "avvikelse": .reportedMissing, "forsvunnen": .reportedMissing,
            "missing": .reportedMissing, "hittad": .found, "avslut": .closed, "andring": .update,
            "uppdaterad": .update,
        ]
        map.merge(extra) { a, _ in a }
        return map
    }()

    /// An event type by its English name (`Registered`) or a Swedish term (`avviken`).
    static func event(_ s: String) throws(FieldProblem) -> EventType {
        guard let t = eventNames[IntakeField.fold(s)] else {
            throw FieldProblem("\"\(s.prefix(30))\" is not an event we know: write one of registrerad, asylansökan, "
                + "placerad, anvisad, överflyttad, mottagen, avviken, återfunnen, avslutad, uppdatering "
                + "(or Registered, AsylumApplicationLodged, Placed, Assigned, TransferSent, TransferReceived, "
                + "ReportedMissing, Found, Closed, Update)")
        }
        return t
    }

    /// HVB, jourhem, familjehem, annat.
    static func placement(_ s: String) throws(FieldProblem) -> PlacementKind {
        switch IntakeField.fold(s) {
        case "hvb", "hvbhem", "hemforvardellerboende", "residentialcarehome": return .hvb
        case "jourhem", "emergencyfosterhome": return .jourhem
        case "familjehem", "fosterfamily", "fosterhome": return .familjehem
        case "annat", "annan", "other", "stodboende": return .other
        default:
            throw FieldProblem("\"\(s.prefix(30))\" is not a kind of placement we know: write HVB, jourhem, "
                + "familjehem or annat (and the home's name in its own column)")
        }
    }

    /// Splits a list value at `,` `;` `/` and whitespace.
    static func split(_ s: String) -> [String] {
        let b = Array(s.utf8)
        var out: [String] = []
        var start = 0, i = 0
        func flush(_ end: Int) { if end > start { out.append(String(decoding: b[start..<end], as: UTF8.self)) } }
        while i < b.count {
            switch b[i] {
            case 0x2C, 0x3B, 0x2F, 0x20, 0x09, 0x0A, 0x0D: flush(i); i += 1; start = i
            case 0xC2 where i + 1 < b.count && b[i + 1] == 0xA0: flush(i); i += 2; start = i  // no-break space
            default: i += 1
            }
        }
        flush(i)
        return out
    }

    /// Citizenship codes, normalised to uppercase, without duplicates.
    static func citizenships(_ items: [String]) throws(FieldProblem) -> [String] {
        var out: [String] = []
        for item in items {
            guard let code = CountryCodes.normalise(item) else {
                throw FieldProblem("\"\(item.prefix(30))\" is not an ISO 3166-1 country code: write two letters, "
                    + "like AF (Afghanistan), SY (Syria), SO (Somalia), ER (Eritrea), or XX when it is not known")
            }
            if !out.contains(code) { out.append(code) }
        }
        return out
    }

    /// Language codes, normalised to lowercase, without duplicates.
    static func languages(_ items: [String]) throws(FieldProblem) -> [String] {
        var out: [String] = []
        for item in items {
            guard let code = LanguageCodes.normalise(item) else {
                throw FieldProblem("\"\(item.prefix(30))\" is not a language code we know: write an ISO 639 code, "
                    + "like prs (Dari), ps (Pashto), ar (Arabic), so (Somali), ti (Tigrinya), fa (Persian)")
            }
            if !out.contains(code) { out.append(code) }
        }
        return out
    }
}

/// A small cursor over the UTF-8 of a value, for dates and times without regexes or Foundation formatters.
struct Scanner8 {
    private let b: [UInt8]
    private var i = 0

    init(_ s: String) { b = Array(s.utf8) }

    var atEnd: Bool { i >= b.count }

    mutating func skip(_ c: Character) -> Bool {
        guard i < b.count, let a = c.asciiValue, b[i] == a else { return false }
        i += 1
        return true
    }

    mutating func skipSpaces() -> Bool {
        let start = i
        while i < b.count, b[i] == 0x20 { i += 1 }
        return i > start
    }

    /// +1 or -1 for a leading `+` or `-` (or U+2212 minus, which Excel sometimes produces).
    mutating func sign() -> Int? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        if i + 2 < b.count, b[i] == 0xE2, b[i + 1] == 0x88, b[i + 2] == 0x92 { i += 3; return -1 }
        return nil
    }

    /// A run of digits whose length lies in `digits`.
    mutating func number(_ digits: ClosedRange<Int>) -> Int? {
        var v = 0, n = 0
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39, n < digits.upperBound {
            v = v * 10 + Int(b[i] - 0x30)
            i += 1
            n += 1
        }
        return digits.contains(n) ? v : nil
    }

    /// `YYYY-MM-DD` or `YYYYMMDD`.
    mutating func date() -> (Int, Int, Int)? {
        guard let y = number(4...4) else { return nil }
        if skip("-") {
            guard let m = number(2...2), skip("-"), let d = number(2...2) else { return nil }
            return (y, m, d)
        }
        guard let m = number(2...2), let d = number(2...2) else { return nil }
        return (y, m, d)
    }
}
