import XCTest
import StafettModel
@testable import StafettXML

final class SchemaValidationTests: XCTestCase {
    func testThereIsAValidExampleForEveryEventTypeAndBothReceiptStatuses() throws {
        let files = Fixtures.xmlFiles(in: Fixtures.examples)
        var types = Set<EventType>()
        var statuses = Set<ReceiptStatus>()
        for file in files {
            let doc = try XMLDocument.parse(Data(contentsOf: file))
            if BatchReceiptXML.isBatch(doc) {
                statuses.formUnion(try BatchReceiptXML.decode(doc).entries.map(\.status))
            } else if Fixtures.validator(for: file) === SchemaValidator.receipt {
                statuses.insert(try ReceiptXML.decode(doc).status)
            } else {
                types.insert(try CaseXML.decode(doc).event.type)
            }
        }
        XCTAssertEqual(types, Set(EventType.allCases))
        XCTAssertEqual(statuses, [.accepted, .rejected])
    }

    func testEveryValidExampleValidatesAndDecodes() throws {
        let files = Fixtures.xmlFiles(in: Fixtures.examples)
        XCTAssertGreaterThanOrEqual(files.count, 14)
        for file in files {
            let data = try Data(contentsOf: file)
            let validator = Fixtures.validator(for: file)
            XCTAssertNoThrow(try validator.parseAndValidate(data), file.lastPathComponent)
            if validator === SchemaValidator.receipt, file.lastPathComponent.hasPrefix("receipt-batch") {
                XCTAssertNoThrow(try BatchReceiptXML.decode(XMLDocument.parse(data)), file.lastPathComponent)
            } else if validator === SchemaValidator.receipt {
                XCTAssertNoThrow(try ReceiptXML.read(data), file.lastPathComponent)
            } else {
                XCTAssertNoThrow(try CaseXML.read(data), file.lastPathComponent)
            }
        }
    }

    func testEveryValidExampleSurvivesDecodeEncodeDecode() throws {
        for file in Fixtures.xmlFiles(in: Fixtures.examples) {
            let data = try Data(contentsOf: file)
            if file.lastPathComponent.hasPrefix("receipt-batch") {
                let r = try BatchReceiptXML.decode(SchemaValidator.receipt.parseAndValidate(data))
                XCTAssertEqual(try BatchReceiptXML.decode(SchemaValidator.receipt.parseAndValidate(BatchReceiptXML.encode(r))), r,
                               file.lastPathComponent)
            } else if Fixtures.validator(for: file) === SchemaValidator.receipt {
                let r = try ReceiptXML.read(data)
                XCTAssertEqual(try ReceiptXML.read(ReceiptXML.encode(r)), r, file.lastPathComponent)
            } else {
                let m = try CaseXML.read(data)
                XCTAssertEqual(try CaseXML.read(CaseXML.encode(m)), m, file.lastPathComponent)
            }
        }
    }

    func testEveryInvalidExampleFailsValidationWithALineNumberedMessage() throws {
        let files = Fixtures.xmlFiles(in: Fixtures.invalid)
        XCTAssertGreaterThanOrEqual(files.count, 20)
        for file in files {
            let doc = try XMLDocument.parse(Data(contentsOf: file))
            let validator = Fixtures.validator(for: file)
            XCTAssertThrowsError(try validator.validate(doc), file.lastPathComponent) { error in
                guard case let .schemaInvalid(schema, errors)? = error as? XMLError else {
                    return XCTFail("\(file.lastPathComponent): \(error)")
                }
                XCTAssertEqual(schema, validator.name)
                XCTAssertFalse(errors.isEmpty, file.lastPathComponent)
                XCTAssertTrue(errors[0].hasPrefix("line "), "\(file.lastPathComponent): \(errors[0])")
            }
        }
    }

    func testSpecificMessagesNameTheProblem() throws {
        func errors(_ name: String) throws -> String {
            let doc = try XMLDocument.parse(Data(contentsOf: Fixtures.invalid.appendingPathComponent(name)))
            do {
                try Fixtures.validator(for: Fixtures.invalid.appendingPathComponent(name)).validate(doc)
                return ""
            } catch {
                guard case let .schemaInvalid(_, errors) = error else { return "\(error)" }
                return errors.joined(separator: "\n")
            }
        }
        XCTAssertTrue(try errors("case-orgnr-with-hyphen.xml").contains("Sender"))
        XCTAssertTrue(try errors("case-orgnr-with-hyphen.xml").contains("line 7:"))
        XCTAssertTrue(try errors("case-unknown-event-type.xml").contains("EventType"))
        XCTAssertTrue(try errors("case-overlong-note.xml").contains("Note"))
        XCTAssertTrue(try errors("case-missing-header.xml").contains("Header"))
        XCTAssertTrue(try errors("case-two-signatures.xml").contains("Signature"))
        XCTAssertTrue(try errors("case-wrong-namespace.xml").contains("urn:stafett:case:2"))
        XCTAssertTrue(try errors("receipt-digest-sha1.xml").contains("algorithm"))
    }

    func testAPersonnummerIsNotEchoedInFullInErrors() throws {
        var text = try String(contentsOf: Fixtures.examples.appendingPathComponent("placed.xml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "200906024567", with: "2009060245678")
        let doc = try XMLDocument.parse(Data(text.utf8))
        XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(doc)) { error in
            let description = "\(error)"
            XCTAssertTrue(description.contains("PersonalIdentityNumber"), description)
            XCTAssertFalse(description.contains("2009060245678"), description)
            XCTAssertFalse(description.contains("200906024567"), description)
        }
    }

    /// A name, a note or a personnummer where the schema refuses it (a shifted column at the
    /// sender, say) is not repeated by the error, which reaches logs, rejected receipts and through
    /// them the sender's journal; the element and the line still are.
    func testNoValueIsEchoedInErrors() throws {
        let original = try String(contentsOf: Fixtures.examples.appendingPathComponent("placed.xml"), encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("<Sex>male</Sex>", "<Sex>Zoë O'Brien</Sex>", "Sex"),
            ("<DateOfBirth estimated=\"false\">2009-06-02</DateOfBirth>",
             "<DateOfBirth estimated=\"false\">Öberg is here</DateOfBirth>", "DateOfBirth"),
            ("<GivenName>Hamza</GivenName>", "<GivenName>\(String(repeating: "Hamza Ahmadi ", count: 20))</GivenName>", "GivenName"),
            ("200906024567", "20090602-4567 Hamza", "PersonalIdentityNumber"),
        ]
        for (good, bad, element) in cases {
            XCTAssertTrue(original.contains(good), good)
            let doc = try XMLDocument.parse(Data(original.replacingOccurrences(of: good, with: bad).utf8))
            XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(doc)) { error in
                let description = "\(error)"
                XCTAssertTrue(description.contains(element) && description.contains("line "), description)
                for secret in ["Zoë", "Brien", "Öberg", "Hamza Ahmadi", "4567"] {
                    XCTAssertFalse(description.contains(secret), "\(secret) in: \(description)")
                }
            }
        }
        XCTAssertEqual(SchemaErrorSink.redactValues("Element 'Sex': [facet 'enumeration'] The value 'a' b' is not an element of the set {'male'}."),
                       "Element 'Sex': [facet 'enumeration'] The value is not an element of the set {'male'}.")
        XCTAssertEqual(SchemaErrorSink.redactValues("Element 'DateOfBirth': 'x' is not a valid value of the atomic type 'xs:date'."),
                       "Element 'DateOfBirth': the value is not a valid value of the atomic type 'xs:date'.")
    }

    func testValidationErrorsAreCappedForHugeBrokenDocuments() throws {
        var xml = "<CaseMessage xmlns=\"urn:stafett:case:1\">"
        xml += String(repeating: "<Bogus/>", count: 5000) + "</CaseMessage>"
        let doc = try XMLDocument.parse(Data(xml.utf8))
        XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(doc)) { error in
            guard case let .schemaInvalid(_, errors)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertLessThanOrEqual(errors.count, SchemaErrorSink.limit + 1)
        }
    }

    func testConcurrentValidationFromManyThreadsGivesTheSameAnswers() throws {
        let valid = try Data(contentsOf: Fixtures.examples.appendingPathComponent("registered.xml"))
        let invalid = try Data(contentsOf: Fixtures.invalid.appendingPathComponent("case-orgnr-with-hyphen.xml"))
        let receipt = try Data(contentsOf: Fixtures.examples.appendingPathComponent("receipt-rejected.xml"))
        let expectedInvalid: [String] = {
            do { _ = try SchemaValidator.caseMessage.parseAndValidate(invalid); return [] } catch {
                if case let .schemaInvalid(_, e)? = error as? XMLError { return e }
                return []
            }
        }()
        XCTAssertFalse(expectedInvalid.isEmpty)
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<150 {
                switch (worker + i) % 3 {
                case 0:
                    if (try? SchemaValidator.caseMessage.parseAndValidate(valid)) == nil { failures.add() }
                case 1:
                    do {
                        _ = try SchemaValidator.caseMessage.parseAndValidate(invalid)
                        failures.add()
                    } catch {
                        if (error as? XMLError) != .schemaInvalid(schema: "case-1.xsd", errors: expectedInvalid) { failures.add() }
                    }
                default:
                    if (try? ReceiptXML.read(receipt)) == nil { failures.add() }
                }
            }
        }
        XCTAssertEqual(failures.value, 0)
    }
}

/// A thread-safe counter for the concurrency test.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
