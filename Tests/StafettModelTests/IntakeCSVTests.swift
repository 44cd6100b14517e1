import Foundation
import XCTest
@testable import StafettModel

final class IntakeCSVTests: XCTestCase {
    /// One Excel sheet, names with å ä ö é ü, a note with €, š and œ.
    private let sheet = """
        Ärendenummer;Förnamn;Efternamn;Födelsedatum;Kön;Händelse;Händelsetid;Plats;Anteckning\r
        A-1;Åsa Zoë;Öberg;2002-05-06;flicka;registrerad;2015-10-23 06:40;Trelleborgs hamn;Väska värd 50 €\r
        A-2;René;Müller-Lindén;2001-01-01;pojke;avviken;2015-10-23 21:45;Malmö;"Sågs i Skärholmen; säger ""hej""\r
        andra raden: œuvre, Šárka"\r
        A-3;Jörgen;Ärlig;2003-12-31;pojke;återfunnen;2015-10-24;Göteborg;\r
        \r

        """

    func testWindows1252AndUTF8WithBOMGiveIdenticalRecords() throws {
        let utf8 = Data([0xEF, 0xBB, 0xBF]) + Data(sheet.utf8)
        let cp1252 = windows1252(sheet)
        XCTAssertNotEqual(utf8.count, cp1252.count)
        let a = parseOK(utf8, file: "outbox/sheet.csv")
        let b = parseOK(cp1252, file: "outbox/sheet.csv")
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a[0].child.givenName, "Åsa Zoë")
        XCTAssertEqual(a[0].event.note, "Väska värd 50 €")
        XCTAssertEqual(a[1].child.familyName, "Müller-Lindén")
        XCTAssertEqual(a[1].event.note, "Sågs i Skärholmen; säger \"hej\"\nandra raden: œuvre, Šárka")
        XCTAssertEqual(a[2].event.type, .found)
        XCTAssertEqual(b.map(\.location), [.row(2, line: 2), .row(3, line: 3), .row(4, line: 5)])
        // Plain UTF-8 without BOM reads the same.
        XCTAssertEqual(parseOK(Data(sheet.utf8), file: "outbox/sheet.csv"), a)
    }

    /// UTF-8 rows beside one Windows-1252 byte (two exports pasted together) are refused whole:
    /// read either way, some names would reach the agency garbled. JSON is UTF-8 or nothing.
    func testMixedEncodingsAreRefusedNotGarbled() throws {
        let utf8Part = Data("given_name;family_name;intake_id;event;event_time;note\r\nBjörn;Åkesson;A-1;registrerad;2015-10-23 06:40;ok\r\n".utf8)
        let mixed = utf8Part + windows1252("Ali;Khan;A-2;registrerad;2015-10-23 06:40;pris 5 €\r\n")
        func errors(_ data: Data, _ file: String) -> [IntakeError] {
            guard case .failure(let f) = IntakeParser.parse(data: data, fileName: file, referenceDate: intakeNow) else {
                XCTFail("\(file) was accepted"); return []
            }
            return f.errors
        }
        let e = errors(mixed, "outbox/mixed.csv")
        XCTAssertEqual(e.count, 1, "\(e)")
        XCTAssertTrue(e.first?.reason.contains("mixes UTF-8 and Windows-1252") == true, "\(e)")
        let json = windows1252(#"[{"intake_id": "J-1", "given_name": "Åsa", "event": "registrerad", "event_time": "2015-10-23 06:40"}]"#)
        XCTAssertTrue(errors(json, "outbox/list.json").first?.reason.contains("JSON must be UTF-8") == true)
    }

    /// A date of birth after the event, from either column, is refused; a personnummer's is named
    /// by its year only.
    func testABirthAfterTheEventIsRefused() {
        let e = parseErrors("""
            Ärendenummer;Förnamn;Födelsedatum;Händelse;Händelsetid\r
            A-1;Ali;2015-11-02;registrerad;2015-10-23 06:40\r
            """)
        XCTAssertTrue(e.contains { $0.field == "Födelsedatum" && $0.reason.contains("is after the event (2015-10-23)") }, "\(e)")
        let pin = "20151020-" + luhnTail("2015102012")
        let p = parseErrors("Ärendenummer;Förnamn;Personnummer;Händelse;Händelsetid\r\nA-2;Sara;\(pin);registrerad;2015-10-01 06:40\r\n")
        XCTAssertTrue(p.contains { $0.field == "Personnummer" && $0.reason.contains("born 2015") }, "\(p)")
        XCTAssertFalse(p.description.contains("2015-10-20"), "the personnummer's date is not repeated: \(p)")
    }

    func testCommaSeparatorAndEnglishHeaders() throws {
        let csv = """
            intake_id,First Name,last_name,date_of_birth,sex,citizenship,languages,event,event_time
            B-1,Ali,Khan,2001-02-03,M,"AF, IR","prs fa",Registered,2015-10-23T06:40:00Z
            B-2,Sara,,2000-10-10,F,SO,so,ReportedMissing,2015-10-23 08:00
            """
        let r = parseOK(csv)
        XCTAssertEqual(r.count, 2)
        XCTAssertEqual(r[0].child.citizenship, ["AF", "IR"])
        XCTAssertEqual(r[0].child.languages, ["prs", "fa"])
        XCTAssertEqual(r[0].event.time, Date(timeIntervalSince1970: 1_445_582_400))
        XCTAssertEqual(r[1].child.sex, .female)
        XCTAssertEqual(r[1].child.familyName, "")
        // 08:00 in Stockholm on 23 October 2015 is summer time: 06:00 UTC.
        XCTAssertEqual(r[1].event.time, Date(timeIntervalSince1970: 1_445_580_000))
    }

    func testHeadersAreFoldedAndTrimmed() throws {
        let csv = " FORNAMN ;efter-namn;ärende nummer;HÄNDELSE;handelsetid;Kon;Sprak\nAli;Khan;X1;registrerad;2015-10-23;pojke;dari\n"
        let r = parseOK(csv)
        XCTAssertEqual(r.first?.child.languages, ["prs"])
        XCTAssertEqual(r.first?.child.identifiers.intakeId, "X1")
    }

    /// Another organisation's intake id comes with its issuer, under a Swedish or an English
    /// column name; without one the id is the sender's own, and an issuer needs an id.
    func testIntakeIdIssuerColumn() throws {
        for header in ["Ärendenummer utfärdare", "Utfärdare", "Ärende-id utfärdare", "Kommun-id utfärdare", "Issuer",
                       "Intake id issuer"] {
            let csv = "Ärendenummer;\(header);Förnamn;Efternamn;Händelse;Händelsetid\n"
                + "TBG-2015-17;212000-1173;Ali;Khan;återfunnen;2015-10-23 10:00\n"
                + "MLM-1;;Sara;Ali;registrerad;2015-10-23 10:05\n"
            let r = parseOK(csv)
            XCTAssertEqual(r.map(\.child.identifiers.intakeIdIssuer), [try OrganisationNumber("2120001173"), nil], header)
            XCTAssertEqual(r.map(\.child.identifiers.intakeId), ["TBG-2015-17", "MLM-1"], header)
        }
        let bad = parseErrors("Ärendenummer;Utfärdare;Dossiernummer;Förnamn;Händelse;Händelsetid\n"
            + "TBG-2015-17;212000-1174;;Ali;återfunnen;2015-10-23 10:00\n"
            + ";212000-1173;15-1;Sara;registrerad;2015-10-23 10:05\n")
        XCTAssertEqual(bad.map(\.field), ["Utfärdare", "Utfärdare"], "\(bad)")
        XCTAssertTrue(bad[0].reason.contains("check digit"), bad[0].reason)
        XCTAssertTrue(bad[1].reason.contains("no intake id"), bad[1].reason)
    }

    /// Messages made from intake records leave out an issuer equal to their sender.
    func testAnIssuerEqualToTheSenderIsLeftOutOfTheMessage() throws {
        let csv = "Ärendenummer;Utfärdare;Förnamn;Händelse;Händelsetid\n"
            + "TBG-1;212000-1173;Ali;registrerad;2015-10-23 10:00\n"
            + "MLM-1;212000-1124;Sara;registrerad;2015-10-23 10:05\n"
        let records = parseOK(csv)
        let trelleborg = try OrganisationNumber("2120001173")
        let messages = IntakeFile.caseMessages(records, fileDigestHex: String(repeating: "ab", count: 32), sender: trelleborg,
                                                 defaultRecipient: try OrganisationNumber("2120001124"), createdAt: intakeNow)
        XCTAssertEqual(messages.map(\.child.identifiers.intakeIdIssuer), [nil, try OrganisationNumber("2120001124")])
        XCTAssertEqual(messages.map(\.intakeIdIssuer), [trelleborg, try OrganisationNumber("2120001124")])
        let one = records[0].caseMessage(id: try MessageID("m-1"), sender: trelleborg,
                                         defaultRecipient: try OrganisationNumber("2120001124"), createdAt: intakeNow)
        XCTAssertNil(one.child.identifiers.intakeIdIssuer)
    }

    func testQuotedFieldsKeepLaterLineNumbersRight() throws {
        let csv = minimalHeader + ";Anteckning\r\n"
            + "Q-1;Ali;Khan;registrerad;2015-10-23 06:40;\"rad ett\r\nrad två\r\nrad tre\"\r\n"
            + "Q-2;Sara;Ali;registrerad;2015-10-23 06:41;\"med \"\"citat\"\" och ; och , i\"\r\n"
            + "Q-3;Omar;Noor;registrerad;2015-02-30 06:41;\r\n"
        let errors = parseErrors(csv, file: "outbox/q.csv")
        XCTAssertEqual(errors.count, 1)
        XCTAssertEqual(errors.first?.location, .row(4, line: 6))
        XCTAssertEqual(errors.first?.description,
                       "outbox/q.csv row 4 (line 6) (intake id Q-3), column \"Händelsetid\": 2015-02-30 is not a real date: check the day and month")
        let ok = parseOK(csv.replacingOccurrences(of: "2015-02-30", with: "2015-02-28"))
        XCTAssertEqual(ok.map(\.location), [.row(2, line: 2), .row(3, line: 5), .row(4, line: 6)])
        XCTAssertEqual(ok[0].event.note, "rad ett\nrad två\nrad tre")
        XCTAssertEqual(ok[1].event.note, "med \"citat\" och ; och , i")
    }

    func testUnterminatedQuoteIsReportedAtItsLine() {
        let csv = minimalHeader + "\nU-1;Ali;Khan;registrerad;2015-10-23\nU-2;\"Sara;Ali;registrerad;2015-10-23\n"
        let errors = parseErrors(csv)
        XCTAssertTrue(errors.contains { $0.location == .row(3, line: 3) && $0.reason.contains("closing quote") }, "\(errors)")
    }

    func testUnknownAndDuplicateColumnsAreErrors() {
        let errors = parseErrors("Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid;Fodelsedatun;first_name\nX;A;B;registrerad;2015-10-23;2001-01-01;A\n",
                                 file: "outbox/typo.csv")
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors[0].description.hasPrefix("outbox/typo.csv row 1, column \"Fodelsedatun\": unknown column: did you mean \"Födelsedatum\"?"))
        XCTAssertEqual(errors[1].field, "first_name")
        XCTAssertTrue(errors[1].reason.contains("Förnamn"))
    }

    func testMissingRequiredColumnsAreNamedAtTheHeader() {
        let errors = parseErrors("Förnamn;Händelse\nAli;registrerad\n")
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors.allSatisfy { $0.location == .row(1, line: 1) })
        XCTAssertTrue(errors.contains { $0.reason.contains("Händelsetid") })
        XCTAssertTrue(errors.contains { $0.reason.contains("identifier") })
    }

    func testBlankRowsAreSkippedAndExtraValuesRefused() {
        let ok = parseOK(minimalHeader + "\n;;;;\nE-1;Ali;Khan;registrerad;2015-10-23;;\n\n\n")
        XCTAssertEqual(ok.count, 1)
        XCTAssertEqual(ok[0].index, 0)
        XCTAssertEqual(ok[0].location, .row(3, line: 3))
        let errors = parseErrors(minimalHeader + "\nE-1;Ali;Khan, Jr;registrerad;2015-10-23;extra\n")
        XCTAssertEqual(errors.first?.location, .row(2, line: 2))
        XCTAssertTrue(errors.first?.reason.contains("separator") ?? false)
    }

    func testAllOrNothingCollectsEveryError() {
        var csv = minimalHeader + ";Kön;Personnummer\n"
        for i in 0..<10 { csv += "R-\(i);Ali;Khan;registrerad;2015-10-23;\(i % 2 == 0 ? "pojke" : "kille");\n" }
        csv += "R-10;Ali;Khan;registrerad;2015-10-23;pojke;19121212-1213\n"
        let errors = parseErrors(csv, file: "outbox/all.csv")
        XCTAssertEqual(errors.count, 6)
        XCTAssertEqual(errors.map(\.location), [3, 5, 7, 9, 11, 12].map { .row($0, line: $0) })
        XCTAssertEqual(errors.last?.description,
                       "outbox/all.csv row 12 (intake id R-10), column \"Personnummer\": the check digit is wrong (Luhn): check for a mistyped digit")
        XCTAssertFalse(errors.last!.description.contains("19121212-1213"), "personnummer must not be echoed")
    }

    func testErrorCapAndRecordLimit() {
        var csv = minimalHeader + ";Kön\n"
        for i in 0..<50 { csv += "R-\(i);Ali;Khan;registrerad;2015-10-23;kille\n" }
        let capped = IntakeParser.parse(data: Data(csv.utf8), fileName: "c.csv", referenceDate: intakeNow,
                                        limits: IntakeLimits(maxErrors: 10))
        guard case .failure(let f) = capped else { return XCTFail("expected failure") }
        XCTAssertEqual(f.errors.count, 10)
        XCTAssertTrue(f.truncated)
        XCTAssertTrue(f.report.contains("stopped after 10 errors"))
        let limited = IntakeParser.parse(data: Data(csv.replacingOccurrences(of: "kille", with: "pojke").utf8),
                                         fileName: "c.csv", referenceDate: intakeNow, limits: IntakeLimits(maxRecords: 20))
        guard case .failure(let g) = limited else { return XCTFail("expected failure") }
        XCTAssertTrue(g.errors.contains { $0.reason.contains("more than 20 records") })
        let tiny = IntakeParser.parse(data: Data(csv.utf8), fileName: "c.csv", referenceDate: intakeNow,
                                      limits: IntakeLimits(maxBytes: 100))
        guard case .failure(let h) = tiny else { return XCTFail("expected failure") }
        XCTAssertEqual(h.errors.first?.location, .file)
    }

    func testEncodingProblemsAreFileErrors() {
        let utf16 = Data([0xFF, 0xFE]) + minimalHeader.data(using: .utf16LittleEndian)!
        guard case .failure(let f) = IntakeParser.parse(data: utf16, fileName: "u.csv", referenceDate: intakeNow) else {
            return XCTFail("UTF-16 accepted")
        }
        XCTAssertTrue(f.errors[0].reason.contains("UTF-16"))
        let badBOM = Data([0xEF, 0xBB, 0xBF]) + Data(minimalHeader.utf8) + Data([0x0A, 0xE5, 0x0A])
        guard case .failure(let g) = IntakeParser.parse(data: badBOM, fileName: "b.csv", referenceDate: intakeNow) else {
            return XCTFail("invalid UTF-8 after BOM accepted")
        }
        XCTAssertEqual(g.errors[0].description.hasPrefix("b.csv: the file says it is UTF-8"), true)
        XCTAssertEqual(parseErrors("   \n\n").first?.reason, "the file is empty")
        XCTAssertEqual(parseErrors(minimalHeader + "\n").first?.reason, "the file holds no records")
    }

    func testUndefined1252BytesBecomeControlCharacterErrors() {
        var data = Data(("Arendenummer;Fornamn;Efternamn;Handelse;Handelsetid\nX;Ali").utf8)
        data.append(0x81)
        data.append(contentsOf: Data(";Khan;registrerad;2015-10-23\n".utf8))
        guard case .failure(let f) = IntakeParser.parse(data: data, fileName: "x.csv", referenceDate: intakeNow) else {
            return XCTFail("control character accepted")
        }
        XCTAssertEqual(f.errors.first?.field, "Fornamn")
        XCTAssertTrue(f.errors.first?.reason.contains("control character") ?? false)
        // The same stray byte in a file with UTF-8 headers: the mixed encoding is named.
        var mixed = Data((minimalHeader + "\nX;Ali").utf8)
        mixed.append(0x81)
        mixed.append(contentsOf: Data(";Khan;registrerad;2015-10-23\n".utf8))
        guard case .failure(let g) = IntakeParser.parse(data: mixed, fileName: "m.csv", referenceDate: intakeNow) else {
            return XCTFail("mixed encoding accepted")
        }
        XCTAssertTrue(g.errors.first?.reason.contains("mixes UTF-8 and Windows-1252") ?? false, g.report)
    }

    func testTrelleborgSampleFile() throws {
        let url = intakeExamples.appendingPathComponent("trelleborg-2015-10-23.csv")
        let data = try Data(contentsOf: url)
        XCTAssertEqual(Array(data.prefix(3)), [0xEF, 0xBB, 0xBF])
        let r = parseOK(data, file: "outbox/trelleborg-2015-10-23.csv")
        XCTAssertEqual(r.count, 8)
        XCTAssertEqual(r.map(\.location), [2, 3, 4, 5, 6, 7, 8, 10].enumerated().map { .row($0.offset + 2, line: $0.element) })
        XCTAssertEqual(r[1].child.identifiers.personalIdentityNumber?.kind, .personnummer)
        XCTAssertEqual(r[4].child.identifiers.personalIdentityNumber?.kind, .samordningsnummer)
        XCTAssertEqual(r[4].event.type, .asylumApplicationLodged)
        XCTAssertEqual(r[6].event.type, .reportedMissing)
        XCTAssertTrue(r[6].event.note?.contains("\"ska till Malmö\"") ?? false)
        XCTAssertEqual(r[3].recipient?.formatted, "202100-2163")
        XCTAssertEqual(r[7].event.placement, Placement(kind: .other, name: "Stödboende Sjöbo"))
        XCTAssertEqual(Set(r.map { $0.event.responsibleOrganisation?.formatted }), ["212000-1173"])
    }

    func testSepLineLeadingBlankLinesAndWorkbooks() {
        let withSep = "sep=,\r\nintake_id,given_name,event,event_time\r\nS-1,Ali,registrerad,2015-10-23\r\n"
        let r = parseOK(withSep)
        XCTAssertEqual(r.first?.location, .row(2, line: 3), "Excel does not show its sep= line as a row")
        let leading = "\n\nintake_id,given_name,event,event_time,sex\nS-1,Ali,registrerad,2015-10-23,kille\n"
        let e = parseErrors(leading)
        XCTAssertEqual(e.map(\.location), [.row(4, line: 4)])
        XCTAssertEqual(e.first?.field, "sex")
        XCTAssertTrue(parseErrors("intake_id,given_name\n", file: "lista.xlsx").first?.reason.contains("CSV UTF-8") ?? false)
        let zip = Data([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00])
        guard case .failure(let f) = IntakeParser.parse(data: zip, fileName: "lista", referenceDate: intakeNow) else {
            return XCTFail("zip accepted")
        }
        XCTAssertTrue(f.errors[0].reason.contains("workbook"))
        let missing = parseErrors("\r\nFörnamn;Händelse\r\nAli;registrerad\r\n")
        XCTAssertTrue(missing.allSatisfy { $0.location == .row(2, line: 2) })
    }
}
