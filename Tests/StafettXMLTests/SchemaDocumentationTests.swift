import XCTest
import CLibXML2
@testable import StafettXML

/// The schemas are the reference for other implementers: every element and every coded value
/// that matters must say what it means.
final class SchemaDocumentationTests: XCTestCase {
    private static let xs: StaticString = "http://www.w3.org/2001/XMLSchema"

    /// All elements below `node`, depth first.
    private func descendants(_ node: xmlNodePtr) -> [xmlNodePtr] {
        var out: [xmlNodePtr] = []
        for c in XMLDocument.elementChildren(of: node) { out.append(c); out += descendants(c) }
        return out
    }

    /// The text of the `xs:annotation/xs:documentation` child of `node`, or "".
    private func documentation(of node: xmlNodePtr) -> String {
        for a in XMLDocument.elementChildren(of: node) where isElement(a, "annotation", in: Self.xs) {
            for d in XMLDocument.elementChildren(of: a) where isElement(d, "documentation", in: Self.xs) {
                return XMLDocument.text(of: d).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return ""
    }

    private func check(_ xsd: String, enumeratedTypes: Set<String>) throws {
        let doc = try XMLDocument.parse(Data(xsd.utf8))
        XCTAssertFalse(documentation(of: doc.root).isEmpty, "schema-level documentation")
        var elements = 0
        for node in descendants(doc.root) {
            if isElement(node, "element", in: Self.xs), let name = XMLDocument.attribute("name", of: node) {
                elements += 1
                XCTAssertFalse(documentation(of: node).isEmpty, "element \(name) is undocumented")
            }
            if isElement(node, "simpleType", in: Self.xs), let name = XMLDocument.attribute("name", of: node),
               enumeratedTypes.contains(name) {
                for r in XMLDocument.elementChildren(of: node) where isElement(r, "restriction", in: Self.xs) {
                    for e in XMLDocument.elementChildren(of: r) where isElement(e, "enumeration", in: Self.xs) {
                        let value = XMLDocument.attribute("value", of: e) ?? "?"
                        let text = documentation(of: e)
                        XCTAssertTrue(text.hasPrefix("[") || text.contains("["),
                                      "\(name)/\(value) needs documentation with the Swedish term in brackets")
                    }
                }
            }
        }
        XCTAssertGreaterThan(elements, 9)
    }

    func testEveryCaseElementAndCodeIsDocumented() throws {
        try check(EmbeddedSchemas.case1, enumeratedTypes: ["EventTypeType", "PlacementKindType"])
    }

    func testEveryReceiptElementAndCodeIsDocumented() throws {
        try check(EmbeddedSchemas.receipt1, enumeratedTypes: ["StatusType", "ReasonType"])
    }

    func testEveryStringHasAnUpperLimit() throws {
        for xsd in [EmbeddedSchemas.case1, EmbeddedSchemas.receipt1] {
            let doc = try XMLDocument.parse(Data(xsd.utf8))
            for node in descendants(doc.root) where isElement(node, "restriction", in: Self.xs) {
                guard XMLDocument.attribute("base", of: node) == "xs:string" else { continue }
                let facets = XMLDocument.elementChildren(of: node).map { XMLDocument.localName(of: $0) }
                XCTAssertTrue(facets.contains("maxLength") || facets.contains("pattern") || facets.contains("enumeration"),
                              "an xs:string restriction without a limit: \(facets)")
            }
            XCTAssertFalse(xsd.contains("maxOccurs=\"unbounded\""))
        }
    }
}
