import Foundation

/// Why one value was refused; the reason is a sentence for a case worker.
struct FieldProblem: Error {
    let reason: String
    /// The reason in Swedish, where it is written.
    let swedish: String?
    init(_ reason: String, sv: String? = nil) {
        self.reason = reason
        self.swedish = sv
    }

    /// The Swedish for the `what` of a rule ("name" → "namnet").
    static func swedish(_ what: String) -> String {
        switch what {
        case "name": return "namnet"
        case "intake id": return "ärendenumret"
        case "dossier number": return "dossiernumret"
        case "place": return "platsen"
        case "placement name": return "placeringens namn"
        case "note": return "anteckningen"
        default: return what
        }
    }
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
                    + "often comes from copying out of another program: retype the \(what)",
                    sv: "innehåller ett styrtecken (kod \(String(format: "U+%04X", v))), som ofta följer med när man kopierar "
                    + "från ett annat program: skriv \(FieldProblem.swedish(what)) igen")
            }
        }
        let normalised = lineBreaks && s.utf8.contains(0x0D) ? s.replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "\r", with: "\n") : s
        // Counted as the schema counts (code points: an emoji with a skin tone is two, a decomposed
        // å two), or a value accepted here would fail the case message's XSD. UTF-8 length bounds
        // that count, so most values need no counting.
        if normalised.utf8.count > max, case let count = normalised.unicodeScalars.count, count > max {
            throw FieldProblem("is \(count) characters long; the \(what) may be at most \(max) characters",
                               sv: "är \(count) tecken lång; \(FieldProblem.swedish(what)) får vara högst \(max) tecken")
        }
        return normalised
    }

    /// A given or family name: at most 200 characters, with at least one letter.
    static func name(_ s: String) throws(FieldProblem) -> String {
        let v = try text(s, max: 200, what: "name")
        guard v.unicodeScalars.contains(where: { $0.properties.isAlphabetic }) else {
            throw FieldProblem("has no letters; a name must contain letters (is this value in the wrong column?)",
                               sv: "har inga bokstäver; ett namn måste innehålla bokstäver (står värdet i fel kolumn?)")
        }
        return v
    }

    /// `text` over bytes: plain values are kept as they are; anything else goes to the String rule.
    static func text(_ u: UTF8Bytes, max: Int, what: String, lineBreaks: Bool = false) throws(FieldProblem) -> String {
        if IntakeBytes.isPlainText(u, max: max, lineBreaks: lineBreaks) { return u.string }
        return try text(u.string, max: max, what: what, lineBreaks: lineBreaks)
    }

    /// `name` over bytes: a plain value with an ASCII letter needs no Unicode properties.
    static func name(_ u: UTF8Bytes) throws(FieldProblem) -> String {
        if IntakeBytes.isPlainText(u, max: 200, lineBreaks: false),
           u.contains(where: { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) {
            return u.string
        }
        return try name(u.string)
    }

    /// A local identifier (intake id, dossier number): 1–`max` characters of letters, digits,
    /// `- / . _ :` (the schema's limit: 64 for an intake id, 32 for a dossier number).
    static func identifier(_ s: String, what: String, max: Int = 64) throws(FieldProblem) -> String {
        guard s.unicodeScalars.count <= max, s.unicodeScalars.allSatisfy({ u in
            switch u.value {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2F, 0x2E, 0x5F, 0x3A, 0x20: return true
            case 0...0x7F: return false
            default: return u.properties.isAlphabetic
            }
        }) else {
            throw FieldProblem("the \(what) may only hold letters, digits, spaces and - / . _ : (at most \(max))",
                               sv: "\(FieldProblem.swedish(what)) får bara innehålla bokstäver, siffror, mellanslag och - / . _ : (högst \(max))")
        }
        return s
    }

    /// `identifier` over bytes: ASCII values are checked here; others go to the String rule.
    static func identifier(_ u: UTF8Bytes, what: String, max: Int = 64) throws(FieldProblem) -> String {
        var plain = u.count <= max
        let (low, high) = identifierASCII
        for b in u where plain {
            plain = b < 64 ? low >> UInt64(b) & 1 == 1 : b < 128 && high >> UInt64(b - 64) & 1 == 1
        }
        return plain ? u.string : try identifier(u.string, what: what, max: max)
    }

    /// The ASCII bytes `identifier` allows, one bit each (bytes 128 and up are never set).
    private static let identifierASCII: (UInt64, UInt64) = {
        var low: UInt64 = 0, high: UInt64 = 0
        for b in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-/._: ".utf8 {
            if b < 64 { low |= 1 << UInt64(b) } else { high |= 1 << UInt64(b - 64) }
        }
        return (low, high)
    }()

    /// A personnummer or samordningsnummer (Luhn, real date, century from `reference`).
    static func personalIdentityNumber(_ u: UTF8Bytes, reference: Date) throws(FieldProblem) -> PersonalIdentityNumber {
        do { return try PersonalIdentityNumber(u.string, referenceDate: reference) } catch {
            throw FieldProblem(error.reason, sv: PersonalIdentityNumber.swedishReason(error.reason))
        }
    }

    /// A date `YYYY-MM-DD` (or `YYYYMMDD`), not before 1990, not after `today`.
    static func dateOfBirth(_ u: UTF8Bytes, today: CalendarDate) throws(FieldProblem) -> CalendarDate {
        let d = try date(u)
        if d > today { throw FieldProblem("\(d.iso) is in the future: check the year", sv: "\(d.iso) ligger i framtiden: kontrollera året") }
        return d
    }

    /// A real date `YYYY-MM-DD` or `YYYYMMDD` from 1990 on.
    static func date(_ u: UTF8Bytes) throws(FieldProblem) -> CalendarDate {
        var scan = Scanner8(u)
        guard let (y, m, d) = scan.date(), scan.atEnd else {
            throw FieldProblem("\(CellEcho.quoted(u.string, limit: 20)) is not a date: write it as YYYY-MM-DD, like 2001-04-17",
                               sv: "\(CellEcho.quotedSwedish(u.string, limit: 20)) är inget datum: skriv det som ÅÅÅÅ-MM-DD, till exempel 2001-04-17")
        }
        return try checked(y, m, d)
    }

    private static func checked(_ y: Int, _ m: Int, _ d: Int) throws(FieldProblem) -> CalendarDate {
        guard let date = try? CalendarDate(year: y, month: m, day: d) else {
            throw FieldProblem(String(format: "%04d-%02d-%02d is not a real date: check the day and month", y, m, d),
                               sv: String(format: "%04d-%02d-%02d är inget riktigt datum: kontrollera dag och månad", y, m, d))
        }
        if y < earliestYear {
            throw FieldProblem("\(date.iso) is before \(earliestYear): check the year", sv: "\(date.iso) är före \(earliestYear): kontrollera året")
        }
        return date
    }

    private static let timeHint = "write it as YYYY-MM-DD HH:MM in Swedish time, like 2015-10-23 14:05, "
        + "or with a time zone, like 2015-10-23T14:05:00+02:00"
    private static let swedishTimeHint = "skriv den som ÅÅÅÅ-MM-DD TT:MM i svensk tid, till exempel 2015-10-23 14:05, "
        + "eller med tidszon, till exempel 2015-10-23T14:05:00+02:00"

    /// An event time: ISO 8601 with a zone, or a Swedish wall-clock time `YYYY-MM-DD HH:MM[:SS]`,
    /// or a date alone (midnight, Swedish time).
    static func eventTime(_ u: UTF8Bytes, reference: Date) throws(FieldProblem) -> Date {
        func notATime() -> FieldProblem {
            FieldProblem("\(CellEcho.quoted(u.string, limit: 30)) is not a time: " + timeHint,
                         sv: "\(CellEcho.quotedSwedish(u.string, limit: 30)) är ingen tidpunkt: " + swedishTimeHint)
        }
        var scan = Scanner8(u)
        guard let (y, mo, d) = scan.date() else { throw notATime() }
        let date = try checked(y, mo, d)
        var seconds = 0
        var zone: Int? = nil
        if !scan.atEnd {
            guard scan.skip(UInt8(ascii: "T")) || scan.skipSpaces(), let h = scan.number(1...2),
                  scan.skip(UInt8(ascii: ":")) || scan.skip(UInt8(ascii: ".")),
                  let mi = scan.number(2...2), h < 24, mi < 60 else {
                throw notATime()
            }
            seconds = h * 3600 + mi * 60
            if scan.skip(UInt8(ascii: ":")) {
                guard let sec = scan.number(2...2), sec <= 60 else { throw FieldProblem("the seconds are wrong: " + timeHint) }
                seconds += min(sec, 59)
                if scan.skip(UInt8(ascii: ".")) || scan.skip(UInt8(ascii: ",")) {
                    guard scan.number(1...9) != nil else { throw FieldProblem("the fraction of a second is wrong: " + timeHint) }
                }
            }
            _ = scan.skipSpaces()
            if scan.skip(UInt8(ascii: "Z")) || scan.skip(UInt8(ascii: "z")) {
                zone = 0
            } else if let sign = scan.sign() {
                guard let zh = scan.number(2...2) else { throw FieldProblem("the time zone is wrong: " + timeHint) }
                // +02, +0200 or +02:00; a half-written offset (+02:3, +02:) is an error, not +02:00.
                let colon = scan.skip(UInt8(ascii: ":"))
                var zm = 0
                if !scan.atEnd {
                    guard let m = scan.number(2...2) else { throw FieldProblem("the time zone is wrong: " + timeHint) }
                    zm = m
                } else if colon {
                    throw FieldProblem("the time zone is wrong: " + timeHint)
                }
                guard zh <= 14, zm < 60 else { throw FieldProblem("the time zone is wrong: " + timeHint) }
                zone = sign * (zh * 3600 + zm * 60)
            }
            guard scan.atEnd else {
                throw FieldProblem("\(CellEcho.quoted(u.string, limit: 30)) has extra text after the time: " + timeHint)
            }
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
                    + "check the hour, or give the time zone (+01:00 or +02:00)",
                    sv: "den tiden finns inte i Sverige: klockan hoppade från 02:00 till 03:00 den natten; "
                    + "kontrollera timmen, eller ange tidszon (+01:00 eller +02:00)")
            }
        }
        let instant = Date(timeIntervalSince1970: TimeInterval(utc))
        if instant.timeIntervalSince(reference) > eventFutureSlack {
            throw FieldProblem("\(CellEcho.quoted(u.string)) lies in the future: check the date",
                               sv: "\(CellEcho.quotedSwedish(u.string)) ligger i framtiden: kontrollera datumet")
        }
        return instant
    }

    private static let flags = FoldedWords<Bool>([
        ("ja", true), ("j", true), ("yes", true), ("y", true), ("true", true), ("1", true), ("x", true), ("sant", true),
        ("nej", false), ("n", false), ("no", false), ("false", false), ("0", false), ("", false), ("falskt", false),
    ])

    /// ja/nej, yes/no, true/false, 1/0, x (marked) — empty means no.
    static func flag(_ u: UTF8Bytes) throws(FieldProblem) -> Bool {
        guard let b = IntakeField.lookUp(u, in: flags) else {
            throw FieldProblem("\(CellEcho.quoted(u.string, limit: 20)) is not yes or no: write ja or nej (or yes/no, x for yes)",
                               sv: "\(CellEcho.quotedSwedish(u.string, limit: 20)) är varken ja eller nej: skriv ja eller nej (eller x för ja)")
        }
        return b
    }

    private static let sexes = FoldedWords<Sex>([
        ("flicka", .female), ("kvinna", .female), ("k", .female), ("female", .female), ("f", .female),
        ("girl", .female), ("woman", .female),
        ("pojke", .male), ("man", .male), ("m", .male), ("male", .male), ("boy", .male),
        ("annat", .other), ("annan", .other), ("other", .other), ("o", .other), ("x", .other),
        ("okant", .unknown), ("okand", .unknown), ("unknown", .unknown), ("u", .unknown),
    ])

    /// flicka, pojke, kvinna, man, annat, okänt and the English words and letters.
    static func sex(_ u: UTF8Bytes) throws(FieldProblem) -> Sex {
        guard let sex = IntakeField.lookUp(u, in: sexes) else {
            throw FieldProblem("\(CellEcho.quoted(u.string, limit: 20)) is not a sex we know: write flicka, pojke, annat or okänt "
                + "(or female, male, other, unknown, F, M)",
                sv: "\(CellEcho.quotedSwedish(u.string, limit: 20)) är inget kön vi känner till: skriv flicka, pojke, annat eller okänt")
        }
        return sex
    }

    private static let eventNames: FoldedWords<EventType> = {
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
        return FoldedWords(map.map { ($0.key, $0.value) })
    }()

    /// An event type by its English name (`Registered`) or a Swedish term (`avviken`).
    static func event(_ u: UTF8Bytes) throws(FieldProblem) -> EventType {
        guard let t = IntakeField.lookUp(u, in: eventNames) else {
            throw FieldProblem("\(CellEcho.quoted(u.string, limit: 30)) is not an event we know: write one of registrerad, asylansökan, "
                + "placerad, anvisad, överflyttad, mottagen, avviken, återfunnen, avslutad, uppdatering "
                + "(or Registered, AsylumApplicationLodged, Placed, Assigned, TransferSent, TransferReceived, "
                + "ReportedMissing, Found, Closed, Update)",
                sv: "\(CellEcho.quotedSwedish(u.string, limit: 30)) är ingen händelse vi känner till: skriv en av registrerad, "
                + "asylansökan, placerad, anvisad, överflyttad, mottagen, avviken, återfunnen, avslutad, uppdatering")
        }
        return t
    }

    private static let placements = FoldedWords<PlacementKind>([
        ("hvb", .hvb), ("hvbhem", .hvb), ("hemforvardellerboende", .hvb), ("residentialcarehome", .hvb),
        ("jourhem", .jourhem), ("emergencyfosterhome", .jourhem),
        ("familjehem", .familjehem), ("fosterfamily", .familjehem), ("fosterhome", .familjehem),
        ("annat", .other), ("annan", .other), ("other", .other), ("stodboende", .other),
    ])

    /// HVB, jourhem, familjehem, annat.
    static func placement(_ u: UTF8Bytes) throws(FieldProblem) -> PlacementKind {
        guard let kind = IntakeField.lookUp(u, in: placements) else {
            throw FieldProblem("\(CellEcho.quoted(u.string, limit: 30)) is not a kind of placement we know: write HVB, jourhem, "
                + "familjehem or annat (and the home's name in its own column)")
        }
        return kind
    }

    /// Splits a list value at `,` `;` `/` and whitespace.
    static func split(_ s: String) -> [String] {
        var s = s
        return s.withUTF8 { u in ListItems(u, text: 0..<u.count).map { u[bytes: $0].string } }
    }

    /// Citizenship codes, normalised to uppercase, without duplicates.
    static func citizenships(_ items: ListItems) throws(FieldProblem) -> [String] {
        var out: [String] = []
        for r in items {
            let item = items.bytes[bytes: r]
            guard let code = CountryCodes.normalise(item) else {
                throw FieldProblem("\(CellEcho.quoted(item.string, limit: 30)) is not an ISO 3166-1 country code: write two letters, "
                    + "like AF (Afghanistan), SY (Syria), SO (Somalia), ER (Eritrea), or XX when it is not known")
            }
            // An array literal allocates in one step where the first append regrows.
            if out.isEmpty { out = [code] } else if !out.contains(code) { out.append(code) }
        }
        return out
    }

    /// Language codes, normalised to lowercase, without duplicates.
    static func languages(_ items: ListItems) throws(FieldProblem) -> [String] {
        var out: [String] = []
        for r in items {
            let item = items.bytes[bytes: r]
            guard let code = LanguageCodes.normalise(item) else {
                throw FieldProblem("\(CellEcho.quoted(item.string, limit: 30)) is not a language code we know: write an ISO 639 code, "
                    + "like prs (Dari), ps (Pashto), ar (Arabic), so (Somali), ti (Tigrinya), fa (Persian)")
            }
            // An array literal allocates in one step where the first append regrows.
            if out.isEmpty { out = [code] } else if !out.contains(code) { out.append(code) }
        }
        return out
    }
}

/// The items of a list value: split at `,` `;` `/`, whitespace and no-break spaces, over one
/// text value or over each string of a JSON list, without building the pieces.
struct ListItems: Sequence, IteratorProtocol {
    /// The text the ranges point into.
    let bytes: UTF8Bytes
    private var rest: Range<Int>
    private var pieces: ArraySlice<Range<Int>>

    /// The items of the text at `text`.
    init(_ bytes: UTF8Bytes, text: Range<Int>) {
        self.bytes = bytes
        rest = text
        pieces = []
    }

    /// The items of each string of a list, in order.
    init(_ bytes: UTF8Bytes, strings: ArraySlice<Range<Int>>) {
        self.bytes = bytes
        rest = 0..<0
        pieces = strings
    }

    /// No items at all.
    static func none(_ bytes: UTF8Bytes) -> ListItems { ListItems(bytes, text: 0..<0) }

    /// The next item's range in `bytes`.
    mutating func next() -> Range<Int>? {
        while true {
            var i = rest.lowerBound
            let end = rest.upperBound
            // Skip separators.
            while i < end {
                let b = bytes[i]
                if IntakeBytes.isListSeparator(b) { i += 1; continue }
                if b == 0xC2, i + 1 < end, bytes[i + 1] == 0xA0 { i += 2; continue }
                break
            }
            if i == end {
                guard let piece = pieces.popFirst() else {
                    rest = end..<end
                    return nil
                }
                rest = piece
                continue
            }
            let start = i
            while i < end {
                let b = bytes[i]
                if IntakeBytes.isListSeparator(b) || (b == 0xC2 && i + 1 < end && bytes[i + 1] == 0xA0) { break }
                i += 1
            }
            rest = i..<end
            return start..<i
        }
    }
}

/// A small cursor over the UTF-8 of a value, for dates and times without regexes or Foundation formatters.
struct Scanner8 {
    private let b: UTF8Bytes
    private var i = 0

    init(_ bytes: UTF8Bytes) { b = bytes }

    var atEnd: Bool { i >= b.count }

    mutating func skip(_ a: UInt8) -> Bool {
        guard i < b.count, b[i] == a else { return false }
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
        if skip(UInt8(ascii: "+")) { return 1 }
        if skip(UInt8(ascii: "-")) { return -1 }
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

    /// Exactly `count` digits at `at`, without moving.
    private func digits(at: Int, _ count: Int) -> Int? {
        var v = 0
        for k in at..<at + count {
            let d = b[k] &- 0x30
            guard d <= 9 else { return nil }
            v = v * 10 + Int(d)
        }
        return v
    }

    /// `YYYY-MM-DD` or `YYYYMMDD`.
    mutating func date() -> (Int, Int, Int)? {
        // The usual form in one go; it reads exactly what the steps below would.
        if i + 10 <= b.count, b[i + 4] == 0x2D, b[i + 7] == 0x2D,
           let y = digits(at: i, 4), let m = digits(at: i + 5, 2), let d = digits(at: i + 8, 2) {
            i += 10
            return (y, m, d)
        }
        guard let y = number(4...4) else { return nil }
        if skip(UInt8(ascii: "-")) {
            guard let m = number(2...2), skip(UInt8(ascii: "-")), let d = number(2...2) else { return nil }
            return (y, m, d)
        }
        guard let m = number(2...2), let d = number(2...2) else { return nil }
        return (y, m, d)
    }
}
