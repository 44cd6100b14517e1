import XCTest
@testable import StafettXML
import CLibXML2

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

final class ErrorCaptureTests: XCTestCase {
    func testCapturesNestAndRestoreTheOuterHandler() throws {
        let outer = XMLErrorCollector()
        try outer.capture {
            // An inner parse installs and removes its own collector...
            XCTAssertThrowsError(try XMLDocument.parse(Data("<a>".utf8)))
            // ...after which errors reach the outer collector again, not stderr.
            let doc = "<b>".withCString { xmlReadMemory($0, 3, "x", nil, 0) }
            XCTAssertNil(doc)
        }
        XCTAssertFalse(outer.messages.isEmpty)
    }
}
