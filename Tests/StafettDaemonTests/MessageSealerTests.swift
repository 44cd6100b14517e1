import XCTest
import StafettCrypto
import StafettModel
import StafettXML
@testable import StafettDaemon
import StafettSignature

/// The sealing path (canonical encoding, streaming validation, text splice) must give documents
/// that verify, decode to the same message and quote the signature's DigestValue.
final class MessageSealerTests: XCTestCase {
    func message(_ id: String, note: String? = nil) throws -> CaseMessage {
        let created = Date(timeIntervalSince1970: 1_445_558_400.25)
        return CaseMessage(header: MessageHeader(messageId: try MessageID(id), createdAt: created,
                                                 sender: try OrganisationNumber("2120001165"),
                                                 recipient: try OrganisationNumber("2021002163")),
                           child: Child(givenName: "Amina \"Mimi\"", familyName: "Åström & <Öst>",
                                        identifiers: ChildIdentifiers(intakeId: "TBG-\(id)")),
                           event: CaseEvent(type: .registered, time: created, note: note))
    }

    func checkSealed(_ s: SealedMessage, key: Key, file: StaticString = #filePath, line: UInt = #line) throws {
        let doc = try XMLDocument.parse(s.signedXML)
        try XMLSignature.verify(doc, key: key)
        XCTAssertEqual(s.digest, try ReceiptDigest.of(verified: doc), file: file, line: line)
        XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(doc), file: file, line: line)
        XCTAssertEqual(try CaseXML.decode(doc), s.message, file: file, line: line)
    }

    func testSingleAndBatchSealsVerifyAndQuoteTheDigestValue() throws {
        for spec in [KeySpecification.ecdsaP256SHA256, .rsaSHA256(bits: 2048)] {
            let key = try Key.generate(spec)
            let sealer = try MessageSealer(key: key, certificate: nil)
            try checkSealed(try sealer.seal(try message("one", note: "tab\there\r\nCRLF ]]> &amp;")), key: key)
            let batch = try sealer.seal(try (0..<5).map { try message("b-\($0)") })
            XCTAssertEqual(batch.map(\.message.header.messageId.rawValue), (0..<5).map { "b-\($0)" })
            for s in batch { try checkSealed(s, key: key) }
            XCTAssertEqual(try sealer.seal([]).count, 0)
        }
    }

    /// A child known by one name only (intake accepts it) is sealed, verifies and decodes.
    func testAChildWithOneNameIsSealed() throws {
        let key = try Key.generate()
        var m = try message("one-name")
        m.child.familyName = ""
        try checkSealed(try MessageSealer(key: key, certificate: nil).seal(m), key: key)
    }

    func testAMessageTheSchemaRefusesIsNotSigned() throws {
        let sealer = try MessageSealer(key: try Key.generate(), certificate: nil)
        var m = try message("too-long")
        m.child.familyName = String(repeating: "x", count: 5000)
        XCTAssertThrowsError(try sealer.seal(m)) {
            guard case .schema(let id, .schemaInvalid) = $0 as? SealError else { return XCTFail("\($0)") }
            XCTAssertEqual(id.rawValue, "too-long")
        }
        XCTAssertThrowsError(try sealer.seal([try message("fine"), m])) {
            guard case .schema(let id, _) = $0 as? SealError else { return XCTFail("\($0)") }
            XCTAssertEqual(id.rawValue, "too-long")
        }
    }
}
