import XCTest
@testable import StafettXML

final class SafeParsingTests: XCTestCase {
    func testDoctypeIsRefusedBeforeParsing() {
        let xxe = Data(#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#.utf8)
        XCTAssertThrowsError(try XMLDocument.parse(xxe)) { XCTAssertEqual($0 as? XMLError, .doctypeForbidden) }
    }

    func testDepthAndSizeLimits() {
        let deep = Data((String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)).utf8)
        XCTAssertThrowsError(try XMLDocument.parse(deep, limits: XMLLimits(maxDepth: 64))) {
            XCTAssertEqual($0 as? XMLError, .tooDeep(limit: 64))
        }
        let big = Data(("<a>" + String(repeating: "x", count: 2000) + "</a>").utf8)
        XCTAssertThrowsError(try XMLDocument.parse(big, limits: XMLLimits(maxBytes: 1000)))
    }

    func testExclusiveCanonicalFormSortsAttributesAndExpandsEmptyElements() throws {
        let doc = try XMLDocument.parse(Data(#"<r xmlns="urn:x" b="2" a="1"><e/></r>"#.utf8))
        XCTAssertEqual(String(decoding: try doc.exclusiveCanonical(), as: UTF8.self),
                       #"<r xmlns="urn:x" a="1" b="2"><e></e></r>"#)
    }
}
