import XCTest
import StafettModel
@testable import StafettXML

final class CaseXMLTests: XCTestCase {
    /// encode → parse → validate → decode.
    private func roundTrip(_ m: CaseMessage, file: StaticString = #filePath, line: UInt = #line) throws -> CaseMessage {
        let data = CaseXML.encode(m)
        let doc = try XMLDocument.parse(data)
        try SchemaValidator.caseMessage.validate(doc)
        return try CaseXML.decode(doc)
    }

    func testRoundTripOfEveryEventTypeWithAllOptionalFieldsPresent() throws {
        for type in EventType.allCases {
            let m = Fixtures.fullMessage(type)
            XCTAssertEqual(try roundTrip(m), m, type.rawValue)
        }
    }

    func testRoundTripOfEveryEventTypeWithAllOptionalFieldsAbsent() throws {
        for type in EventType.allCases {
            let m = Fixtures.minimalMessage(type)
            XCTAssertEqual(try roundTrip(m), m, type.rawValue)
        }
    }

    /// A child known by one name travels with that name alone (intake accepts it, so the schema
    /// must); a child with no name at all is refused by the reader.
    func testOneNameIsEnoughAndNoNameIsRefused() throws {
        var given = Fixtures.minimalMessage(.registered)
        given.child.familyName = ""
        XCTAssertEqual(try roundTrip(given), given)
        XCTAssertFalse(String(decoding: CaseXML.encode(given), as: UTF8.self).contains("FamilyName"))
        var family = given
        family.child.givenName = ""
        family.child.familyName = "Hassani"
        XCTAssertEqual(try roundTrip(family), family)
        var nameless = given
        nameless.child.givenName = ""
        XCTAssertThrowsError(try roundTrip(nameless)) { e in XCTAssertTrue("\(e)".contains("at least one name"), "\(e)") }
    }

    func testRoundTripOfEachOptionalFieldAlone() throws {
        let full = Fixtures.fullMessage()
        var variants: [CaseMessage] = []
        var m = Fixtures.minimalMessage(.placed)
        m.header.references = [Fixtures.id("x")]; variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.child.dateOfBirth = full.child.dateOfBirth; variants.append(m)
        m.child.dateOfBirthEstimated = true; variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.child.sex = .unknown; variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.child.citizenship = ["SE"]; variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.child.languages = ["ti"]; variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.child.identifiers.intakeId = "i"; variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.child.identifiers.dossierNumber = "d"; variants.append(m)
        m = Fixtures.minimalMessage(.placed)
        m.child.identifiers.personalIdentityNumber = try PersonalIdentityNumber("201003751235"); variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.event.place = "p"; variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.event.placement = Placement(kind: .other); variants.append(m)
        m.event.placement?.name = "Stödboende Ängen"; variants.append(m)
        m.event.placement = Placement(kind: .familjehem, municipality: Fixtures.org("2120002627")); variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.event.responsibleOrganisation = Fixtures.org("2321000016"); variants.append(m)
        m = Fixtures.minimalMessage(.placed); m.event.note = "n"; variants.append(m)
        for v in variants { XCTAssertEqual(try roundTrip(v), v) }
    }

    func testEscapingOfMarkupAndQuotesAndCarriageReturns() throws {
        let m = Fixtures.fullMessage()
        let text = String(decoding: CaseXML.encode(m), as: UTF8.self)
        XCTAssertTrue(text.contains("<FamilyName>Ström-Müller &amp; &lt;Öberg&gt; 'ü'</FamilyName>"), text)
        XCTAssertTrue(text.contains("<GivenName>Åsa Émilie \"Mimmi\"</GivenName>"), text)
        XCTAssertTrue(text.contains("\twith tab&#xD;\nand CRLF; ]]&gt; &lt;!-- not a comment --&gt; &amp;amp; literally"), text)
        XCTAssertEqual(try roundTrip(m).event.note, m.event.note)
    }

    func testCharactersXMLCannotCarryAreDroppedAndDetectable() throws {
        var m = Fixtures.minimalMessage()
        m.child.givenName = "A\u{0}B\u{1B}C\u{FFFE}D\u{FFFF}E\u{7}"
        XCTAssertEqual(XMLText.firstDisallowedScalar(in: m.child.givenName), "\u{0}")
        XCTAssertNil(XMLText.firstDisallowedScalar(in: "Åsa\t\n\r😀"))
        XCTAssertEqual(try roundTrip(m).child.givenName, "ABCDE")
        XCTAssertEqual(XMLText.escaped("a&b<c>d\"e'f\u{1}"), "a&amp;b&lt;c&gt;d&quot;e'f")
    }

    func testEncodingIsDeterministicAndReadable() throws {
        let m = Fixtures.minimalMessage(.closed)
        let expected = """
            <?xml version="1.0" encoding="UTF-8"?>
            <CaseMessage xmlns="urn:stafett:case:1">
              <Header>
                <MessageId>c</MessageId>
                <CreatedAt>2027-06-30T12:00:00.000Z</CreatedAt>
                <Sender>2120000142</Sender>
                <Recipient>2021002163</Recipient>
                <EventType>Closed</EventType>
              </Header>
              <Child>
                <GivenName>A</GivenName>
                <FamilyName>B</FamilyName>
              </Child>
              <Event>
                <Type>Closed</Type>
                <Time>1999-12-31T23:59:59.999Z</Time>
              </Event>
            </CaseMessage>

            """
        XCTAssertEqual(String(decoding: CaseXML.encode(m), as: UTF8.self), expected)
        let full = Fixtures.fullMessage()
        let once = CaseXML.encode(full)
        XCTAssertEqual(CaseXML.encode(try CaseXML.decode(XMLDocument.parse(once))), once)
    }

    func testDecodingAnExampleReadsEveryField() throws {
        let data = try Data(contentsOf: Fixtures.examples.appendingPathComponent("placed.xml"))
        let m = try CaseXML.read(data)
        XCTAssertEqual(m.header.messageId.rawValue, "0f6a1c2e-5b7d-4e11-9a3f-1d2c3b4a5e62")
        XCTAssertEqual(XMLDateTime.string(from: m.header.createdAt), "2026-11-25T14:00:00.000Z")
        XCTAssertEqual(m.header.sender.digits, "2120000142")
        XCTAssertEqual(m.header.references.map(\.rawValue), ["0f6a1c2e-5b7d-4e11-9a3f-1d2c3b4a5e60"])
        XCTAssertEqual(m.child.givenName, "Hamza")
        XCTAssertEqual(m.child.familyName, "Yusuf Abdi")
        XCTAssertEqual(m.child.dateOfBirth?.iso, "2009-06-02")
        XCTAssertFalse(m.child.dateOfBirthEstimated)
        XCTAssertEqual(m.child.sex, .male)
        XCTAssertEqual(m.child.citizenship, ["SO"])
        XCTAssertEqual(m.child.languages, ["so"])
        XCTAssertEqual(m.child.identifiers.personalIdentityNumber?.digits, "200906024567")
        XCTAssertEqual(m.child.identifiers.intakeId, "GBG-7731")
        XCTAssertEqual(m.event.type, .placed)
        XCTAssertEqual(m.event.placement, Placement(kind: .hvb, name: "HVB Solrosen", municipality: Fixtures.org("2120001355")))
        XCTAssertNil(m.event.note)

        let registered = try CaseXML.read(Data(contentsOf: Fixtures.examples.appendingPathComponent("registered.xml")))
        XCTAssertEqual(registered.event.note,
                       "Arrived by train with his cousin & two friends; says he is \"about 17\" <no papers>.")
        XCTAssertTrue(registered.child.dateOfBirthEstimated)
        let lodged = try CaseXML.read(Data(contentsOf: Fixtures.examples.appendingPathComponent("asylum-application-lodged.xml")))
        XCTAssertEqual(XMLDateTime.string(from: lodged.event.time), "2026-11-24T08:30:00.000Z", "+01:00 converted to UTC")
    }

    /// Another organisation's intake id travels with its issuer; an issuer equal to the sender
    /// means nothing more than none and is neither written nor read back.
    func testIntakeIdIssuerIsWrittenOnlyWhenItIsNotTheSender() throws {
        let example = try CaseXML.read(Data(contentsOf: Fixtures.examples.appendingPathComponent("found-by-another-municipality.xml")))
        XCTAssertEqual(example.header.sender, Fixtures.org("2120000142"))
        XCTAssertEqual(example.child.identifiers.intakeId, "GBG-7731")
        XCTAssertEqual(example.child.identifiers.intakeIdIssuer, Fixtures.org("2120001355"))
        XCTAssertEqual(example.intakeIdIssuer, Fixtures.org("2120001355"))
        let own = try CaseXML.read(Data(contentsOf: Fixtures.examples.appendingPathComponent("found.xml")))
        XCTAssertNil(own.child.identifiers.intakeIdIssuer)
        XCTAssertEqual(own.intakeIdIssuer, own.header.sender, "absent: the sender issued it")

        var other = Fixtures.minimalMessage(.found)
        other.child.identifiers = ChildIdentifiers(intakeId: "2015-17", intakeIdIssuer: Fixtures.org("2120001355"))
        let text = String(decoding: CaseXML.encode(other), as: UTF8.self)
        XCTAssertTrue(text.contains("<IntakeId issuer=\"2120001355\">2015-17</IntakeId>"), text)
        XCTAssertEqual(try roundTrip(other), other)

        var same = other
        same.child.identifiers.intakeIdIssuer = same.header.sender
        XCTAssertFalse(String(decoding: CaseXML.encode(same), as: UTF8.self).contains("issuer="))
        var none = same
        none.child.identifiers.intakeIdIssuer = nil
        XCTAssertEqual(CaseXML.encode(same), CaseXML.encode(none), "one meaning, one spelling")
        XCTAssertEqual(same.child.identifiers.normalised(sender: same.header.sender), none.child.identifiers)
        XCTAssertNil(try roundTrip(same).child.identifiers.intakeIdIssuer)
        let written = String(decoding: CaseXML.encode(other), as: UTF8.self)
            .replacingOccurrences(of: "issuer=\"2120001355\"", with: "issuer=\"2120000142\"")
        XCTAssertNil(try CaseXML.read(Data(written.utf8)).child.identifiers.intakeIdIssuer, "an issuer equal to the sender reads as absent")
    }

    /// The schema takes any ten digits; the decoder checks the issuer as every organisation number.
    func testAnIntakeIdIssuerWithABadCheckDigitIsRefusedByName() throws {
        var m = Fixtures.minimalMessage(.found)
        m.child.identifiers = ChildIdentifiers(intakeId: "2015-17", intakeIdIssuer: Fixtures.org("2120001355"))
        let bad = String(decoding: CaseXML.encode(m), as: UTF8.self).replacingOccurrences(of: "2120001355", with: "2120001356")
        XCTAssertThrowsError(try CaseXML.read(Data(bad.utf8))) { error in
            guard case let .content(path, reason)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/CaseMessage/Child/Identifiers/IntakeId/@issuer")
            XCTAssertTrue(reason.contains("check digit"), reason)
        }
    }

    func testATrailingSignatureIsIgnoredButNotElsewhere() throws {
        let signed = try CaseXML.read(Data(contentsOf: Fixtures.examples.appendingPathComponent("registered-signed.xml")))
        XCTAssertEqual(signed.child.givenName, "Élodie Åsa")
        let doc = try XMLDocument.parse(Data(contentsOf: Fixtures.invalid.appendingPathComponent("case-two-signatures.xml")))
        XCTAssertThrowsError(try CaseXML.decode(doc)) { error in
            guard case let .content(path, _)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/CaseMessage/Signature")
        }
    }

    /// Decodes `xml` (a variation of the minimal message) without schema validation and returns the error path.
    private func decodeErrorPath(replacing old: String, with new: String) throws -> String? {
        let text = String(decoding: CaseXML.encode(Fixtures.fullMessage()), as: UTF8.self)
        XCTAssertTrue(text.contains(old), old)
        let doc = try XMLDocument.parse(Data(text.replacingOccurrences(of: old, with: new).utf8))
        do {
            _ = try CaseXML.decode(doc)
            return nil
        } catch {
            guard case let .content(path, reason) = error else { return "\(error)" }
            XCTAssertFalse(reason.isEmpty)
            return path
        }
    }

    func testDecodeErrorsNameTheElementPath() throws {
        XCTAssertEqual(try decodeErrorPath(replacing: "urn:stafett:case:1", with: "urn:stafett:case:9"), "/CaseMessage")
        XCTAssertEqual(try decodeErrorPath(replacing: "<Sender>2120000142", with: "<Sender>2120000143"),
                       "/CaseMessage/Header/Sender")
        XCTAssertEqual(try decodeErrorPath(replacing: ">2009-06-02<", with: ">2015-02-30<"),
                       "/CaseMessage/Child/DateOfBirth")
        XCTAssertEqual(try decodeErrorPath(replacing: "estimated=\"true\"", with: "estimated=\"yes\""),
                       "/CaseMessage/Child/DateOfBirth/@estimated")
        XCTAssertEqual(try decodeErrorPath(replacing: "200906024567", with: "200906024568"),
                       "/CaseMessage/Child/Identifiers/PersonalIdentityNumber")
        XCTAssertEqual(try decodeErrorPath(replacing: "kind=\"personnummer\"", with: "kind=\"samordningsnummer\""),
                       "/CaseMessage/Child/Identifiers/PersonalIdentityNumber/@kind")
        XCTAssertEqual(try decodeErrorPath(replacing: "<Type>Placed</Type>", with: "<Type>Found</Type>"),
                       "/CaseMessage/Event/Type")
        XCTAssertEqual(try decodeErrorPath(replacing: "<Kind>hvb</Kind>", with: "<Kind>tent</Kind>"),
                       "/CaseMessage/Event/Placement/Kind")
        XCTAssertEqual(try decodeErrorPath(replacing: "<Time>2026-11-23T07:50:00.001Z", with: "<Time>2026-11-23T07:50:00.001"),
                       "/CaseMessage/Event/Time")
        XCTAssertEqual(try decodeErrorPath(replacing: "<MessageId>a-1</MessageId>", with: "<MessageId>a 1</MessageId>"),
                       "/CaseMessage/Header/References/MessageId")
        XCTAssertEqual(try decodeErrorPath(replacing: "<Recipient>", with: "<Nope/><Recipient>"),
                       "/CaseMessage/Header/Recipient")
        XCTAssertEqual(try decodeErrorPath(replacing: "</Child>", with: "<Extra/></Child>"),
                       "/CaseMessage/Child/Extra")
    }

    func testDecodeRefusesChildElementsInAnotherNamespace() throws {
        var text = String(decoding: CaseXML.encode(Fixtures.minimalMessage()), as: UTF8.self)
        text = text.replacingOccurrences(of: "<GivenName>A</GivenName>", with: "<GivenName xmlns=\"urn:other\">A</GivenName>")
        // The name is optional now; a foreign element where it stands is still refused, not skipped.
        XCTAssertThrowsError(try CaseXML.decode(XMLDocument.parse(Data(text.utf8)))) { error in
            guard case let .content(path, _)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.contains("Child"), path)
        }
    }

    func testWhiteSpaceTheSchemaCollapsesIsIgnoredByTheDecoderToo() throws {
        var text = String(decoding: CaseXML.encode(Fixtures.fullMessage()), as: UTF8.self)
        text = text.replacingOccurrences(of: "<Time>2026-11-23T07:50:00.001Z</Time>", with: "<Time>\n  2026-11-23T07:50:00.001Z\t</Time>")
        text = text.replacingOccurrences(of: ">2009-06-02<", with: "> 2009-06-02\n<")
        text = text.replacingOccurrences(of: "estimated=\"true\"", with: "estimated=\" true \"")
        XCTAssertEqual(try CaseXML.read(Data(text.utf8)), Fixtures.fullMessage())
    }

    func testOnlyASignatureMayFollowTheEvent() throws {
        var text = String(decoding: CaseXML.encode(Fixtures.minimalMessage()), as: UTF8.self)
        text = text.replacingOccurrences(of: "</CaseMessage>",
                                         with: "<ds:Object xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></CaseMessage>")
        let doc = try XMLDocument.parse(Data(text.utf8))
        XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(doc), "the schema skips the XML-DSig namespace")
        XCTAssertThrowsError(try CaseXML.decode(doc)) { error in
            guard case let .content(path, _)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/CaseMessage/Object")
        }
    }

    func testReadRefusesWhatTheSchemaRefuses() throws {
        let data = try Data(contentsOf: Fixtures.invalid.appendingPathComponent("case-overlong-note.xml"))
        XCTAssertThrowsError(try CaseXML.read(data)) { error in
            guard case .schemaInvalid? = error as? XMLError else { return XCTFail("\(error)") }
        }
    }
}
