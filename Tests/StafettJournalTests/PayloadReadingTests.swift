import Foundation
import XCTest
@testable import StafettJournal

/// The journal's payload reading primitives that every reader builds on (the codec, and the
/// reports' replay): the fast scans agree with the plain ones, and times read alike either way.
final class PayloadReadingTests: XCTestCase {
    /// The word-at-a-time string scans agree with the byte-at-a-time ones: quotes and
    /// backslashes at every position of a word, escapes, multi-byte UTF-8, short tails.
    func testWordScansAgreeWithByteScans() {
        let fragments = ["", "a", "ab\\\"c", "\\\\", "é", "x\\u00e9y", "0123456", "01234567", "012345678",
                         "TRE-2015-000123", String(repeating: "f", count: 64), "\\n\\t", "ü\\\\\\\"z"]
        for f in fragments {
            for pad in 0..<10 {
                let text = "\"" + String(repeating: "p", count: pad) + f + "\",1"
                Array(text.utf8).withUnsafeBytes { p in
                    var fast = PayloadScanner(p), slow = PayloadScanner(p)
                    let a = try? fast.stringSlice()
                    try? slow.skipString()
                    XCTAssertEqual(a.map { Array($0) }, Array(p[1..<max(1, slow.i - 1)]), text)
                    XCTAssertEqual(fast.i, slow.i, text)
                    var plain = PayloadScanner(p), raw = PayloadScanner(p)
                    let b = try? plain.plainString(), c = try? raw.rawBytesOfString()
                    XCTAssertEqual(b.map { Array($0) }, c.map { Array($0) }, text)
                    if c != nil { XCTAssertEqual(plain.i, raw.i, text) }
                }
            }
        }
        // Unterminated strings are errors, whatever their length.
        for n in 0..<20 {
            Array(("\"" + String(repeating: "q", count: n)).utf8).withUnsafeBytes { p in
                var s = PayloadScanner(p)
                XCTAssertNil(try? s.stringSlice())
                var t = PayloadScanner(p)
                XCTAssertNil(try? t.plainString())
            }
        }
    }

    /// Skipping the sequence number accepts and refuses what reading it does.
    func testSkipIntegerAgreesWithInteger() {
        for text in ["0,", "42}", "18446744073709551615,", "18446744073709551616,", "9999999999999999999,",
                     "123456789012345678901,", ",", "x", "", "7"] {
            Array(text.utf8).withUnsafeBytes { p in
                var a = PayloadScanner(p), b = PayloadScanner(p)
                let skipped = (try? a.skipInteger()) != nil
                let read = (try? b.integer()) != nil
                XCTAssertEqual(skipped, read, text)
                if read { XCTAssertEqual(a.i, b.i, text) }
            }
        }
    }

    /// Times read with the day memo equal times read without it: across days, with the memo's
    /// date followed by a bad time of day, and after a bad date (which must not enter the memo).
    func testDayMemoReadsTimesAsParseDoes() {
        let times = ["2026-08-26T03:04:30.674Z", "2026-08-26T23:59:60.999Z", "2026-08-26T24:00:00.000Z",
                     "2026-08-26T03:04:30.67xZ", "2026-08-27T00:00:00.000Z", "2026-08-27T00:00:00.001Z",
                     "2026-13-27T00:00:00.001Z", "2026-13-27T00:00:00.002Z", "1969-12-31T23:59:59.999Z",
                     "1969-12-31T00:00:00.000Z", "2026-08-26X03:04:30.674Z", "2026-08-26T03:04:30.674"]
        var memo = ISOTime.DayMemo()
        for t in times + times.reversed() {
            Array(t.utf8).withUnsafeBytes { p in
                XCTAssertEqual(ISOTime.parse(p, memo: &memo), ISOTime.parse(p), t)
            }
        }
    }

    func testTimesAndDurations() {
        XCTAssertEqual(ISOTime.duration("90s"), 90_000)
        XCTAssertEqual(ISOTime.duration("1h30m"), 5_400_000)
        XCTAssertEqual(ISOTime.duration("7d"), 604_800_000)
        XCTAssertEqual(ISOTime.duration("0"), 0)
        XCTAssertNil(ISOTime.duration("soon"))
        let ms: Int64 = 1_448_000_000_123
        var b: [UInt8] = []
        ISOTime.append(millis: ms, to: &b)
        XCTAssertEqual(String(decoding: b, as: UTF8.self), "2015-11-20T06:13:20.123Z")
        XCTAssertEqual(b.withUnsafeBytes { ISOTime.parse($0) }, ms)
        XCTAssertEqual(ISOTime.parseOperatorTime("2015-11-20T06:13:20.123Z"), ms)
        XCTAssertEqual(ISOTime.parseOperatorTime("2015-11-20T07:13:20.123+01:00"), ms)
        let now = Date(timeIntervalSince1970: 1_448_000_000)
        XCTAssertEqual(ISOTime.parseOperatorTime("-2h", now: now), 1_448_000_000_000 - 7_200_000)
        XCTAssertNotNil(ISOTime.parseOperatorTime("today", now: now))
        XCTAssertNotNil(ISOTime.parseOperatorTime("2015-11-20 10:00", now: now))
        XCTAssertNil(ISOTime.parseOperatorTime("yesterdayish", now: now))
        // Typos give nil, never an overflow trap.
        XCTAssertNil(ISOTime.duration("99999999999w"))
        XCTAssertNil(ISOTime.duration("9999999999999d9999999999999d"))
        XCTAssertNil(ISOTime.parseOperatorTime("2026-01-01T99999999999999", now: now))
        XCTAssertNil(ISOTime.parseOperatorTime("2026-01-01T10:00+99999999999999:00", now: now))
        XCTAssertNil(ISOTime.parseOperatorTime("99999999999999-01-01", now: now))
    }
}
