import XCTest
@testable import StafettXML

/// Untrusted input must be refused quickly and with bounded memory.
final class HostileInputTests: XCTestCase {
    static let billionLaughs = """
        <?xml version="1.0"?>
        <!DOCTYPE lolz [
         <!ENTITY lol "lol">
         <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
         <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
         <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
         <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
         <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
         <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
         <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
         <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
         <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
        ]>
        <CaseMessage xmlns="urn:stafett:case:1">&lol9;</CaseMessage>
        """

    /// Peak resident set size of this process in KiB.
    private func peakRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    /// Asserts `body` throws within `seconds` and returns the error.
    @discardableResult
    private func assertRefusedQuickly(_ seconds: Double, _ what: String, _ body: () throws -> Void) -> Error? {
        let start = Date()
        var caught: Error?
        do { try body() } catch { caught = error }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertNotNil(caught, "\(what) was accepted")
        XCTAssertLessThan(elapsed, seconds, "\(what) took \(elapsed) s")
        return caught
    }

    func testBillionLaughsIsRefusedQuicklyWithBoundedMemory() {
        let before = peakRSS()
        let error = assertRefusedQuickly(0.2, "billion laughs") {
            _ = try CaseXML.read(Data(Self.billionLaughs.utf8))
        }
        XCTAssertEqual(error as? XMLError, .doctypeForbidden)
        XCTAssertLessThan(peakRSS() - before, 50_000, "KiB")
    }

    func testBillionLaughsInUTF16GetsPastTheByteSniffButIsStillRefused() {
        // The `<!DOCTYPE` sniff works on bytes; in UTF-16 it does not match, so UTF-16 is refused
        // before parsing (the tree check after parsing stays as a second line).
        var utf16 = Data([0xFF, 0xFE])
        let text = Self.billionLaughs.replacingOccurrences(of: "<?xml version=\"1.0\"?>", with: "<?xml version=\"1.0\" encoding=\"UTF-16\"?>")
        for unit in text.utf16 { utf16.append(UInt8(unit & 0xFF)); utf16.append(UInt8(unit >> 8)) }
        XCTAssertFalse(XMLDocument.declaresDoctype(utf16))
        let before = peakRSS()
        let error = assertRefusedQuickly(0.5, "UTF-16 billion laughs") { _ = try CaseXML.read(utf16) }
        XCTAssertEqual(error as? XMLError, .unsupportedEncoding("UTF-16"))
        XCTAssertLessThan(peakRSS() - before, 50_000, "KiB")
    }

    func testExternalEntitiesAreNeverRead() {
        let xxe = Data("""
            <?xml version="1.0"?>
            <!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
            <CaseMessage xmlns="urn:stafett:case:1">&x;</CaseMessage>
            """.utf8)
        let error = assertRefusedQuickly(0.2, "XXE") { _ = try CaseXML.read(xxe) }
        XCTAssertEqual(error as? XMLError, .doctypeForbidden)
    }

    func testXIncludeAndSchemaLocationHintsAreNotFollowed() throws {
        let xi = Data("""
            <r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd" parse="text"/></r>
            """.utf8)
        let doc = try XMLDocument.parse(xi)
        XCTAssertFalse(XMLDocument.text(of: doc.root).contains("root:"))
        // A schemaLocation hint pointing elsewhere does not replace our schema.
        var text = try String(contentsOf: Fixtures.invalid.appendingPathComponent("case-bad-sex.xml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "<CaseMessage xmlns=\"urn:stafett:case:1\">", with:
            "<CaseMessage xmlns=\"urn:stafett:case:1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:stafett:case:1 http://127.0.0.1:9/evil.xsd\">")
        assertRefusedQuickly(0.5, "schemaLocation") { _ = try CaseXML.read(Data(text.utf8)) }
    }

    func testDeepNestingIsRefusedQuickly() {
        let n = 200_000
        let deep = Data(("<CaseMessage xmlns=\"urn:stafett:case:1\">" + String(repeating: "<a>", count: n)
            + String(repeating: "</a>", count: n) + "</CaseMessage>").utf8)
        let before = peakRSS()
        assertRefusedQuickly(0.5, "deep nesting") { _ = try CaseXML.read(deep) }
        XCTAssertLessThan(peakRSS() - before, 100_000, "KiB")
        let moderate = Data((String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)).utf8)
        let error = assertRefusedQuickly(0.2, "depth 100") { _ = try XMLDocument.parse(moderate) }
        XCTAssertEqual(error as? XMLError, .tooDeep(limit: 64))
    }

    func testOversizeInputIsRefusedBeforeParsing() {
        let big = Data(count: 64 << 20)
        let error = assertRefusedQuickly(0.05, "64 MiB") { _ = try CaseXML.read(big) }
        XCTAssertEqual(error as? XMLError, .tooLarge(bytes: 64 << 20, limit: XMLLimits.default.maxBytes))
    }

    func testGarbageIsNotWellFormedWithALine() {
        let error = assertRefusedQuickly(0.2, "garbage") { _ = try CaseXML.read(Data("<a>\n<b></a>".utf8)) }
        guard case let .notWellFormed(line, message)? = error as? XMLError else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(line, 2)
        XCTAssertFalse(message.isEmpty)
    }
}
