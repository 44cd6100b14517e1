import XCTest
@testable import StafettModel

final class IdentifierTests: XCTestCase {
    func testOrganisationNumberLuhn() throws {
        XCTAssertEqual(try OrganisationNumber("212000-0142").digits, "2120000142")  // Migrationsverket
        XCTAssertEqual(try OrganisationNumber("16212000-1355").formatted, "212000-1355")
        XCTAssertThrowsError(try OrganisationNumber("212000-0143"))
        XCTAssertThrowsError(try OrganisationNumber("19121212"))
    }

    func testPersonnummerCenturyAndKind() throws {
        let p = try PersonalIdentityNumber("19121212-1212")
        XCTAssertEqual(p.kind, .personnummer)
        XCTAssertEqual(p.description, "19121212-****")
        let ten = try PersonalIdentityNumber("121212+1212", referenceDate: Date(timeIntervalSince1970: 1_445_558_400))
        XCTAssertEqual(ten.digits, "191212121212")
        let s = try PersonalIdentityNumber("20010872-1234".replacingOccurrences(of: "1234", with: luhnTail("2001087212")))
        XCTAssertEqual(s.kind, .samordningsnummer)
        XCTAssertEqual(s.dateOfBirth.iso, "2001-08-12")
        XCTAssertThrowsError(try PersonalIdentityNumber("19121212-1213"))
        XCTAssertThrowsError(try PersonalIdentityNumber("19121312-1212"))
    }

    /// A ten-digit number takes its century from the year in Sweden: at 00:30 on New Year's Day
    /// in Stockholm (23:30 UTC the day before), a child born that night is not a hundred years old.
    func testTenDigitCenturyFollowsTheSwedishNewYear() throws {
        let newYear = Date(timeIntervalSince1970: 1_451_604_600)  // 2015-12-31T23:30:00Z = 2016-01-01 00:30 in Stockholm
        let born = try PersonalIdentityNumber("160101-" + luhnTail("2016010198"), referenceDate: newYear)
        XCTAssertEqual(born.dateOfBirth.iso, "2016-01-01")
        let earlier = try PersonalIdentityNumber("170101-" + luhnTail("2017010198"), referenceDate: newYear)
        XCTAssertEqual(earlier.dateOfBirth.iso, "1917-01-01", "a year after this one is a century back")
    }

    /// The century of a ten-digit number follows the whole date: later this year is a century back,
    /// never a child not yet born; a twelve-digit number in the future is refused.
    func testNoPersonnummerIsBornInTheFuture() throws {
        let autumn = Date(timeIntervalSince1970: 1_445_558_400)  // 2015-10-23
        let december = try PersonalIdentityNumber("151215-" + luhnTail("1915121512"), referenceDate: autumn)
        XCTAssertEqual(december.dateOfBirth.iso, "1915-12-15")
        let coordination = try PersonalIdentityNumber("151275-" + luhnTail("1915127512"), referenceDate: autumn)
        XCTAssertEqual(coordination.dateOfBirth.iso, "1915-12-15", "samordningsnummer: day + 60")
        let spring = try PersonalIdentityNumber("150315-" + luhnTail("2015031512"), referenceDate: autumn)
        XCTAssertEqual(spring.dateOfBirth.iso, "2015-03-15")
        XCTAssertThrowsError(try PersonalIdentityNumber("20151215-" + luhnTail("2015121512"), referenceDate: autumn)) { e in
            XCTAssertTrue("\(e)".contains("in the future"), "\(e)")
        }
    }

    func testCalendarDateRejectsImpossibleDays() {
        XCTAssertNoThrow(try CalendarDate(iso: "2016-02-29"))
        XCTAssertThrowsError(try CalendarDate(iso: "2015-02-29"))
        XCTAssertThrowsError(try CalendarDate(iso: "2015-2-1"))
    }

    /// Receipt ids: the form `UUID()` gave (lowercase, version 4, variant 10xx), every bit placed.
    func testRandomMessageIDIsALowercaseVersion4UUID() throws {
        struct Pinned: RandomNumberGenerator {
            var words: [UInt64] = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]
            mutating func next() -> UInt64 { words.removeFirst() }
        }
        var pinned = Pinned()
        XCTAssertEqual(MessageID.random(using: &pinned).rawValue, "01234567-89ab-4def-bedc-ba9876543210")

        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = MessageID.random().rawValue
            let uuid = try XCTUnwrap(UUID(uuidString: id), id)
            XCTAssertEqual(uuid.uuidString.lowercased(), id)
            XCTAssertEqual(uuid.uuid.6 >> 4, 4, id)
            XCTAssertEqual(uuid.uuid.8 >> 6, 0b10, id)
            seen.insert(id)
        }
        XCTAssertEqual(seen.count, 1000)
    }
}
