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
        var b: [UInt8] = []
        b.reserveCapacity(24)
        let zone = appendClock(millis, precision, to: &b)
        return (String(decoding: b, as: UTF8.self), zone)
    }

    /// Appends what `text(millis:_:)` returns, as bytes: a long report writes its times straight
    /// into its lines rather than making a String of each.
    func append(millis: Int64, _ precision: Precision = .minutes, to b: inout [UInt8]) {
        let zone = appendClock(millis, precision, to: &b)
        b.append(0x20)
        b.append(contentsOf: zone.utf8)
    }

    /// Appends the clock part of a time; returns the zone's name.
    private func appendClock(_ millis: Int64, _ precision: Precision, to b: inout [UInt8]) -> String {
        let (seconds, ms) = millis.quotientAndRemainder(dividingBy: 1000)
        var t = time_t(ms < 0 ? seconds - 1 : seconds)
        var tm = tm()
        if utc { gmtime_r(&t, &tm) } else { localtime_r(&t, &tm) }
        // As `%04d-%02d-%02d %02d:%02d` writes it, without `String(format:)`: a report of a million
        // items formats two times a row, twice (perf: that formatting was a tenth of such a report).
        TimeText.append(Int(tm.tm_year) + 1900, 4, to: &b, after: nil)
        TimeText.append(Int(tm.tm_mon) + 1, 2, to: &b, after: 0x2D)
        TimeText.append(Int(tm.tm_mday), 2, to: &b, after: 0x2D)
        TimeText.append(Int(tm.tm_hour), 2, to: &b, after: 0x20)
        TimeText.append(Int(tm.tm_min), 2, to: &b, after: 0x3A)
        switch precision {
        case .minutes: break
        case .seconds: TimeText.append(Int(tm.tm_sec), 2, to: &b, after: 0x3A)
        case .milliseconds:
            TimeText.append(Int(tm.tm_sec), 2, to: &b, after: 0x3A)
            TimeText.append(Int(ms < 0 ? ms + 1000 : ms), 3, to: &b, after: 0x2E)
        }
        return utc ? "UTC" : tm.tm_zone.map { String(cString: $0) } ?? "local"
    }

    /// Appends `separator` (if any), then `v` as `%0<width>d` writes it: zero-padded to `width`,
    /// a minus sign counted in the width.
    private static func append(_ v: Int, _ width: Int, to b: inout [UInt8], after separator: UInt8?) {
        if let separator { b.append(separator) }
        if v < 0 { b.append(0x2D) }
        // The digits from the last, into a buffer: no String per number.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            var m = v.magnitude
            repeat { d[23 - count] = UInt8(truncatingIfNeeded: 0x30 + m % 10); m /= 10; count += 1 } while m > 0
        }
        b.append(contentsOf: repeatElement(0x30, count: max(0, width - (v < 0 ? 1 : 0) - count)))
        withUnsafeBytes(of: &digits) { d in b.append(contentsOf: d[(24 - count)...]) }
    }
}
