import XCTest
@testable import StafettXML

final class XMLDateTimeTests: XCTestCase {
    func testFormatIsUTCWithMilliseconds() {
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSinceReferenceDate: 0.25)), "2001-01-01T00:00:00.250Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSince1970: -0.001)), "1969-12-31T23:59:59.999Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSince1970: 951_782_400)), "2000-02-29T00:00:00.000Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSince1970: 1_795_421_730.2504)), "2026-11-23T08:15:30.250Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSince1970: 1_795_421_730.2496)), "2026-11-23T08:15:30.250Z")
    }

    func testAgreesWithFoundationOverAWideRange() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var t = -2_208_988_800.0  // 1900
        while t < 7_258_118_400 {  // 2200
            let d = Date(timeIntervalSince1970: t)
            XCTAssertEqual(XMLDateTime.string(from: d), f.string(from: d))
            XCTAssertEqual(XMLDateTime.parse(f.string(from: d)), XMLDateTime.millisecondPrecision(d))
            t += 12_345_678.901
        }
    }

    func testRoundTripIsExactAtMillisecondPrecision() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let d = Date(timeIntervalSince1970: Double.random(in: -2e9...7e9, using: &generator))
            let ms = XMLDateTime.millisecondPrecision(d)
            XCTAssertLessThanOrEqual(abs(ms.timeIntervalSince(d)), 0.0005 + 1e-6)
            XCTAssertEqual(XMLDateTime.millisecondPrecision(ms), ms)
            XCTAssertEqual(XMLDateTime.parse(XMLDateTime.string(from: ms)), ms)
            XCTAssertEqual(XMLDateTime.parse(XMLDateTime.string(from: d)), ms)
        }
    }

    func testExtremeDatesAreClampedNotTrapped() {
        XCTAssertEqual(XMLDateTime.string(from: .distantFuture), "4001-01-01T00:00:00.000Z")
        XCTAssertEqual(XMLDateTime.string(from: .distantPast), "0001-01-01T00:00:00.000Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSinceReferenceDate: .infinity)), "9999-12-31T23:59:59.999Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSinceReferenceDate: -.infinity)), "0001-01-01T00:00:00.000Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSinceReferenceDate: .nan)), "0001-01-01T00:00:00.000Z")
        XCTAssertEqual(XMLDateTime.string(from: Date(timeIntervalSinceReferenceDate: 1e15)), "9999-12-31T23:59:59.999Z")
        XCTAssertEqual(XMLDateTime.parse("9999-12-31T23:59:59.999Z"), XMLDateTime.millisecondPrecision(.init(timeIntervalSinceReferenceDate: 1e15)))
    }

    func testParsesZonesAndFractions() {
        let utc = XMLDateTime.parse("2026-11-23T08:15:30Z")!
        XCTAssertEqual(XMLDateTime.parse("2026-11-23T09:15:30+01:00"), utc)
        XCTAssertEqual(XMLDateTime.parse("2026-11-23T03:45:30-04:30"), utc)
        XCTAssertEqual(XMLDateTime.parse("2026-11-23T08:15:30.0Z"), utc)
        XCTAssertEqual(XMLDateTime.parse("2026-11-23T08:15:30.5Z"), utc.addingTimeInterval(0.5))
        let nine = XMLDateTime.parse("2026-11-23T08:15:30.123456789Z")!
        XCTAssertEqual(nine.timeIntervalSince(utc), 0.123456789, accuracy: 1e-6)
    }

    func testRefusesWhatIsNotAZonedDateTime() {
        for bad in ["", "2026-11-23", "2026-11-23T08:15:30", "2026-11-23 08:15:30Z", "2026-13-01T00:00:00Z",
                    "2026-02-29T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T08:60:00Z", "2026-11-23T08:15:60Z",
                    "2026-11-23T08:15:30.Z", "2026-11-23T08:15:30.1234567890Z", "2026-11-23T08:15:30+15:00",
                    "2026-11-23T08:15:30+0100", "2026-11-23T08:15:30Zjunk", "+2026-11-23T08:15:30Z",
                    "２０２６-11-23T08:15:30Z"] {
            XCTAssertNil(XMLDateTime.parse(bad), bad)
        }
        XCTAssertNotNil(XMLDateTime.parse("2024-02-29T00:00:00Z"))
    }
}
