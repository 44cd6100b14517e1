import Foundation
import XCTest
@testable import StafettModel

final class IntakeTextTests: XCTestCase {
    func testFoldMatchesHeadersInAnyCaseAndForm() {
        XCTAssertEqual(IntakeField.fold("FÖDELSEDATUM"), "fodelsedatum")
        XCTAssertEqual(IntakeField.fold("Ärende-nummer"), "arendenummer")
        XCTAssertEqual(IntakeField.fold("A\u{30A}terfunnen"), "aterfunnen", "decomposed å (macOS)")
        XCTAssertEqual(IntakeField.fold("Händelse\u{A0}"), "handelse")
        XCTAssertEqual(IntakeField.named("Uppskattat födelsedatum"), .dateOfBirthEstimated)
        XCTAssertEqual(IntakeField.named("given_name"), .givenName)
        XCTAssertEqual(IntakeField.named("Samordningsnummer"), .personalIdentityNumber)
        XCTAssertEqual(IntakeField.named("Födelsedag"), .dateOfBirth, "a synonym real exports use")
        XCTAssertNil(IntakeField.named("Skonummer"))
        for f in IntakeField.allCases {
            XCTAssertEqual(IntakeField.named(f.swedishHeader), f)
            XCTAssertEqual(IntakeField.named(f.jsonKey), f)
        }
    }

    func testTrimAndSplit() {
        XCTAssertEqual(" \u{A0}Ali Khan\t\r\n".intakeTrimmed, "Ali Khan")
        XCTAssertEqual("Åsa".intakeTrimmed, "Åsa")
        XCTAssertEqual("\u{A0}".intakeTrimmed, "")
        XCTAssertEqual(FieldRules.split("AF; IR,SY /XK\u{A0}SO"), ["AF", "IR", "SY", "XK", "SO"])
        XCTAssertEqual(FieldRules.split(" , ;"), [])
    }

    func testWindows1252TableAndUTF8Validation() {
        XCTAssertEqual(String(decoding: TextDecoder.windows1252ToUTF8([0x80, 0x8A, 0x9C, 0xE5, 0xE4, 0xF6, 0x41]), as: UTF8.self),
                       "€ŠœåäöA")
        XCTAssertNil(TextDecoder.firstInvalidUTF8(Array("åäö € 😀".utf8)))
        XCTAssertEqual(TextDecoder.firstInvalidUTF8([0x41, 0xC0, 0x80]), 1, "overlong")
        XCTAssertEqual(TextDecoder.firstInvalidUTF8([0xED, 0xA0, 0x80]), 0, "surrogate")
        XCTAssertEqual(TextDecoder.firstInvalidUTF8([0x41, 0xE5, 0x42]), 1)
    }

    func testEncodingReportTemplateAndCodableErrors() throws {
        XCTAssertEqual(IntakeParser.encoding(of: Data([0xEF, 0xBB, 0xBF, 0x41])), .utf8WithBOM)
        XCTAssertEqual(IntakeParser.encoding(of: Data("Åsa".utf8)), .utf8)
        XCTAssertEqual(IntakeParser.encoding(of: Data([0xC5, 0x73, 0x61])), .windows1252)
        XCTAssertNil(IntakeParser.encoding(of: Data([0xFF, 0xFE, 0x41, 0x00])))
        let template = IntakeFile.swedishCSVHeader + "\n"
        XCTAssertEqual(parseErrors(template).first?.reason, "the file holds no records", "the template header is valid")
        let failure = IntakeFailure(file: "f.csv", errors: [IntakeError(file: "f.csv", location: .index(2, line: 9),
                                                                         field: "sex", reason: "r")])
        let back = try JSONDecoder().decode(IntakeFailure.self, from: JSONEncoder().encode(failure))
        XCTAssertEqual(back, failure)
    }

    func testBoundedReadOfARealFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("intake-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("big.csv")
        try Data(repeating: 0x41, count: 10_000).write(to: url)
        let limits = IntakeLimits(maxBytes: 1000)
        let data = try IntakeFile.readBounded(url, limits: limits)
        XCTAssertEqual(data.count, 1001)
        guard case .failure(let f) = IntakeParser.parse(data: data, fileName: "big.csv", referenceDate: intakeNow,
                                                        limits: limits) else { return XCTFail("too large accepted") }
        XCTAssertEqual(f.errors.map(\.description), ["big.csv: the file is larger than the limit of 1000 bytes: split it into smaller files"])
        XCTAssertEqual(try IntakeFile.readBounded(url).count, 10_000)
        XCTAssertThrowsError(try IntakeFile.readBounded(dir.appendingPathComponent("missing.csv")))
    }
}
