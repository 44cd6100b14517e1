import Foundation
import XCTest
@testable import StafettModel

/// The edges of reading values as bytes: where the byte checks hand over to the String rules,
/// and CSV values unquoted in place.
final class IntakeBytesTests: XCTestCase {
    private func row(_ header: String, _ value: String) -> String {
        minimalHeader + ";" + header + "\nV-1;Ali;Khan;registrerad;2015-10-23 10:00;\"" + value + "\"\n"
    }

    func testNamesWithoutASCIILettersAndControlCharacters() {
        let csv = minimalHeader + "\nV-1;Ωμέγα;李;registrerad;2015-10-23\nV-2;Ali\u{A0}Reza;Khan\u{A0};registrerad;2015-10-23\n"
        let r = parseOK(csv)
        XCTAssertEqual(r.map(\.child.givenName), ["Ωμέγα", "Ali\u{A0}Reza"])
        XCTAssertEqual(r.map(\.child.familyName), ["李", "Khan"])
        for (bad, code) in [("Ali\u{85}", "U+0085"), ("Ali\u{2028}", "U+2028"), ("Ali\u{7F}", "U+007F"), ("A\tli", "U+0009")] {
            let errors = parseErrors(minimalHeader + "\nV-1;" + bad + ";Khan;registrerad;2015-10-23\n")
            XCTAssertEqual(errors.first?.field, "Förnamn", bad)
            XCTAssertTrue(errors.first?.reason.contains("control character (code \(code))") ?? false, "\(errors)")
        }
        XCTAssertTrue(parseErrors(minimalHeader + "\nV-1;٣٤;Khan;registrerad;2015-10-23\n").first?.reason
            .contains("no letters") ?? false)
    }

    func testIdentifiersBeyondASCII() {
        let csv = minimalHeader + "\nÅsa-1;Ali;Khan;registrerad;2015-10-23\n李-1;Ali;Khan;registrerad;2015-10-23\n"
        XCTAssertEqual(parseOK(csv).map { $0.child.identifiers.intakeId }, ["Åsa-1", "李-1"])
        XCTAssertNotNil(parseOK(minimalHeader + "\n" + String(repeating: "9", count: 64) + ";Ali;Khan;registrerad;2015-10-23\n")
            .first)
        let long = parseErrors(minimalHeader + "\n" + String(repeating: "9", count: 65) + ";Ali;Khan;registrerad;2015-10-23\n")
        XCTAssertTrue(long.first?.reason.contains("at most 64") ?? false)
        XCTAssertTrue(parseErrors(minimalHeader + "\nß€;Ali;Khan;registrerad;2015-10-23\n").first?.reason
            .contains("only hold letters") ?? false)
    }

    func testCodesInAnyCaseAndListsOfStrings() throws {
        XCTAssertEqual(parseOK(row("Medborgarskap", "aF; Se/se\u{A0}SYRIEN")).first?.child.citizenship, ["AF", "SE", "SY"])
        XCTAssertEqual(parseOK(row("Språk", "PRS Ar ara ARABISKA")).first?.child.languages, ["prs", "ar", "ara"])
        let json = #"{"intake_id": "J-1", "given_name": "Ali", "event": "ÅTERFUNNEN", "event_time": "2015-10-23", "#
            + #""citizenship": ["af ir", "", "SO"], "languages": [], "references": ["a-1 b-2"]}"#
        let r = try XCTUnwrap(parseOK(json, file: "j.json").first)
        XCTAssertEqual(r.event.type, .found)
        XCTAssertEqual(r.child.citizenship, ["AF", "IR", "SO"])
        XCTAssertEqual(r.child.languages, [])
        XCTAssertEqual(r.references.map(\.rawValue), ["a-1", "b-2"])
        let noName = parseErrors(#"{"intake_id": "J-1", "given_name": [], "event": "avviken", "event_time": "2015-10-23"}"#,
                                 file: "j.json")
        XCTAssertEqual(noName.map { String($0.reason.prefix(20)) }, ["must be a string", "the child has no nam"])
    }

    func testTextAfterAClosingQuoteAndQuotedValuesAtTheEnd() {
        let csv = minimalHeader + ";Anteckning\nQ-1;\"Al\"\"i\"x;Khan;registrerad;2015-10-23;\"a\"\"b\"\nQ-2;Sara;Ali;registrerad;2015-10-23;\"\"\"\""
        let errors = parseErrors(csv)
        XCTAssertEqual(errors.count, 1)
        XCTAssertEqual(errors.first?.location, .row(2, line: 2))
        XCTAssertTrue(errors.first?.reason.contains("text follows the closing quote") ?? false)
        let ok = parseOK(minimalHeader + ";Anteckning\nQ-1;\"Al\"\"i\";Khan;registrerad;2015-10-23;\"a\"\"b\"\n"
            + "Q-2;Sara;Ali;registrerad;2015-10-23;\"\"\"\"")
        XCTAssertEqual(ok.map(\.child.givenName), ["Al\"i", "Sara"])
        XCTAssertEqual(ok.map(\.event.note), ["a\"b", "\""])
    }

    func testMessageIDsForAnyIndexAndDigest() {
        XCTAssertEqual(IntakeFile.messageID(fileDigestHex: "", index: 12_345_678_901).rawValue, "-12345678901")
        XCTAssertEqual(IntakeFile.messageID(fileDigestHex: "AB-cd", index: -5).rawValue, "abcd-0")
        let digest = String(repeating: "F", count: 64)
        XCTAssertEqual(IntakeFile.messageID(fileDigestHex: digest, index: Int.max).rawValue,
                       String(repeating: "f", count: 32) + "-" + String(Int.max))
    }
}
