import Foundation
import StafettModel

/// UTC times as the journal writes them (`2026-11-23T23:51:48.123Z`, always 24 bytes), operator
/// time expressions (`--since 2026-11-23`, `today`, `-2h`) and durations (`90s`, `1h`, `7d`).
/// Hand-written because Foundation's formatters cost microseconds per call, which a journal of
/// a million records cannot afford.
public enum ISOTime {
    static func days(year: Int, month: Int, day: Int) -> Int {
        CalendarDate.daysSinceEpoch(year: year, month: month, day: day)
    }

    static func civil(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        CalendarDate.civil(daysSinceEpoch: z0)
    }

    /// Appends the 24-byte form of `millis`.
    public static func append(millis: Int64, to out: inout [UInt8]) {
        PayloadWriter.append(to: &out, bound: 24) { write(millis: millis, into: &$0) }
    }

    /// Writes the 24-byte form of `millis`.
    static func write(millis: Int64, into w: inout PayloadWriter) {
        let ms = Int(millis)
        var day = ms / 86_400_000, rem = ms % 86_400_000
        if rem < 0 { rem += 86_400_000; day -= 1 }
        let (y, mo, d) = civil(day)
        let h = rem / 3_600_000, mi = rem / 60_000 % 60, s = rem / 1000 % 60, f = rem % 1000
        let yy = max(0, min(9999, y))
        w.two(yy / 100); w.two(yy % 100)
        w.byte(0x2D); w.two(mo); w.byte(0x2D); w.two(d); w.byte(0x54)
        w.two(h); w.byte(0x3A); w.two(mi); w.byte(0x3A); w.two(s); w.byte(0x2E)
        w.byte(0x30 + UInt8(f / 100)); w.two(f % 100); w.byte(0x5A)
    }

    /// The 24-byte form of `millis`.
    public static func format(millis: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        append(millis: millis, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses the journal's own 24-byte form.
    public static func parse(_ p: UnsafeRawBufferPointer) -> Int64? {
        guard p.count == 24, p[4] == 0x2D, p[7] == 0x2D, let y = number(p, 0, 4), let mo = number(p, 5, 2),
              let d = number(p, 8, 2), (1...12).contains(mo), (1...31).contains(d), let tod = timeOfDay(p) else { return nil }
        return Int64(days(year: y, month: mo, day: d)) * 86_400_000 + tod
    }

    /// The decimal number in `p[a..<a+len]`, nil unless every byte is a digit.
    @inline(__always)
    private static func number(_ p: UnsafeRawBufferPointer, _ a: Int, _ len: Int) -> Int? {
        var v = 0, bad = false
        for k in a..<(a + len) {
            let c = p[k]
            if c < 0x30 || c > 0x39 { bad = true }
            v = v * 10 + Int(c &- 0x30)
        }
        return bad ? nil : v
    }

    /// The day of the last date `parse(_:memo:)` read, by its ten bytes (`2026-11-23`).
    package struct DayMemo {
        var date: UInt64 = 0, dateTail: UInt16 = 0
        var dayMillis: Int64 = 0
        package init() {}
        init(date: UInt64, dateTail: UInt16, dayMillis: Int64) {
            self.date = date
            self.dateTail = dateTail
            self.dayMillis = dayMillis
        }
    }

    /// `parse`, for a reader of many times in order: a date equal to the last one's (thousands of
    /// records share a day) is not read again, only the time of day (perf: `parse` and its
    /// calendar arithmetic were a tenth of a replay's parsing stage).
    @inline(__always)
    package static func parse(_ p: UnsafeRawBufferPointer, memo: inout DayMemo) -> Int64? {
        guard p.count == 24 else { return nil }
        let date = p.loadUnaligned(as: UInt64.self), dateTail = p.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
        guard date == memo.date, dateTail == memo.dateTail, date != 0 else {
            guard let ms = parse(p), let tod = timeOfDay(p) else { return nil }
            memo = DayMemo(date: date, dateTail: dateTail, dayMillis: ms - tod)
            return ms
        }
        // The date's bytes were checked when the memo was made; the rest is checked here as `parse` does.
        return timeOfDay(p).map { memo.dayMillis + $0 }
    }

    /// Milliseconds into the day of a 24-byte time (`THH:MM:SS.mmmZ` from byte 10 on), checked.
    @inline(__always)
    private static func timeOfDay(_ p: UnsafeRawBufferPointer) -> Int64? {
        guard p[10] == 0x54, p[13] == 0x3A, p[16] == 0x3A, p[19] == 0x2E, p[23] == 0x5A,
              let h = number(p, 11, 2), let mi = number(p, 14, 2), let s = number(p, 17, 2), let f = number(p, 20, 3),
              h < 24, mi < 60, s < 61 else { return nil }
        return Int64(h * 3_600_000 + mi * 60_000 + s * 1000 + f)
    }

    /// Parses a duration: a number followed by `ms`, `s`, `m`, `h`, `d` or `w` (`90s`, `1h`, `7d`,
    /// `1h30m`). Returns milliseconds.
    public static func duration(_ text: String) -> Int64? {
        var total: Int64 = 0, num: Int64 = -1
        let b = Array(text.utf8)
        var i = 0
        guard !b.isEmpty else { return nil }
        while i < b.count {
            let c = b[i]
            if c >= 0x30 && c <= 0x39 {
                num = max(num, 0) * 10 + Int64(c - 0x30)
                guard num < 1 << 40 else { return nil }
                i += 1
                continue
            }
            guard num >= 0 else { return nil }
            let unit: Int64
            if c == 0x6D, i + 1 < b.count, b[i + 1] == 0x73 { unit = 1; i += 1 }  // ms
            else {
                switch c {
                case 0x73: unit = 1000
                case 0x6D: unit = 60_000
                case 0x68: unit = 3_600_000
                case 0x64: unit = 86_400_000
                case 0x77: unit = 7 * 86_400_000
                default: return nil
                }
            }
            // An operator's typo (99999999999w) must get an error, not an overflow trap.
            let (product, o1) = num.multipliedReportingOverflow(by: unit)
            let (sum, o2) = total.addingReportingOverflow(product)
            guard !o1, !o2 else { return nil }
            total = sum
            num = -1
            i += 1
        }
        if num >= 0 { total += num * 1000 }  // a bare number means seconds
        return total
    }

    /// Parses an operator time: ISO 8601 (`2026-11-23`, `2026-11-23T10:00`, `2026-11-23 10:00:00`,
    /// with `Z` or `+01:00`; without a zone it means local time), `now`, `today`, `yesterday`,
    /// or a relative `-2h`/`-30m`/`-7d`.
    public static func parseOperatorTime(_ text: String, now: Date = Date()) -> Int64? {
        let nowMs = Int64((now.timeIntervalSince1970 * 1000).rounded())
        let t = text.trimmingCharacters(in: .whitespaces)
        switch t {
        case "now": return nowMs
        case "today", "yesterday":
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone.current
            var start = cal.startOfDay(for: now)
            if t == "yesterday" { start = cal.date(byAdding: .day, value: -1, to: start) ?? start }
            return Int64(start.timeIntervalSince1970 * 1000)
        default: break
        }
        if t.hasPrefix("-"), let d = duration(String(t.dropFirst())) { return nowMs - d }
        return parseISO(t)
    }

    /// Parses the ISO 8601 forms an operator types.
    static func parseISO(_ t: String) -> Int64? {
        var s = Array(t.utf8)
        guard s.count >= 10 else { return nil }
        if s.count > 10, s[10] == 0x20 { s[10] = 0x54 }
        // Zone suffix.
        var offsetMs: Int64? = nil
        if s.last == 0x5A { offsetMs = 0; s.removeLast() }
        else if s.count > 16, let k = s.lastIndex(where: { $0 == 0x2B || $0 == 0x2D }), k > 10 {
            let z = String(decoding: s[(k + 1)...], as: UTF8.self).split(separator: ":")
            guard let hh = Int(z.first ?? ""), z.count <= 2, (0...23).contains(hh) else { return nil }
            let mm = z.count == 2 ? Int(z[1]) ?? 0 : 0
            guard (0...59).contains(mm) else { return nil }
            offsetMs = Int64(hh * 3_600_000 + mm * 60_000) * (s[k] == 0x2D ? -1 : 1)
            s.removeSubrange(k...)
        }
        let text = String(decoding: s, as: UTF8.self)
        let parts = text.split(separator: "T", maxSplits: 1)
        let date = parts[0].split(separator: "-")
        guard date.count == 3, let y = Int(date[0]), let mo = Int(date[1]), let d = Int(date[2]),
              (1...9999).contains(y), (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var h = 0, mi = 0, sec = 0.0
        if parts.count == 2 {
            let tm = parts[1].split(separator: ":")
            // Ranges checked, so that no typo can overflow the arithmetic below.
            guard (1...3).contains(tm.count), let hh = Int(tm[0]), (0...24).contains(hh) else { return nil }
            h = hh
            if tm.count > 1 { guard let m = Int(tm[1]), (0...59).contains(m) else { return nil }; mi = m }
            if tm.count > 2 { guard let x = Double(tm[2]), x >= 0, x < 61 else { return nil }; sec = x }
        }
        let local = Int64(days(year: y, month: mo, day: d)) * 86_400_000
            + Int64(h * 3_600_000 + mi * 60_000) + Int64((sec * 1000).rounded())
        if let offsetMs { return local - offsetMs }
        // No zone: local time as the operator sees it.
        let guess = Date(timeIntervalSince1970: Double(local) / 1000)
        let off = Int64(TimeZone.current.secondsFromGMT(for: guess)) * 1000
        return local - off
    }

    /// A duration for people: `45s`, `12m`, `3h 5m`, `2d 4h`.
    public static func humanDuration(millis: Int64) -> String {
        let s = max(0, millis / 1000)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return s % 3600 / 60 == 0 ? "\(s / 3600)h" : "\(s / 3600)h \(s % 3600 / 60)m" }
        return s % 86400 / 3600 == 0 ? "\(s / 86400)d" : "\(s / 86400)d \(s % 86400 / 3600)h"
    }
}
