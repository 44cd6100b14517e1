import Foundation
import XCTest
@testable import StafettModel

/// Every field rule, accepting and refusing, through the public parser.
final class IntakeValidationTests: XCTestCase {
    /// A one-record CSV with an extra column `header` holding `value`.
    private func one(_ header: String, _ value: String) -> Result<[IntakeRecord], IntakeFailure> {
        let csv = minimalHeader + ";" + header + "\nV-1;Ali;Khan;registrerad;2015-10-23 10:00;\"" + value + "\"\n"
        return IntakeParser.parse(data: Data(csv.utf8), fileName: "v.csv", referenceDate: intakeNow)
    }

    private func accepts(_ header: String, _ value: String, line: UInt = #line) -> IntakeRecord? {
        switch one(header, value) {
        case .success(let r): return r.first
        case .failure(let f): XCTFail("\(header)=\(value) refused: \(f.report)", line: line); return nil
        }
    }

    @discardableResult
    private func refuses(_ header: String, _ value: String, _ fragment: String, line: UInt = #line) -> IntakeError? {
        switch one(header, value) {
        case .success: XCTFail("\(header)=\(value) accepted", line: line); return nil
        case .failure(let f):
            XCTAssertEqual(f.errors.count, 1, f.report, line: line)
            let e = f.errors[0]
            XCTAssertEqual(e.field, header, line: line)
            XCTAssertEqual(e.location, .row(2, line: 2), line: line)
            XCTAssertTrue(e.reason.contains(fragment), "\(e.reason) lacks \(fragment)", line: line)
            return e
        }
    }

    func testDatesOfBirth() {
        XCTAssertEqual(accepts("Födelsedatum", "2001-04-17")?.child.dateOfBirth?.iso, "2001-04-17")
        XCTAssertEqual(accepts("Födelsedatum", "20010417")?.child.dateOfBirth?.iso, "2001-04-17")
        XCTAssertEqual(accepts("Födelsedatum", "1990-01-01")?.child.dateOfBirth?.iso, "1990-01-01")
        XCTAssertEqual(accepts("Födelsedatum", "2015-10-23")?.child.dateOfBirth?.iso, "2015-10-23")
        refuses("Födelsedatum", "2015-11-05", "after the event (2015-10-23)")
        refuses("Födelsedatum", "2015-11-06", "in the future")
        refuses("Födelsedatum", "1989-12-31", "before 1990")
        refuses("Födelsedatum", "2001-02-29", "not a real date")
        refuses("Födelsedatum", "17/4/2001", "YYYY-MM-DD")
    }

    func testEstimatedFlag() {
        for yes in ["ja", "Ja", "yes", "TRUE", "1", "x", "X"] {
            XCTAssertEqual(accepts("Uppskattat födelsedatum", yes)?.child.dateOfBirthEstimated, true, yes)
        }
        for no in ["nej", "no", "false", "0", ""] {
            XCTAssertEqual(accepts("dob_estimated", no)?.child.dateOfBirthEstimated, false, no)
        }
        refuses("Uppskattat födelsedatum", "kanske", "ja or nej")
    }

    func testSex() {
        let cases: [(String, Sex)] = [("flicka", .female), ("Kvinna", .female), ("F", .female), ("female", .female),
                                      ("pojke", .male), ("man", .male), ("M", .male), ("annat", .other),
                                      ("okänt", .unknown), ("Okant", .unknown), ("unknown", .unknown)]
        for (text, sex) in cases { XCTAssertEqual(accepts("Kön", text)?.child.sex, sex, text) }
        refuses("Kön", "kille", "flicka, pojke")
    }

    func testPersonnummerAndSamordningsnummer() {
        XCTAssertEqual(accepts("Personnummer", "20021104-9820")?.child.identifiers.personalIdentityNumber?.kind, .personnummer)
        XCTAssertEqual(accepts("Samordningsnummer", "200001749837")?.child.identifiers.personalIdentityNumber?.kind,
                       .samordningsnummer)
        XCTAssertEqual(accepts("personal_identity_number", "021104-9820")?.child.identifiers.personalIdentityNumber?.digits,
                       "200211049820")
        let e = refuses("Personnummer", "20021104-9821", "Luhn")
        XCTAssertFalse(e?.description.contains("9821") ?? true)
        refuses("Personnummer", "20021304-9820", "not a real date")
        refuses("Personnummer", "2002-11-04", "YYYYMMDD-NNNN")
    }

    func testPersonnummerMustMatchAnExactDateOfBirth() {
        let csv = minimalHeader + ";Födelsedatum;Uppskattat födelsedatum;Personnummer\n"
            + "V-1;Ali;Khan;registrerad;2015-10-23;2002-11-05;nej;20021104-9820\n"
            + "V-2;Ali;Khan;registrerad;2015-10-23;2002-11-05;ja;20021104-9820\n"
        let errors = parseErrors(csv)
        XCTAssertEqual(errors.count, 1)
        XCTAssertEqual(errors.first?.location, .row(2, line: 2))
        XCTAssertEqual(errors.first?.field, "Födelsedatum")
    }

    func testOrganisationNumbers() {
        XCTAssertEqual(accepts("Mottagare", "202100-2163")?.recipient?.digits, "2021002163")
        XCTAssertEqual(accepts("Ansvarig organisation", "2120001173")?.event.responsibleOrganisation?.formatted, "212000-1173")
        refuses("Mottagare", "202100-2164", "Luhn")
        refuses("Ansvarig organisation", "12345", "10 digits")
    }

    func testCitizenship() {
        XCTAssertEqual(accepts("Medborgarskap", "af")?.child.citizenship, ["AF"])
        XCTAssertEqual(accepts("Medborgarskap", "AF; IR SY,af")?.child.citizenship, ["AF", "IR", "SY"])
        XCTAssertEqual(accepts("citizenship", "XX")?.child.citizenship, ["XX"])
        XCTAssertEqual(accepts("citizenship", "XK")?.child.citizenship, ["XK"])
        XCTAssertEqual(accepts("Medborgarskap", "Afghanistan, Syrien")?.child.citizenship, ["AF", "SY"])
        XCTAssertEqual(accepts("Medborgarskap", "statslös")?.child.citizenship, ["XX"])
        refuses("Medborgarskap", "AF, ZZ", "\"ZZ\" is not an ISO 3166-1")
        refuses("Medborgarskap", "XS", "ISO 3166-1")
        refuses("Medborgarskap", "AFG", "two letters")
        XCTAssertEqual(CountryCodes.officiallyAssigned.count, 249)
    }

    func testLanguages() {
        XCTAssertEqual(accepts("Språk", "prs, PUS ar")?.child.languages, ["prs", "pus", "ar"])
        XCTAssertEqual(accepts("languages", "ckb;kmr;ti;so;am")?.child.languages, ["ckb", "kmr", "ti", "so", "am"])
        XCTAssertEqual(accepts("Språk", "Dari, arabiska, Tigrinja")?.child.languages, ["prs", "ar", "ti"])
        refuses("Språk", "prs, xyz", "this value is not a language code")
        refuses("Språk", "bh", "language code")
        XCTAssertEqual(LanguageCodes.iso639_1.count, 183)
        for code in ["prs", "pus", "fas", "ara", "som", "tir", "amh", "kur", "ckb", "kmr", "uzb", "urd", "ben", "eng",
                     "fra", "swe", "rus", "ukr"] {
            XCTAssertTrue(LanguageCodes.iso639_3.contains(code), code)
        }
    }

    func testEventsByEnglishAndSwedishNames() {
        let cases: [(String, EventType)] = [
            ("Registered", .registered), ("registrerad", .registered), ("registrerad vid ankomst", .registered),
            ("asylansökan inlämnad", .asylumApplicationLodged), ("Asylansokan", .asylumApplicationLodged),
            ("placerad", .placed), ("anvisad kommun", .assigned), ("överflyttad", .transferSent),
            ("TransferReceived", .transferReceived), ("mottagen", .transferReceived), ("AVVIKEN", .reportedMissing),
            ("reported missing", .reportedMissing), ("återfunnen", .found), ("aterfunnen", .found),
            ("avslutad", .closed), ("Update", .update), ("uppdatering", .update),
        ]
        for (text, type) in cases {
            let csv = minimalHeader + "\nV-1;Ali;Khan;" + text + ";2015-10-23\n"
            XCTAssertEqual(parseOK(csv).first?.event.type, type, text)
        }
        let errors = parseErrors(minimalHeader + "\nV-1;Ali;Khan;rymd;2015-10-23\n")
        XCTAssertEqual(errors.first?.field, "Händelse")
        XCTAssertTrue(errors.first?.reason.contains("avviken") ?? false)
    }

    func testEventTimes() {
        func time(_ text: String) -> Result<[IntakeRecord], IntakeFailure> {
            IntakeParser.parse(data: Data((minimalHeader + "\nT;Ali;Khan;registrerad;" + text + "\n").utf8),
                               fileName: "t.csv", referenceDate: intakeNow)
        }
        func at(_ text: String) -> TimeInterval? { try? time(text).get().first?.event.time.timeIntervalSince1970 }
        let midnight23 = 1_445_558_400.0  // 2015-10-23 00:00 UTC
        XCTAssertEqual(at("2015-10-23T06:40:00Z"), midnight23 + 24_000)
        XCTAssertEqual(at("2015-10-23T08:40:00+02:00"), midnight23 + 24_000)
        XCTAssertEqual(at("2015-10-23T08:40+0200"), midnight23 + 24_000)
        XCTAssertEqual(at("2015-10-23 08:40"), midnight23 + 24_000)  // summer time
        XCTAssertEqual(at("2015-10-23 8:40:00"), midnight23 + 24_000)
        XCTAssertEqual(at("2015-10-23T08:40:00.250+02:00"), midnight23 + 24_000)
        XCTAssertEqual(at("2015-10-23"), midnight23 - 7_200)  // midnight Swedish time
        XCTAssertEqual(at("2015-11-02 08:40"), midnight23 + 10 * 86_400 + 27_600)  // winter time: UTC+1
        // The repeated hour on 25 October 2015 reads as the first (summer time) one.
        XCTAssertEqual(at("2015-10-25 02:30"), midnight23 + 2 * 86_400 + 1_800)
        guard case .failure(let gap) = time("2015-03-29 02:30") else { return XCTFail("skipped hour accepted") }
        XCTAssertTrue(gap.errors[0].reason.contains("does not exist"))
        XCTAssertNotNil(at("2015-03-29 02:30+01:00"))
        XCTAssertEqual(at("2015-10-23T08:40:00+02"), midnight23 + 24_000)
        for bad in ["23/10/2015 08:40", "2015-10-23 25:00", "2015-10-23 08:40 CET", "2015-10-23T08", "1989-12-31",
                    "2015-11-07 10:00", "2015-10-23T08:40:00+02:3", "2015-10-23T08:40:00+02:", "2015-10-23T08:40:00.+02:00"] {
            guard case .failure(let f) = time(bad) else { XCTFail("\(bad) accepted"); continue }
            XCTAssertEqual(f.errors.first?.field, "Händelsetid", bad)
        }
        XCTAssertNotNil(at("2015-11-06 10:00"), "a day of clock skew is allowed")
    }

    func testSwedishTimeAgreesWithTheTimeZoneDatabase() throws {
        guard let tz = TimeZone(identifier: "Europe/Stockholm") else { throw XCTSkip("no tz database") }
        var t = 631_152_000  // 1990-01-01
        while t < 2_000_000_000 {
            let d = Date(timeIntervalSince1970: TimeInterval(t))
            XCTAssertEqual(SwedishTime.offset(at: d), tz.secondsFromGMT(for: d), "\(d)")
            t += 86_400 * 7 + 3_607
        }
    }

    func testNamesAndTextLimits() {
        XCTAssertNotNil(accepts("Plats", String(repeating: "å", count: 200)))
        refuses("Plats", String(repeating: "å", count: 201), "at most 200")
        XCTAssertEqual(accepts("Anteckning", String(repeating: "x", count: 4000))?.event.note?.count, 4000)
        refuses("Anteckning", String(repeating: "x", count: 4001), "at most 4000")
        // Counted as the schema counts: code points (👍🏽 is two), not what the eye sees.
        refuses("Anteckning", String(repeating: "👍🏽", count: 2100), "at most 4000")
        XCTAssertEqual(accepts("Anteckning", "rad 1\r\nrad 2\tslut")?.event.note, "rad 1\nrad 2\tslut")
        refuses("Plats", "Malmö\u{7}", "control character")
        refuses("Plats", "Malmö\nC", "control character")
        let long = minimalHeader + "\nV;" + String(repeating: "a", count: 201) + ";Khan;registrerad;2015-10-23\n"
        XCTAssertEqual(parseErrors(long).first?.field, "Förnamn")
        XCTAssertEqual(parseErrors(minimalHeader + "\nV;1234;Khan;registrerad;2015-10-23\n").first?.reason
            .contains("no letters"), true)
        refuses("Dossiernummer", "15<script>", "only hold letters")
        // The schema's limit for a dossier number is 32, for an intake id 64.
        XCTAssertNotNil(accepts("Dossiernummer", String(repeating: "1", count: 32)))
        refuses("Dossiernummer", String(repeating: "1", count: 33), "at most 32")
    }

    func testRequiredFieldsPerRecord() {
        let csv = minimalHeader + ";Dossiernummer\n"
            + ";Ali;;registrerad;2015-10-23;D-1\n"   // fine: one name, dossier number
            + ";;;registrerad;2015-10-23;D-2\n"      // no name
            + ";Ali;Khan;;2015-10-23;D-3\n"          // no event
            + ";Ali;Khan;registrerad;;D-4\n"         // no time
            + ";Ali;Khan;registrerad;2015-10-23;\n"  // no identifier
        let errors = parseErrors(csv)
        XCTAssertEqual(errors.map(\.location), [3, 4, 5, 6].map { .row($0, line: $0) })
        XCTAssertTrue(errors[0].reason.contains("no name"))
        XCTAssertTrue(errors[1].reason.contains("\"Händelse\""))
        XCTAssertTrue(errors[2].reason.contains("\"Händelsetid\""))
        XCTAssertTrue(errors[3].reason.contains("identifier"))
        XCTAssertTrue(errors.allSatisfy { $0.field == nil })
    }

    func testPlacement() {
        let csv = minimalHeader + ";Placering;Placeringens namn\n"
            + "P1;Ali;Khan;placerad;2015-10-23;HVB;Ankomstboendet\n"
            + "P2;Ali;Khan;placerad;2015-10-23;Jourhem;\n"
            + "P3;Ali;Khan;placerad;2015-10-23;familjehem;Familjen Berg\n"
            + "P4;Ali;Khan;placerad;2015-10-23;annat;Stödboende\n"
        let r = parseOK(csv)
        XCTAssertEqual(r.map { $0.event.placement?.kind }, [.hvb, .jourhem, .familjehem, .other])
        XCTAssertEqual(r[0].event.placement?.name, "Ankomstboendet")
        XCTAssertNil(r[1].event.placement?.name)
        refuses("Placering", "tält", "HVB, jourhem")
        refuses("Placeringens namn", "Villa Ro", "kind of placement is missing")
    }

    func testReferences() {
        XCTAssertEqual(accepts("Referens", "abc-1, def-2")?.references.map(\.rawValue), ["abc-1", "def-2"])
        refuses("Referens", "abc-1, dé", "message id")
    }
}
