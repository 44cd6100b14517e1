import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Times as an operator reads them: local wall-clock time with its zone (`2026-12-06 22:13 CET`),
/// or UTC with `--utc` (`2026-12-06 21:13 UTC`), the same in every command.
///
/// Local time comes from the C library (`localtime_r`, honouring `TZ` and /etc/localtime): it
/// knows the zone's abbreviation, where Foundation on Linux says `GMT+1`.
struct TimeText: Sendable {
    /// UTC instead of local time (`--utc`).
    var utc: Bool

    /// The precision shown.
    enum Precision { case minutes, seconds, milliseconds }

    /// `2026-12-06 22:13 CET` (text output).
    func text(_ date: Date, _ precision: Precision = .minutes) -> String {
        text(millis: Self.millis(date), precision)
    }

    /// A journal time (milliseconds since 1970).
    func text(millis: Int64, _ precision: Precision = .minutes) -> String {
        let (clock, zone) = parts(millis, precision)
        return clock + " " + zone
    }

    /// `2026-12-06 22:13:05` without the zone, which Excel reads as a date (`-o csv`); the
    /// column's header names the zone (`zoneNote`).
    func cell(_ date: Date) -> String { parts(Self.millis(date), .seconds).clock }

    /// A journal time for a CSV cell.
    func cell(millis: Int64, _ precision: Precision = .seconds) -> String { parts(millis, precision).clock }

    /// What a CSV header says about its times: `local time` or `UTC`.
    var zoneNote: String { utc ? "UTC" : "local time" }

    private static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    private func parts(_ millis: Int64, _ precision: Precision) -> (clock: String, zone: String) {
        let (seconds, ms) = millis.quotientAndRemainder(dividingBy: 1000)
        var t = time_t(ms < 0 ? seconds - 1 : seconds)
        var tm = tm()
        if utc { gmtime_r(&t, &tm) } else { localtime_r(&t, &tm) }
        var clock = String(format: "%04d-%02d-%02d %02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                           Int(tm.tm_hour), Int(tm.tm_min))
        switch precision {
        case .minutes: break
        case .seconds: clock += String(format: ":%02d", Int(tm.tm_sec))
        case .milliseconds:
            clock += String(format: ":%02d.%03d", Int(tm.tm_sec), Int(ms < 0 ? ms + 1000 : ms))
        }
        let zone = utc ? "UTC" : tm.tm_zone.map { String(cString: $0) } ?? "local"
        return (clock, zone)
    }
}
