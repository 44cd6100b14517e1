import Foundation
import XCTest
@testable import StafettModel

/// What a case worker reads in `.errors.txt`: Excel's row numbers, the intake id, Swedish first,
/// the column names real exports use, a did-you-mean, and a file cut short named as such.
final class IntakeReportTests: XCTestCase {
    private let header = "Ärendenummer;Förnamn;Händelse;Händelsetid;Anteckning\r\n"

    func testRowsAreNumberedAsExcelShowsThemNotByPhysicalLine() {
        let text = header
            + "A-1;Ali;registrerad;2015-10-23 08:15;\"rad ett\r\nrad två\r\nrad tre\"\r\n"
            + "A-2;Omid;registrerad;2015-10-32 08:20;\r\n"
        let errors = parseErrors(text)
        XCTAssertEqual(errors.count, 1, "\(errors)")
        // Excel: header row 1, the three-line note row 2, the mistake row 3 (physical line 5).
        XCTAssertEqual(errors.first?.location, .row(3, line: 5))
        XCTAssertEqual(errors.first?.intakeId, "A-2")
        XCTAssertTrue(errors.first?.description.hasPrefix("outbox/test.csv row 3 (line 5) (intake id A-2), column \"Händelsetid\": ") ?? false,
                      errors.first?.description ?? "")
        XCTAssertTrue(errors.first?.swedishDescription.hasPrefix("outbox/test.csv rad 3 (textrad 5) (ärendenummer A-2), kolumn \"Händelsetid\": ") ?? false,
                      errors.first?.swedishDescription ?? "")
        // Without line breaks in values, row and line agree and the line is not repeated.
        let plain = parseErrors(header + "A-1;Ali;registrerad;2015-10-32 08:15;\r\n")
        XCTAssertEqual(plain.first?.location, .row(2, line: 2))
        XCTAssertTrue(plain.first?.description.contains("row 2 (intake id A-1)") ?? false, "\(plain)")
    }

    func testARowWithoutAValidIntakeIdIsNotNamedByOne() {
        let errors = parseErrors(header + ";Ali;registrerad;2015-10-32 08:15;\r\n")
        XCTAssertTrue(errors.allSatisfy { $0.intakeId == nil }, "\(errors)")
        // A personnummer typed into the intake id column never enters a report.
        let pnr = "20021104-" + luhnTail("2002110420")
        let shifted = parseErrors(header + "\(pnr);Ali;registrerad;2015-10-32 08:15;\r\n")
        XCTAssertFalse(shifted.contains { $0.description.contains(pnr) }, "\(shifted)")
    }

    func testHeaderSynonymsOfRealExports() {
        let records = parseOK("Personnr;Förnamn;Födelsedag;Modersmål;Händelse;Händelsetid\r\n"
            + "\(pinFor2005());Ali;2005-01-01;prs;registrerad;2015-10-23 08:15\r\n")
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(records.first?.child.languages, ["prs"])
        XCTAssertEqual(records.first?.child.dateOfBirth?.iso, "2005-01-01")
        for (name, field) in [("Pnr", IntakeField.personalIdentityNumber), ("Personnr", .personalIdentityNumber),
                              ("Födelsedatum", .dateOfBirth), ("Födelsedag", .dateOfBirth), ("Modersmål", .languages),
                              ("Ärende-ID", .intakeId), ("Övrigt", .note)] {
            XCTAssertEqual(IntakeField.named(name), field, name)
        }
    }

    func testAnUnknownHeaderGetsADidYouMean() {
        let errors = parseErrors("Ärendenummer;Förnamn;Händelse;Händelsetid;Personummer\r\nA-1;Ali;registrerad;2015-10-23 08:15;\r\n")
        let e = errors.first { $0.field == "Personummer" }
        XCTAssertTrue(e?.reason.contains("did you mean \"Personnummer\"?") ?? false, "\(errors)")
        XCTAssertTrue(e?.swedishReason?.contains("menade du \"Personnummer\"?") ?? false, "\(errors)")
        XCTAssertNil(IntakeField.nearest(to: "Skostorlek"), "nothing near: no guess")
    }

    func testALastRowCutShortInsideAQuoteIsATruncatedFile() {
        let cut = parseErrors(header + "A-1;Ali;registrerad;2015-10-23 08:15;\"Kom med tåget och")
        XCTAssertEqual(cut.count, 1, "\(cut)")
        XCTAssertTrue(cut.first?.reason.contains("cut short") ?? false, "\(cut)")
        XCTAssertTrue(cut.first?.swedishReason?.contains("avklippt") ?? false, "\(cut)")
        // The same stray quote in a file that ends its last row is a stray quote, not a cut.
        let stray = parseErrors(header + "A-1;Ali;registrerad;2015-10-23 08:15;\"Kom med tåget och\r\n")
        XCTAssertTrue(stray.first?.reason.contains("closing quote") ?? false, "\(stray)")
        XCTAssertFalse(stray.first?.reason.contains("cut short") ?? true, "\(stray)")
    }

    func testTheReportIsSwedishFirstWithEnglishBelow() {
        let failure = IntakeFailure(file: "f.csv", errors: [
            IntakeError(file: "f.csv", location: .row(4, line: 6), field: "Kön", fieldIsColumn: true,
                        reason: "is not a sex we know", swedishReason: "är inget kön vi känner till", intakeId: "K-9"),
        ])
        let report = failure.report
        let sv = report.range(of: "f.csv rad 4 (textrad 6) (ärendenummer K-9), kolumn \"Kön\": är inget kön vi känner till")
        let en = report.range(of: "f.csv row 4 (line 6) (intake id K-9), column \"Kön\": is not a sex we know")
        XCTAssertNotNil(sv, report)
        XCTAssertNotNil(en, report)
        if let sv, let en { XCTAssertLessThan(sv.lowerBound, en.lowerBound) }
        XCTAssertTrue(report.hasPrefix("Stafett kunde inte ta emot f.csv."), report)
    }

    private func pinFor2005() -> String { "20050101-" + luhnTail("2005010120") }
}
