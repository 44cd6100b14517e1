import Foundation

/// Local Swedish time (Europe/Stockholm) computed from the rules, so it does not depend on the
/// machine's tz database: CET (UTC+1), and CEST (UTC+2) from 01:00 UTC on the last Sunday of
/// March to 01:00 UTC on the last Sunday of October (the EU rule since 1996; from 1980 to 1995
/// summer time ended on the last Sunday of September).
public enum SwedishTime {
    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date for a day count since 1970-01-01.
    static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
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

    /// Seconds since 1970 (UTC) at 01:00 UTC on the last Sunday of a month.
    private static func lastSundayOneAM(year: Int, month: Int) -> Int {
        let last = days(year: year, month: month, day: CalendarDate.daysIn(month: month, year: year))
        let weekday = ((last % 7) + 11) % 7  // 0 = Sunday; 1970-01-01 was a Thursday
        return (last - weekday) * 86_400 + 3_600
    }

    /// True when Swedish summer time is in force at a UTC instant (seconds since 1970).
    static func isSummerTime(utc: Int) -> Bool {
        let year = civil(days: Int((Double(utc) / 86_400).rounded(.down))).year
        guard year >= 1980 else { return false }
        let start = lastSundayOneAM(year: year, month: 3)
        let end = lastSundayOneAM(year: year, month: year >= 1996 ? 10 : 9)
        return utc >= start && utc < end
    }

    /// The UTC offset in seconds at an instant.
    public static func offset(at date: Date) -> Int {
        isSummerTime(utc: Int(date.timeIntervalSince1970.rounded(.down))) ? 7_200 : 3_600
    }

    /// The Swedish calendar date at an instant.
    public static func localDate(at date: Date) -> CalendarDate {
        let t = Int(date.timeIntervalSince1970.rounded(.down)) + offset(at: date)
        let c = civil(days: Int((Double(t) / 86_400).rounded(.down)))
        // civil() always yields a real date; the year bound of CalendarDate is the only way to fail.
        return (try? CalendarDate(year: c.year, month: c.month, day: c.day))
            ?? (try! CalendarDate(year: 1900, month: 1, day: 1))
    }

    /// The result of reading a wall-clock time in Sweden.
    enum LocalResult: Equatable {
        /// One instant (in October's repeated hour, the first one: still summer time).
        case instant(Int)
        /// The hour skipped in March: clocks jump from 02:00 to 03:00.
        case skipped
    }

    /// The UTC instant of a Swedish wall-clock time given as seconds since 1970 as if it were UTC.
    static func instant(localSeconds t: Int) -> LocalResult {
        let summer = t - 7_200, winter = t - 3_600
        if isSummerTime(utc: summer) { return .instant(summer) }
        if !isSummerTime(utc: winter) { return .instant(winter) }
        return .skipped
    }
}
