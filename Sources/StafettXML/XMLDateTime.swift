import Foundation
import StafettModel

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
    static let minMillis: Int64 = Int64(CalendarDate.daysSinceEpoch(year: 1, month: 1, day: 1)) * millisPerDay - referenceOffsetMillis
    static let maxMillis: Int64 = Int64(CalendarDate.daysSinceEpoch(year: 9999, month: 12, day: 31) + 1) * millisPerDay - 1
        - referenceOffsetMillis

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
        let (y, m, d) = CalendarDate.civil(daysSinceEpoch: Int(days))
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
            guard y >= 1, (1...12).contains(mo), d >= 1, d <= CalendarDate.daysIn(month: mo, year: y),
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
            let days = Int64(CalendarDate.daysSinceEpoch(year: y, month: mo, day: d))
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

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
