import Foundation
import XCTest
@testable import StafettModel

final class IntakeJSONTests: XCTestCase {
    private let record = #"{"intake_id": "J-1", "given_name": "Ali", "family_name": "Khan", "event": "Registered", "event_time": "2015-10-23T06:40:00Z"}"#

    func testSingleObjectArrayAndJSONLines() {
        let single = parseOK(record, file: "one.json")
        XCTAssertEqual(single.count, 1)
        XCTAssertEqual(single[0].location, .index(0, line: 1))
        let array = parseOK("[\n" + record + ",\n" + record.replacingOccurrences(of: "J-1", with: "J-2") + "\n]",
                            file: "many.json")
        XCTAssertEqual(array.map(\.location), [.index(0, line: 2), .index(1, line: 3)])
        XCTAssertEqual(array[1].child.identifiers.intakeId, "J-2")
        let lines = record + "\n\n" + record.replacingOccurrences(of: "J-1", with: "J-3") + "\n"
        XCTAssertEqual(parseOK(lines, file: "l.jsonl").map(\.location), [.line(1), .line(3)])
        XCTAssertEqual(parseOK(lines, file: "l.ndjson").count, 2)
        XCTAssertEqual(parseOK(lines, file: "l.json").count, 2, "JSON Lines recognised by content")
        XCTAssertEqual(parseOK(lines, file: "incoming-file").count, 2, "JSON recognised without an extension")
        XCTAssertEqual(parseOK(Data([0xEF, 0xBB, 0xBF]) + Data(record.utf8), file: "bom.json").count, 1)
    }

    /// The issuer of another organisation's intake id, under its snake_case key or an alias.
    func testIntakeIdIssuerKey() throws {
        for key in ["intake_id_issuer", "intakeIdIssuer", "issuer"] {
            let json = #"[{"intake_id": "TBG-2015-17", "\#(key)": "2120001173", "given_name": "Ali", "event": "Found","#
                + #" "event_time": "2015-10-23 21:45"}, {"intake_id": "MLM-1", "given_name": "Sara", "event": "Registered","#
                + #" "event_time": "2015-10-23 21:50"}]"#
            let r = parseOK(json, file: "t.json")
            XCTAssertEqual(r.map(\.child.identifiers.intakeIdIssuer), [try OrganisationNumber("2120001173"), nil], key)
        }
    }

    func testValueTypes() throws {
        let json = #"""
            {"intake_id": 4471, "given_name": "Ali", "family_name": null, "event": "avviken",
             "event_time": "2015-10-23 21:45", "dob_estimated": true, "citizenship": ["af", "IR"],
             "languages": "prs, fa", "note": "rad 1\nrad 2 \u00e5\u00e4\u00f6 \ud83d\ude00", "references": ["m-1"]}
            """#
        let r = try XCTUnwrap(parseOK(json, file: "t.json").first)
        XCTAssertEqual(r.child.identifiers.intakeId, "4471")
        XCTAssertEqual(r.child.familyName, "")
        XCTAssertTrue(r.child.dateOfBirthEstimated)
        XCTAssertEqual(r.child.citizenship, ["AF", "IR"])
        XCTAssertEqual(r.child.languages, ["prs", "fa"])
        XCTAssertEqual(r.event.note, "rad 1\nrad 2 åäö 😀")
        XCTAssertEqual(r.references.map(\.rawValue), ["m-1"])
    }

    func testErrorsNameIndexAndField() {
        let bad = record.replacingOccurrences(of: "\"Ali\"", with: "\"Ali\", \"sex\": \"kille\"")
        let json = "[\n" + record + ",\n" + bad + ",\n" + record.replacingOccurrences(of: "given_name", with: "givne_name") + "\n]"
        let errors = parseErrors(json, file: "outbox/m.json")
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors[0].description.hasPrefix("outbox/m.json index 1 (line 3) (intake id J-1), field \"sex\": this value is not a sex we know"), errors[0].description)
        XCTAssertEqual(errors[1].location, .index(2, line: 4))
        XCTAssertEqual(errors[1].field, "givne_name")
        XCTAssertTrue(errors[1].reason.hasPrefix("unknown field"))
    }

    func testJSONLinesErrorsContinuePastABadLine() {
        let text = record + "\n{\"intake_id\": \"J-2\",\n" + record.replacingOccurrences(of: "Registered", with: "Nope") + "\n"
        let errors = parseErrors(text, file: "x.jsonl")
        XCTAssertEqual(errors.map(\.location), [.line(2), .line(3)])
        XCTAssertTrue(errors[0].reason.contains("not valid JSON"))
        XCTAssertEqual(errors[1].field, "event")
    }

    func testMalformedJSONAndWrongShapes() {
        let e = parseErrors("[\n{\"a\": 1}\n{\"b\": 2}]", file: "bad.json")
        XCTAssertEqual(e.first?.location, .line(3))
        XCTAssertTrue(e.first?.reason.contains("expected ',' or ']'") ?? false)
        XCTAssertTrue(parseErrors("[1, 2]", file: "n.json").first?.reason.contains("JSON object") ?? false)
        XCTAssertTrue(parseErrors("\"text\"", file: "n.json").first?.reason.contains("an array") ?? false)
        XCTAssertEqual(parseErrors(#"{"given_name": "A", "first_name": "B"}"#, file: "d.json").first?.field, "first_name")
        XCTAssertEqual(parseErrors(#"{"sex": true}"#, file: "d.json").first?.reason, "must be a string")
        XCTAssertEqual(parseErrors(#"{"citizenship": [1]}"#, file: "d.json").first?.field, "citizenship")
        XCTAssertTrue(parseErrors(String(repeating: "[", count: 100), file: "deep.json").first?.reason.contains("nested") ?? false)
        XCTAssertTrue(parseErrors("{\n  \"a\": 1\n}\n{\"b\": 2}\n", file: "two.json").first?.reason.contains("more than one") ?? false)
        XCTAssertTrue(parseErrors("<case/>", file: "c.xml").first?.reason.contains("XML") ?? false)
    }

    func testMalmoSampleFile() throws {
        let data = try Data(contentsOf: intakeExamples.appendingPathComponent("malmo-2015-11-02.json"))
        let r = parseOK(data, file: "outbox/malmo-2015-11-02.json")
        XCTAssertEqual(r.count, 5)
        XCTAssertEqual(r.map(\.event.type), [.found, .registered, .asylumApplicationLodged, .assigned, .placed])
        XCTAssertEqual(r[2].child.identifiers.personalIdentityNumber?.kind, .samordningsnummer)
        XCTAssertEqual(r[4].child.familyName, "Şahin")
        XCTAssertEqual(r[4].event.placement, Placement(kind: .familjehem, name: "Familjen Lindqvist"))
    }

    func testMessageIDsAndCaseMessages() throws {
        let digest = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
        XCTAssertEqual(IntakeFile.messageID(fileDigestHex: digest, index: 7).rawValue, "9f86d081884c7d659a2feaa0c55ad015-7")
        XCTAssertEqual(IntakeFile.messageID(fileDigestHex: digest, index: 7), IntakeFile.messageID(fileDigestHex: digest, index: 7))
        XCTAssertNotEqual(IntakeFile.messageID(fileDigestHex: digest, index: 0), IntakeFile.messageID(fileDigestHex: digest, index: 1))
        let data = try Data(contentsOf: intakeExamples.appendingPathComponent("malmo-2015-11-02.json"))
        let records = parseOK(data, file: "malmo.json")
        let sender = try OrganisationNumber("212000-1124"), fallback = try OrganisationNumber("202100-2163")
        let created = Date(timeIntervalSince1970: 1_446_460_000)
        let messages = IntakeFile.caseMessages(records, fileDigestHex: digest, sender: sender,
                                               defaultRecipient: fallback, createdAt: created)
        XCTAssertEqual(messages.map(\.header.messageId.rawValue).last, "9f86d081884c7d659a2feaa0c55ad015-4")
        XCTAssertEqual(messages[0].header.recipient.formatted, "212000-1173", "the record's own recipient wins")
        XCTAssertEqual(messages[1].header.recipient, fallback)
        XCTAssertEqual(messages[1].header.sender, sender)
        XCTAssertEqual(messages[1].header.createdAt, created)
        XCTAssertEqual(messages[1].child, records[1].child)
    }
}
