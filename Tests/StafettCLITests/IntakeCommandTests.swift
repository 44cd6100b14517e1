import Foundation
import StafettModel
import StafettXML
import XCTest
@testable import StafettCLI

final class IntakeCommandTests: XCTestCase {
    func testValidatePrintsOneLinePerRecordAndExitsZeroForTheSamples() throws {
        let cli = try CLIRun()
        let csv = examplesDirectory.appendingPathComponent("intake/trelleborg-2015-10-23.csv").path
        let r = try cli.run(["validate", csv])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 8)
        XCTAssertTrue(lines.allSatisfy { $0.contains(": ok ") })
    }

    func testValidateNamesFileLineFieldAndReasonAndExitsOne() throws {
        let cli = try CLIRun()
        let bad = "Förnamn;Efternamn;Händelse;Händelsetid;Ärendenummer;Personnummer\r\n"
            + "Amina;Rahimi;Registrerad;2015-10-23 08:15;TBG-1;20050101-0001\r\n"
            + "Omid;Karimi;Registrerad;2015-10-23 08:20;TBG-2;\r\n"
        try Data(bad.utf8).write(to: URL(fileURLWithPath: cli.path("bad.csv")))
        let r = try cli.run(["validate", cli.path("bad.csv")])
        XCTAssertEqual(r.code, ExitCode.invalid)
        XCTAssertTrue(r.out.contains("bad.csv rad 2 (ärendenummer TBG-1), kolumn \"Personnummer\": kontrollsiffran stämmer inte"), r.out)
        XCTAssertTrue(r.out.contains("  \(cli.path("bad.csv")) row 2 (intake id TBG-1), column \"Personnummer\": the check digit"), r.out)
        XCTAssertTrue(r.out.contains("Personnummer"), r.out)
        XCTAssertTrue(r.out.contains("INVALID"), r.out)
    }

    func testValidateChecksCaseXMLAgainstTheSchema() throws {
        let cli = try CLIRun()
        let good = try cli.run(["validate", examplesDirectory.appendingPathComponent("reported-missing.xml").path])
        XCTAssertEqual(good.code, 0, good.out)
        XCTAssertTrue(good.out.contains("ReportedMissing"))
        let bad = try cli.run(["validate", examplesDirectory.appendingPathComponent("invalid/case-bad-sex.xml").path])
        XCTAssertEqual(bad.code, ExitCode.invalid)
        XCTAssertTrue(bad.out.contains("Sex"), bad.out)
    }

    func testTranslateWritesOneValidCaseMessagePerRecordWithStableIds() throws {
        let cli = try CLIRun()
        let csv = examplesDirectory.appendingPathComponent("intake/trelleborg-2015-10-23.csv").path
        let args = ["translate", csv, "--sender", "212000-1165", "--recipient", "202100-2163", "-o", cli.path("out")]
        let first = try cli.run(args)
        XCTAssertEqual(first.code, 0, first.err)
        let files = try FileManager.default.contentsOfDirectory(atPath: cli.path("out")).sorted()
        XCTAssertEqual(files.count, 8)
        for f in files {
            let m = try CaseXML.read(Data(contentsOf: URL(fileURLWithPath: cli.path("out/\(f)"))))
            XCTAssertEqual(m.header.messageId.rawValue + ".xml", f)
            XCTAssertEqual(m.header.sender, try OrganisationNumber("2120001165"))
        }
        // Translating the same file again gives the same message ids: no duplicates after a crash.
        let second = try cli.run(args)
        XCTAssertEqual(first.out, second.out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cli.path("out")).count, 8)
    }

    func testTranslateRefusesABadOrganisationNumberAndWritesNothingForAnInvalidFile() throws {
        let cli = try CLIRun()
        let csv = examplesDirectory.appendingPathComponent("intake/trelleborg-2015-10-23.csv").path
        let r = try cli.run(["translate", csv, "--sender", "212000-1166", "--recipient", "202100-2163"])
        XCTAssertEqual(r.code, ExitCode.usage)
        XCTAssertTrue(r.err.contains("check digit"), r.err)
        try Data("first_name,event,event_time,intake_id\nA,Registered,2015-10-23,X\nB,Bogus,2015-10-23,Y\n".utf8)
            .write(to: URL(fileURLWithPath: cli.path("mixed.csv")))
        let m = try cli.run(["translate", cli.path("mixed.csv"), "--sender", "212000-1165", "--recipient", "202100-2163", "-o", cli.path("o2")])
        XCTAssertEqual(m.code, ExitCode.invalid)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.path("o2")))
    }

    /// The same sheet exported by Excel as Windows-1252 CSV and as UTF-8 CSV with BOM gives identical XML.
    func testWindows1252AndUTF8BOMExportsTranslateToIdenticalXML() throws {
        let sheet = "Förnamn;Efternamn;Händelse;Händelsetid;Ärendenummer;Plats\r\n"
            + "Zoë;Müller-Åström;Registrerad;2015-10-23 08:15;TBG-1;Trelleborgs hamn, kaj 3\r\n"
            + "José;Öberg;Avviken;2015-10-24 22:00;TBG-2;\"HVB Ekbacken; Skåne\"\r\n"
        let utf8 = Data([0xEF, 0xBB, 0xBF]) + Data(sheet.utf8)
        let cp1252 = Data(sheet.unicodeScalars.map { UInt8($0.value) })  // these letters are all in Latin-1
        XCTAssertNotEqual(utf8, cp1252)
        func xml(_ data: Data) throws -> [Data] {
            let records = try IntakeParser.records(data: data, fileName: "export.csv", referenceDate: Date())
            return IntakeFile.caseMessages(records, fileDigestHex: "00", sender: try OrganisationNumber("2120001165"),
                                           defaultRecipient: try OrganisationNumber("2021002163"),
                                           createdAt: Date(timeIntervalSince1970: 1_445_558_400)).map(CaseXML.encode)
        }
        let a = try xml(utf8), b = try xml(cp1252)
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(a, b)
        XCTAssertTrue(String(decoding: a[0], as: UTF8.self).contains("Müller-Åström"))
    }

    /// Issue 14: one 16 MiB line of `a;a;a…` took about 35× its size before rows were read one at
    /// a time and capped in values. Measured in a `stafett validate` child of its own (the kernel's
    /// peak for it), beside the same child on a one-record file: the fixed amount.
    func testValidateOfAPathologicalLineStaysWithinFourTimesTheFile() throws {
        let stafett = DaemonProcess.siblingExecutable("stafett")
        guard FileManager.default.isExecutableFile(atPath: stafett) else {
            throw XCTSkip("no stafett executable beside the tests at \(stafett): swift build first")
        }
        let cli = try CLIRun()
        let tiny = examplesDirectory.appendingPathComponent("intake/trelleborg-2015-10-23.csv").path
        let size = 16 << 20
        try Data(String(repeating: "a;", count: size / 2).utf8).write(to: URL(fileURLWithPath: cli.path("line.csv")))
        let fixed = try PeakMemory.ofChild(stafett, ["validate", tiny])
        let peak = try PeakMemory.ofChild(stafett, ["validate", cli.path("line.csv")])
        XCTAssertLessThanOrEqual(peak, fixed + 4 * size,
                                 "peak \(peak >> 20) MiB for a \(size >> 20) MiB line; a one-record file takes \(fixed >> 20) MiB")
        // And it is refused for what it is.
        let r = try cli.run(["validate", cli.path("line.csv")])
        XCTAssertEqual(r.code, ExitCode.invalid)
        XCTAssertTrue(r.out.contains("line.csv rad 1: raden har fler än"), r.out)
        XCTAssertTrue(r.out.contains("this row has more than"), r.out)
    }
}
