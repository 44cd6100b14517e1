import Foundation

/// xs:dateTime as Stafett writes and reads it, without Foundation's (slow, locale-bound) formatters.
///
/// Written: always UTC with `Z` and exactly three fraction digits, `2026-11-23T08:15:30.250Z`,
/// the instant rounded to the nearest millisecond.
///
/// Round trip: a `Date` that is a whole number of milliseconds (see `millisecondPrecision`)
/// decodes to exactly the same `Date` (bit for bit): both sides compute
/// `Double(milliseconds since 2001) / 1000`. Finer dates lose their sub-millisecond part;
/// dates outside the years 0001-9999 (and NaN or infinite ones) are clamped into them.
///
/// Read: `YYYY-MM-DDThh:mm:ss`, an optional fraction of 1 to 9 digits, and a zone (`Z` or `±hh:mm`,
/// at most 14:00), the forms case-1.xsd allows. Years 0001 to 9999, no leap second, no `24:00:00`.
public enum XMLDateTime {
    /// Milliseconds from 1970-01-01 to 2001-01-01 (Foundation's reference date).
    static let referenceOffsetMillis: Int64 = 978_307_200_000
    static let millisPerDay: Int64 = 86_400_000

    /// `date` rounded to the nearest millisecond: the value that survives an encode/decode round trip.
    public static func millisecondPrecision(_ date: Date) -> Date {
        Date(timeIntervalSinceReferenceDate: Double(millis(sinceReference: date)) / 1000)
    }

    /// The xs:dateTime text of `date` (UTC, `Z`, milliseconds).
    public static func string(from date: Date) -> String {
        var w = XMLWriter(capacity: 24)
        append(date, to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z in milliseconds since 2001.
    static let minMillis: Int64 = days(fromCivil: 1, m: 1, d: 1) * millisPerDay - referenceOffsetMillis
    static let maxMillis: Int64 = (days(fromCivil: 9999, m: 12, d: 31) + 1) * millisPerDay - 1 - referenceOffsetMillis

    /// Milliseconds since 2001, rounded, clamped to years 0001-9999 (so that neither an
    /// infinite or NaN interval traps nor a five-digit year is written).
    static func millis(sinceReference date: Date) -> Int64 {
        let x = (date.timeIntervalSinceReferenceDate * 1000).rounded()
        guard x >= Double(minMillis) else { return minMillis }  // also NaN
        guard x <= Double(maxMillis) else { return maxMillis }
        return Int64(x)
    }

    static func append(_ date: Date, to w: inout XMLWriter) {
        let ms = millis(sinceReference: date) + referenceOffsetMillis
        let days = floorDiv(ms, millisPerDay)
        var rest = Int(ms - days * millisPerDay)
        let (y, m, d) = civil(fromDays: days)
        w.digits(y, width: 4); w.raw("-"); w.digits(m, width: 2); w.raw("-"); w.digits(d, width: 2)
        w.raw("T")
        w.digits(rest / 3_600_000, width: 2); rest %= 3_600_000; w.raw(":")
        w.digits(rest / 60_000, width: 2); rest %= 60_000; w.raw(":")
        w.digits(rest / 1000, width: 2); w.raw(".")
        w.digits(rest % 1000, width: 3); w.raw("Z")
    }

    /// Parses the xs:dateTime forms described above; nil when `text` is not one of them.
    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { p -> Date? in
            var i = 0
            func number(_ width: Int) -> Int? {
                guard i + width <= p.count else { return nil }
                var v = 0
                for k in i..<(i + width) {
                    let b = p[k]
                    guard b >= 0x30, b <= 0x39 else { return nil }
                    v = v * 10 + Int(b - 0x30)
                }
                i += width
                return v
            }
            func expect(_ c: UInt8) -> Bool {
                guard i < p.count, p[i] == c else { return false }
                i += 1
                return true
            }
            guard let y = number(4), expect(0x2D), let mo = number(2), expect(0x2D), let d = number(2),
                  expect(0x54), let h = number(2), expect(0x3A), let mi = number(2), expect(0x3A),
                  let s = number(2) else { return nil }
            guard y >= 1, (1...12).contains(mo), d >= 1, d <= daysIn(month: mo, year: y),
                  h < 24, mi < 60, s < 60 else { return nil }
            var fraction: Int64 = 0, fractionDigits = 0
            if i < p.count, p[i] == 0x2E {
                i += 1
                while i < p.count, p[i] >= 0x30, p[i] <= 0x39 {
                    guard fractionDigits < 9 else { return nil }
                    fraction = fraction * 10 + Int64(p[i] - 0x30)
                    fractionDigits += 1
                    i += 1
                }
                guard fractionDigits > 0 else { return nil }
            }
            var offsetMinutes = 0
            guard i < p.count else { return nil }
            if p[i] == 0x5A {
                i += 1
            } else if p[i] == 0x2B || p[i] == 0x2D {
                let sign = p[i] == 0x2D ? -1 : 1
                i += 1
                guard let oh = number(2), expect(0x3A), let om = number(2), om < 60,
                      oh * 60 + om <= 14 * 60 else { return nil }
                offsetMinutes = sign * (oh * 60 + om)
            } else {
                return nil
            }
            guard i == p.count else { return nil }
            let days = Self.days(fromCivil: y, m: mo, d: d)
            let wholeSeconds = days * 86_400 + Int64(h * 3600 + mi * 60 + s) - Int64(offsetMinutes * 60)
            if fractionDigits <= 3 {
                var ms = fraction
                for _ in fractionDigits..<3 { ms *= 10 }
                let total = wholeSeconds * 1000 + ms - referenceOffsetMillis
                return Date(timeIntervalSinceReferenceDate: Double(total) / 1000)
            }
            var nanos = fraction
            for _ in fractionDigits..<9 { nanos *= 10 }
            let seconds = wholeSeconds - referenceOffsetMillis / 1000
            return Date(timeIntervalSinceReferenceDate: Double(seconds) + Double(nanos) / 1e9)
        }
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func days(fromCivil y: Int, m: Int, d: Int) -> Int64 {
        let y = Int64(m <= 2 ? y - 1 : y)
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = Int64((m + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    static func civil(fromDays z: Int64) -> (Int, Int, Int) {
        let z = z + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d))
    }
}
