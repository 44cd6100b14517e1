import Foundation
import StafettModel
import XCTest
@testable import StafettXML

/// `CaseXML.encodeCanonicalValidated` validates the writer's events instead of parsing its bytes;
/// it must judge every message exactly as parsing and validating the bytes does.
final class EventValidationTests: XCTestCase {
    enum Verdict: Equatable { case valid, invalid }

    func eventVerdict(_ m: CaseMessage) -> Verdict {
        do { _ = try CaseXML.encodeCanonicalValidated(m); return .valid } catch { return .invalid }
    }

    func byteVerdict(_ m: CaseMessage) -> Verdict {
        do { try SchemaValidator.caseMessage.validate(bytes: CaseXML.encodeCanonical(m).document); return .valid } catch { return .invalid }
    }

    /// Messages the schema refuses although the model holds them: every facet the model does not check.
    static func invalidVariants(of base: CaseMessage) -> [(String, CaseMessage)] {
        var out: [(String, CaseMessage)] = []
        func variant(_ name: String, _ change: (inout CaseMessage) -> Void) {
            var m = base
            change(&m)
            out.append((name, m))
        }
        variant("empty family name beside a given name that XML cannot carry") { $0.child.familyName = ""; $0.child.givenName = "\u{1}" }
        variant("given name of only a character XML cannot carry") { $0.child.givenName = "\u{1}" }
        variant("family name over 200 characters") { $0.child.familyName = String(repeating: "ö", count: 201) }
        variant("lower-case citizenship") { $0.child.citizenship = ["se"] }
        variant("three-letter citizenship") { $0.child.citizenship = ["SWE"] }
        variant("eleven citizenships") { $0.child.citizenship = Array(repeating: "SE", count: 11) }
        variant("language as a word") { $0.child.languages = ["english"] }
        variant("21 languages") { $0.child.languages = Array(repeating: "sv", count: 21) }
        variant("place over 200 characters") { $0.event.place = String(repeating: "a", count: 201) }
        variant("empty place") { $0.event.place = "" }
        variant("intake id over 64 characters") { $0.child.identifiers.intakeId = String(repeating: "1", count: 65) }
        variant("dossier number over 32 characters") { $0.child.identifiers.dossierNumber = String(repeating: "9", count: 33) }
        variant("empty placement name") { $0.event.placement = Placement(kind: .hvb, name: "") }
        return out
    }

    func testInvalidVariantsAreRefusedByBothAndValidOnesPass() throws {
        for type in EventType.allCases {
            for m in [Fixtures.fullMessage(type), Fixtures.minimalMessage(type)] {
                XCTAssertEqual(eventVerdict(m), .valid, "\(type)")
                XCTAssertEqual(byteVerdict(m), .valid, "\(type)")
            }
        }
        let variants = Self.invalidVariants(of: Fixtures.fullMessage(.registered))
        for (name, m) in variants {
            XCTAssertEqual(byteVerdict(m), .invalid, "the bytes of: \(name)")
            XCTAssertEqual(eventVerdict(m), .invalid, "the events of: \(name)")
        }
    }

    /// Random messages full of characters that escaping changes or drops (the generator of
    /// `CanonicalEncodingTests`), some of them invalid (a text of only dropped characters is empty).
    func testSameVerdictAsTheBytesOnGeneratedMessages() throws {
        var g = CanonicalEncodingTests.Generator(seed: 0x5EA1_0F_CA5E)
        var counts: [Verdict: Int] = [:]
        for i in 0..<400 {
            var m = try CanonicalEncodingTests.message(&g)
            if i % 7 == 0 { m.event.note = String(repeating: g.text(), count: 1 + g.below(400)) }  // now and then past NoteType's limit
            let bytes = byteVerdict(m)
            XCTAssertEqual(eventVerdict(m), bytes, "message \(i):\n\(String(decoding: CaseXML.encode(m), as: UTF8.self))")
            counts[bytes, default: 0] += 1
        }
        XCTAssertGreaterThan(counts[.valid] ?? 0, 100)
        XCTAssertGreaterThan(counts[.invalid] ?? 0, 10)
    }

    /// A refusal names the element, the rule and the line, as validating the bytes does.
    func testRefusalNamesLineElementAndRule() throws {
        var m = Fixtures.fullMessage(.registered)
        m.child.citizenship = ["se"]
        XCTAssertThrowsError(try CaseXML.encodeCanonicalValidated(m)) { error in
            guard case let .schemaInvalid(schema, errors) = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(schema, "case-1.xsd")
            XCTAssertTrue(errors.first?.hasPrefix("line ") == true, "\(errors)")
            XCTAssertTrue(errors.joined().contains("Citizenship") && errors.joined().contains("pattern"), "\(errors)")
        }
    }

    /// The validated encoding is byte for byte the plain one, and the thread's validator is left
    /// ready for the next document, valid or not, and for the byte validator that shares it.
    func testSameBytesAndTheValidatorIsReusable() throws {
        let good = Fixtures.fullMessage(.transferSent)
        var bad = good
        bad.child.familyName = String(repeating: "ö", count: 201)
        for _ in 0..<3 {
            let validated = try CaseXML.encodeCanonicalValidated(good)
            let plain = CaseXML.encodeCanonical(good)
            XCTAssertEqual(validated.document, plain.document)
            XCTAssertEqual(validated.canonicalRange, plain.canonicalRange)
            XCTAssertThrowsError(try CaseXML.encodeCanonicalValidated(bad))
            XCTAssertNoThrow(try SchemaValidator.caseMessage.validate(bytes: plain.document))
        }
    }
}
