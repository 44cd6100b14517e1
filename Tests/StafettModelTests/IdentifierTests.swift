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

    func testCalendarDateRejectsImpossibleDays() {
        XCTAssertNoThrow(try CalendarDate(iso: "2016-02-29"))
        XCTAssertThrowsError(try CalendarDate(iso: "2015-02-29"))
        XCTAssertThrowsError(try CalendarDate(iso: "2015-2-1"))
    }

    /// Completes a 10-digit stem's last three digits plus check digit for the test.
    private func luhnTail(_ twelveStem: String) -> String {
        // twelveStem is YYYYMMDDNN; append a digit N and the Luhn digit.
        let stem = twelveStem.dropFirst(2) + "3"
        for c in 0...9 where Luhn.isValid((stem + String(c)).utf8.map { $0 - 48 }) {
            return String(twelveStem.suffix(2)) + "3" + String(c)
        }
        return "0000"
    }
}
