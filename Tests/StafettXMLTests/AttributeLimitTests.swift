import Foundation
import StafettModel
import XCTest
@testable import StafettXML

/// libxml2 2.9 checks attributes for duplicates in O(N²) per element; the pre-scan refuses an
/// element with too many before libxml2 runs, without counting what is not an attribute.
final class AttributeLimitTests: XCTestCase {
    let limit = XMLLimits.default.maxAttributesPerElement

    /// ` a0="" a1="" …` with `n` attributes.
    private func attributes(_ n: Int, prefix: String = "a") -> String {
        (0..<n).map { " \(prefix)\($0)=\"\"" }.joined()
    }

    private func assertRefused(_ xml: String, line: Int, limit: Int = XMLLimits.default.maxAttributesPerElement,
                               file: StaticString = #filePath, sourceLine: UInt = #line) {
        let data = Data(xml.utf8)
        let expected = XMLError.tooManyAttributes(line: line, limit: limit)
        let limits = XMLLimits(maxAttributesPerElement: limit)
        XCTAssertThrowsError(try XMLDocument.parse(data, limits: limits), file: file, line: sourceLine) {
            XCTAssertEqual($0 as? XMLError, expected, file: file, line: sourceLine)
        }
        XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(bytes: data, limits: limits), file: file, line: sourceLine) {
            XCTAssertEqual($0 as? XMLError, expected, file: file, line: sourceLine)
        }
    }

    func testOneOverTheLimitIsRefusedWithTheLineOfTheTag() {
        let xml = "<?xml version=\"1.0\"?>\n<r>\n  <e\(attributes(limit + 1))/>\n</r>"
        assertRefused(xml, line: 3)
        // A start tag split over lines is reported where it starts.
        assertRefused("<r>\n<e\n" + attributes(limit + 1).replacingOccurrences(of: " ", with: "\n") + "/></r>", line: 2)
    }

    func testExactlyTheLimitPasses() throws {
        let doc = try XMLDocument.parse(Data("<r\(attributes(limit))><e\(attributes(limit))/></r>".utf8))
        XCTAssertEqual(XMLDocument.attribute("a\(limit - 1)", of: doc.root), "")
        XCTAssertNoThrow(try XMLDocument.parse(Data("<r\(attributes(3))/>".utf8), limits: XMLLimits(maxAttributesPerElement: 3)))
        assertRefused("<r\(attributes(4))/>", line: 1, limit: 3)
    }

    func testNamespaceDeclarationsCount() throws {
        let declarations = (0..<limit).map { " xmlns:p\($0)=\"urn:p:\($0)\"" }.joined()
        XCTAssertNoThrow(try XMLDocument.parse(Data("<r\(declarations)/>".utf8)))
        assertRefused("<r xmlns=\"urn:x\"\(declarations)/>", line: 1)
        assertRefused("<r\(declarations) a=\"\"/>", line: 1)
    }

    func testTheCountIsPerElement() throws {
        let many = String(repeating: "<e\(attributes(limit))/>\n", count: 20)
        XCTAssertNoThrow(try XMLDocument.parse(Data("<r\(attributes(limit))>\n\(many)</r>".utf8)))
        assertRefused("<r\(attributes(limit))>\n\(many)<e\(attributes(limit + 1))/></r>", line: 22)
    }

    func testGreaterThanAndEqualsInsideQuotedValuesAreNotAttributes() throws {
        let tight = XMLLimits(maxAttributesPerElement: 2)
        let values = #"<r a="x=y>z==>" b='p=q>"r"=>'>t</r>"#
        let doc = try XMLDocument.parse(Data(values.utf8), limits: tight)
        XCTAssertEqual(XMLDocument.attribute("a", of: doc.root), "x=y>z==>")
        XCTAssertEqual(XMLDocument.attribute("b", of: doc.root), #"p=q>"r"=>"#)
        // A `>` in a value does not end the tag: the third attribute after it is still seen.
        assertRefused(#"<r a="=>" b='=>' c=""/>"#, line: 1, limit: 2)
        let crowded = "<r a=\"\(String(repeating: "k=v ", count: 500))\" b='\(String(repeating: "=>\"", count: 500))'/>"
        XCTAssertNoThrow(try XMLDocument.parse(Data(crowded.utf8), limits: tight))
    }

    func testCommentsPIsCDATAAndTheDeclarationAreNotCounted() throws {
        let fake = "<x\(attributes(limit * 3))/>"
        let xml = """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <!-- \(fake) -->
            <?stafett \(fake) ?>
            <r a="1">
              <!-- \(fake)
                   \(fake) -->
              <?pi \(fake)?>
              <t><![CDATA[\(fake) ]] > ]]]></t>
              <e\(attributes(limit))/>
            </r>
            <!-- \(fake) -->
            """
        let doc = try XMLDocument.parse(Data(xml.utf8))
        XCTAssertEqual(XMLDocument.elementChildren(of: doc.root).count, 2)
        XCTAssertNil(XMLDocument.firstStartTag(withMoreAttributesThan: limit, in: Data(xml.utf8)))
        // After all those sections the scan is still in step: a tag over the limit is found, on its line.
        let over = xml.replacingOccurrences(of: "<e\(attributes(limit))/>", with: "<e\(attributes(limit + 1))/>")
        assertRefused(over, line: 9)
    }

    func testFiftyThousandAttributesAreRefusedBeforeParsing() {
        let xml = "<CaseMessage xmlns=\"urn:stafett:case:1\"\(attributes(50_000))/>"
        assertRefused(xml, line: 1)
        XCTAssertThrowsError(try CaseXML.read(Data(xml.utf8))) {
            XCTAssertEqual($0 as? XMLError, .tooManyAttributes(line: 1, limit: limit))
        }
        let declarations = (0..<50_000).map { " xmlns:p\($0)=\"urn:p\"" }.joined()
        XCTAssertThrowsError(try ReceiptXML.read(Data("<Receipt\(declarations)/>".utf8))) {
            XCTAssertEqual($0 as? XMLError, .tooManyAttributes(line: 1, limit: limit))
        }
    }

    /// libxml2 carries on after a fatal error, so a section it abandons early has its rest read as
    /// content, start tags included (each case measured quadratic in libxml2 2.9.14). The scan
    /// must not skip such a section as if it were whole.
    func testSectionsLibxml2AbandonsDoNotHideStartTags() {
        let tag = "<x\(attributes(limit + 1))/>"
        let cases: [(String, String)] = [
            ("control character in a comment", "<r><!-- \u{1} \(tag) --></r>"),
            ("surrogate in a comment", "<r><!-- \u{FFFD} \(tag) --></r>"),
            ("control character in CDATA", "<r><![CDATA[ \u{8} \(tag) ]]></r>"),
            ("control character in a PI", "<r><?pi \u{1F} \(tag) ?></r>"),
            ("U+FFFE in a PI", "<r><?pi \u{FFFE} \(tag) ?></r>"),
            ("U+FFFE right after a PI target", "<r><?x\u{FFFE}\(tag) ?></r>"),
            ("PI without a target", "<r><? \(tag) ?></r>"),
            ("PI target not starting with a name character", "<r><?\u{B7}x \(tag) ?></r>"),
            ("PI target longer than libxml2's names", "<r><?\(String(repeating: "p", count: 60_000)) \(tag) ?></r>"),
            ("broken XML declaration", "<?xml version=\"1.0\" foo > \(tag) ?>"),
            ("`<` inside an attribute value", "<r><c v=\"\(tag)\"/></r>"),
            ("double hyphen in a comment", "<r><!-- a ---> \(tag) --></r>"),
        ]
        for (what, xml) in cases {
            var data = Data(xml.utf8)
            if what.hasPrefix("surrogate") {
                // Swift strings cannot hold a lone surrogate; put U+DFFF's UTF-8 in by hand.
                let replacement = Data("\u{FFFD}".utf8)
                let range = data.range(of: replacement)!
                data.replaceSubrange(range, with: [0xED, 0xBF, 0xBF])
            }
            XCTAssertThrowsError(try XMLDocument.parse(data), what) {
                XCTAssertEqual($0 as? XMLError, .tooManyAttributes(line: 1, limit: limit), what)
            }
        }
    }

    func testSectionsInDoubtStopTheSkippingForTheRestOfTheDocument() throws {
        let fake = "<x\(attributes(limit + 1))/>"
        // Well-formed, so libxml2 reads the PI whole; but after a doubtful comment the scan no longer skips.
        XCTAssertNoThrow(try XMLDocument.parse(Data("<r><?pi \(fake)?></r>".utf8)))
        XCTAssertNotNil(XMLDocument.firstStartTag(withMoreAttributesThan: limit, in: Data("<r><!-- \u{1} --><?pi \(fake)?></r>".utf8)))
    }

    func testTruncatedInputEndsTheScanQuietly() throws {
        let xml = Data("""
            <?xml version="1.0"?><!-- c --><r a='>' b="=">
            <?pi x?><![CDATA[ <y z=""> ]]><e f="g"/>&amp;</r>
            """.utf8)
        for n in 0...xml.count {
            XCTAssertNil(XMLDocument.firstStartTag(withMoreAttributesThan: 2, in: xml.prefix(n)), "\(n)")
            // A slice that does not start at index 0 is read from its own start.
            XCTAssertNil(XMLDocument.firstStartTag(withMoreAttributesThan: 2, in: xml.prefix(n).dropFirst(min(n, 21))), "\(n)")
        }
        for cut in ["<r", "<r a", "<r a=\"", "<r a='>", "<!--", "<!-- x -", "<![CDATA[", "<?", "<?p", "<?p ?", "<?xml ", "</", "<"] {
            XCTAssertNil(XMLDocument.firstStartTag(withMoreAttributesThan: 1, in: Data(cut.utf8)), cut)
        }
        XCTAssertNil(XMLDocument.firstStartTag(withMoreAttributesThan: 0, in: Data()))
    }

    func testEveryExampleAndEncodedMessagePassesTheScan() throws {
        let files = Fixtures.xmlFiles(in: Fixtures.examples) + Fixtures.xmlFiles(in: Fixtures.invalid)
        XCTAssertTrue(files.contains { $0.lastPathComponent == "registered-signed.xml" })
        XCTAssertTrue(files.contains { $0.lastPathComponent == "receipt-accepted-signed.xml" })
        for file in files {
            let data = try Data(contentsOf: file)
            // Far below the limit: a schema change that needs more attributes should be a decision.
            XCTAssertNil(XMLDocument.firstStartTag(withMoreAttributesThan: 4, in: data), file.lastPathComponent)
        }
        for file in Fixtures.xmlFiles(in: Fixtures.examples) {
            XCTAssertNoThrow(try Fixtures.validator(for: file).parseAndValidate(Data(contentsOf: file)), file.lastPathComponent)
        }
        for type in EventType.allCases {
            XCTAssertNoThrow(try CaseXML.read(CaseXML.encode(Fixtures.fullMessage(type))))
            XCTAssertNoThrow(try CaseXML.read(CaseXML.encode(Fixtures.minimalMessage(type))))
        }
    }

    func testTheErrorSaysWhereAndWhy() {
        let text = XMLError.tooManyAttributes(line: 7, limit: 64).description
        XCTAssertTrue(text.contains("line 7"), text)
        XCTAssertTrue(text.contains("more than 64 attributes"), text)
    }
}
