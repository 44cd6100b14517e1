import XCTest
@testable import StafettXML

/// The daemon uses the embedded copies; these tests make sure they are the files in Schemas/.
final class EmbeddedSchemaTests: XCTestCase {
    func testEmbeddedCaseSchemaEqualsFileByteForByte() throws {
        let file = try Data(contentsOf: Fixtures.schemas.appendingPathComponent("case-1.xsd"))
        XCTAssertEqual(Data(EmbeddedSchemas.case1.utf8), file,
                       "Sources/StafettXML/EmbeddedSchemas.swift is stale: run Schemas/embed-schemas.sh")
    }

    func testEmbeddedReceiptSchemaEqualsFileByteForByte() throws {
        let file = try Data(contentsOf: Fixtures.schemas.appendingPathComponent("receipt-1.xsd"))
        XCTAssertEqual(Data(EmbeddedSchemas.receipt1.utf8), file,
                       "Sources/StafettXML/EmbeddedSchemas.swift is stale: run Schemas/embed-schemas.sh")
    }

    func testSchemasCompileAndNameThemselves() {
        XCTAssertEqual(SchemaValidator.caseMessage.name, "case-1.xsd")
        XCTAssertEqual(SchemaValidator.receipt.name, "receipt-1.xsd")
    }

    func testSchemasAreSelfContained() {
        for xsd in [EmbeddedSchemas.case1, EmbeddedSchemas.receipt1] {
            XCTAssertFalse(xsd.contains("xs:import"))
            XCTAssertFalse(xsd.contains("xs:include"))
            XCTAssertTrue(xsd.contains("xs:documentation"))
        }
    }

    func testEveryEventTypeAndReasonIsEnumeratedAndDocumentedInTheSchema() {
        for t in EventType.allCases {
            XCTAssertTrue(EmbeddedSchemas.case1.contains("<xs:enumeration value=\"\(t.rawValue)\">"), t.rawValue)
            XCTAssertTrue(EmbeddedSchemas.case1.contains("[\(t.swedishTerm)]"), "Swedish term of \(t.rawValue)")
        }
        for r in RejectionReasonList.all {
            XCTAssertTrue(EmbeddedSchemas.receipt1.contains("<xs:enumeration value=\"\(r)\">"), r)
        }
    }

    func testABrokenSchemaIsReportedNotPrinted() {
        XCTAssertThrowsError(try SchemaValidator(name: "broken.xsd", xsd: "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:element/></xs:schema>")) { error in
            guard case let .schemaInvalid(schema, errors)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(schema, "broken.xsd")
            XCTAssertGreaterThan(errors.count, 1)
        }
    }
}

import StafettModel
enum RejectionReasonList { static let all = RejectionReason.allCases.map(\.rawValue) }
