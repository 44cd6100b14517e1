import Foundation

/// Local Swedish time (Europe/Stockholm) computed from the rules, so it does not depend on the
/// machine's tz database: CET (UTC+1), and CEST (UTC+2) from 01:00 UTC on the last Sunday of
/// March to 01:00 UTC on the last Sunday of October (the EU rule since 1996; from 1980 to 1995
/// summer time ended on the last Sunday of September).
public enum SwedishTime {
    static func days(year: Int, month: Int, day: Int) -> Int {
        CalendarDate.daysSinceEpoch(year: year, month: month, day: day)
    }

    static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
        CalendarDate.civil(daysSinceEpoch: z0)
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
        let (start, end) = year - 1980 < summers.count ? summers[year - 1980] : summer(year)
        return utc >= start && utc < end
    }

    /// The start and end of summer time in a year from 1980 on, as UTC seconds since 1970.
    private static func summer(_ year: Int) -> (start: Int, end: Int) {
        (lastSundayOneAM(year: year, month: 3), lastSundayOneAM(year: year, month: year >= 1996 ? 10 : 9))
    }

    /// `summer` for 1980 to 2200, worked out once: every event time of intake asks.
    private static let summers: [(start: Int, end: Int)] = (1980...2200).map(summer)

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
