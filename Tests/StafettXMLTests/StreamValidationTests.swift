import Foundation
import StafettModel
import XCTest
@testable import StafettXML

/// `validate(bytes:)` (streaming, no tree) must judge exactly as parse + validate does.
final class StreamValidationTests: XCTestCase {
    func verdict(_ body: () throws -> Void) -> String {
        do { try body(); return "valid" } catch let error as XMLError {
            switch error {
            case .schemaInvalid: return "invalid"
            case .notWellFormed: return "malformed"
            case .doctypeForbidden: return "doctype"
            case .tooLarge: return "large"
            default: return "other: \(error)"
            }
        } catch { return "other: \(error)" }
    }

    func testSameVerdictsAsTreeValidationOnEveryExample() throws {
        let files = Fixtures.xmlFiles(in: Fixtures.examples) + Fixtures.xmlFiles(in: Fixtures.invalid)
        XCTAssertGreaterThan(files.count, 30)
        var valid = 0, invalid = 0
        for file in files {
            let data = try Data(contentsOf: file)
            let validator = Fixtures.validator(for: file)
            let tree = verdict { _ = try validator.parseAndValidate(data) }
            let stream = verdict { try validator.validate(bytes: data) }
            XCTAssertEqual(stream, tree, file.lastPathComponent)
            if tree == "valid" { valid += 1 } else { invalid += 1 }
        }
        XCTAssertGreaterThan(valid, 10)
        XCTAssertGreaterThan(invalid, 10)
    }

    func testErrorsNameTheLineAndElement() throws {
        let data = try Data(contentsOf: Fixtures.invalid.appendingPathComponent("case-bad-sex.xml"))
        XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(bytes: data)) { error in
            guard case let .schemaInvalid(schema, errors) = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(schema, "case-1.xsd")
            XCTAssertTrue(errors.first?.hasPrefix("line ") == true, "\(errors)")
            XCTAssertTrue(errors.joined().contains("Sex"), "\(errors)")
        }
    }

    func testEncodedMessagesAreValid() throws {
        for type in EventType.allCases {
            XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(bytes: CaseXML.encode(Fixtures.fullMessage(type))))
            XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(bytes: CaseXML.encode(Fixtures.minimalMessage(type))))
        }
    }

    func testMalformedHostileAndOversizedInputIsRefused() throws {
        let good = CaseXML.encode(Fixtures.minimalMessage())
        XCTAssertEqual(verdict { try SchemaValidator.caseMessage.validate(bytes: good.dropLast(8)) }, "malformed")
        XCTAssertEqual(verdict { try SchemaValidator.caseMessage.validate(bytes: Data()) }, "malformed")
        XCTAssertEqual(verdict { try SchemaValidator.caseMessage.validate(bytes: Data("<a><b></a>".utf8)) }, "malformed")
        let doctype = Data("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>".utf8)
        XCTAssertEqual(verdict { try SchemaValidator.caseMessage.validate(bytes: doctype) }, "doctype")
        XCTAssertEqual(verdict { try SchemaValidator.caseMessage.validate(bytes: good, limits: XMLLimits(maxBytes: 100)) }, "large")
        // An undeclared entity is not expanded or fetched: it is an error.
        let entity = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "<GivenName>A", with: "<GivenName>&x;")
        XCTAssertNotEqual(verdict { try SchemaValidator.caseMessage.validate(bytes: Data(entity.utf8)) }, "valid")
        // The validator is reusable after failures (no state left behind).
        XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(bytes: good))
    }

    /// Each thread keeps its parser; one fed thousands of distinct names starts afresh and still judges right.
    func testReusedParserStaysCorrectAcrossManyDistinctDocuments() throws {
        let good = CaseXML.encode(Fixtures.fullMessage())
        for i in 0..<5000 {
            let odd = Data("<CaseMessage xmlns=\"urn:stafett:case:1\"><E\(i) xmlns:p\(i)=\"urn:x:\(i)\"/></CaseMessage>".utf8)
            XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(bytes: odd))
            if i % 1000 == 0 { XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(bytes: good)) }
        }
        XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(bytes: good))
        let receipt = try Data(contentsOf: Fixtures.examples.appendingPathComponent("receipt-accepted.xml"))
        XCTAssertNoThrow(try SchemaValidator.receipt.validate(bytes: receipt))
        XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(bytes: receipt))
    }

    func testConcurrentValidationAgrees() throws {
        let good = CaseXML.encode(Fixtures.fullMessage())
        let bad = try Data(contentsOf: Fixtures.invalid.appendingPathComponent("case-bad-sex.xml"))
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var values = [Bool](repeating: false, count: 64)
            func set(_ i: Int, _ v: Bool) { lock.lock(); values[i] = v; lock.unlock() }
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let data = i % 2 == 0 ? good : bad
            results.set(i, (try? SchemaValidator.caseMessage.validate(bytes: data)) != nil)
        }
        for i in 0..<64 { XCTAssertEqual(results.values[i], i % 2 == 0, "\(i)") }
    }
}
