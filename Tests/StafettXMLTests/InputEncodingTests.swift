import Foundation
import XCTest
@testable import StafettXML

/// The checks before parsing read bytes; a document in an encoding where `<`, `=` or a quote is
/// not its ASCII byte is refused before libxml2 decodes it.
final class InputEncodingTests: XCTestCase {
    let limit = XMLLimits.default.maxAttributesPerElement

    private func assertRefused(_ data: Data, as name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try XMLDocument.parse(data), file: file, line: line) {
            XCTAssertEqual($0 as? XMLError, .unsupportedEncoding(name), file: file, line: line)
        }
        XCTAssertThrowsError(try SchemaValidator.caseMessage.validate(bytes: data), file: file, line: line) {
            XCTAssertEqual($0 as? XMLError, .unsupportedEncoding(name), file: file, line: line)
        }
    }

    private func utf16(_ text: String, bigEndian: Bool, bom: Bool) -> Data {
        var data = Data()
        for unit in ((bom ? "\u{FEFF}" : "") + text).utf16 {
            let bytes = [UInt8(unit >> 8), UInt8(unit & 0xFF)]
            data.append(contentsOf: bigEndian ? bytes : bytes.reversed())
        }
        return data
    }

    func testUTF16AndUCS4AndEBCDICAreRefused() {
        let many = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r" + (0..<50_000).map { " a\($0)=\"\"" }.joined() + "/>"
        for bigEndian in [false, true] {
            assertRefused(utf16(many, bigEndian: bigEndian, bom: true), as: "UTF-16")
            assertRefused(utf16(many, bigEndian: bigEndian, bom: false), as: "UTF-16")
            assertRefused(utf16("<r/>", bigEndian: bigEndian, bom: true), as: "UTF-16")
        }
        assertRefused(Data([0x00, 0x00, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x72]), as: "UCS-4")
        assertRefused(Data([0x3C, 0x00, 0x00, 0x00, 0x72, 0x00, 0x00, 0x00]), as: "UCS-4")
        assertRefused(Data([0x4C, 0x6F, 0xA7, 0x94, 0x93, 0x40]), as: "EBCDIC")
    }

    func testUTF7CannotHideAttributesFromTheScan() {
        // `=` and `"` written as UTF-7 base64: no such byte is left for the scan to count.
        let attributes = (0..<(limit + 1)).map { " a\($0)+AD0AIgAi-" }.joined()
        let data = Data("<?xml version=\"1.0\" encoding=\"UTF-7\"?><r\(attributes)/>".utf8)
        XCTAssertNil(XMLDocument.firstStartTag(withMoreAttributesThan: limit, in: data))
        assertRefused(data, as: "UTF-7")
    }

    func testEveryEncodingDeclarationIsChecked() {
        assertRefused(Data("<?xml version='1.0' encoding = 'utf-7' ?><r/>".utf8), as: "utf-7")
        assertRefused(Data("<?xml version=\"1.0\"\n\tencoding\n=\n\"ISO-2022-JP\"?><r/>".utf8), as: "ISO-2022-JP")
        assertRefused(Data("\u{FEFF}<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><r/>".utf8), as: "Shift_JIS")
        assertRefused(Data("<?xml version=\"1.0\" encoding=\"UTF-8\" encoding=\"UTF-7\"?><r/>".utf8), as: "UTF-7")
        assertRefused(Data("<?xml version=\"encoding='UTF-7'\"?><r/>".utf8), as: "UTF-7")
        assertRefused(Data("<?xml encoding=\"UTF-16\"?><r/>".utf8), as: "UTF-16")
        let long = String(repeating: "X", count: 100_000)
        assertRefused(Data("<?xml version=\"1.0\" encoding=\"\(long)\"?><r/>".utf8), as: String(repeating: "X", count: 40) + "…")
    }

    func testUTF8AndASCIICompatibleEncodingsAreRead() throws {
        for name in ["UTF-8", "utf-8", "UTF8", "US-ASCII", "ISO-8859-1", "iso-8859-15", "windows-1252"] {
            let doc = try XMLDocument.parse(Data("<?xml version=\"1.0\" encoding=\"\(name)\"?><r a=\"1\">x</r>".utf8))
            XCTAssertEqual(XMLDocument.attribute("a", of: doc.root), "1", name)
        }
        var latin1 = Data("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r n=\"".utf8)
        latin1.append(contentsOf: [0xC5, 0x73, 0x61])  // "Åsa"
        latin1.append(contentsOf: Data("\"/>".utf8))
        let doc = try XMLDocument.parse(latin1)
        XCTAssertEqual(XMLDocument.attribute("n", of: doc.root), "Åsa")
        XCTAssertNoThrow(try XMLDocument.parse(Data("\u{FEFF}<?xml version=\"1.0\"?><r/>".utf8)))
        XCTAssertNoThrow(try XMLDocument.parse(Data("<r/>".utf8)))
        // Only a declaration at the very start names the encoding; a PI elsewhere is just a PI.
        XCTAssertNil(XMLDocument.unreadableEncoding(Data("<r><?xml-stylesheet encoding=\"UTF-7\"?></r>".utf8)))
        XCTAssertNil(XMLDocument.unreadableEncoding(Data(" <?xml version=\"1.0\" encoding=\"UTF-7\"?><r/>".utf8)))
        XCTAssertNil(XMLDocument.unreadableEncoding(Data("<r encoding=\"UTF-7\"/>".utf8)))
        // An encoding libxml2 cannot read as one (unquoted) is left to libxml2, which refuses the declaration.
        XCTAssertNil(XMLDocument.unreadableEncoding(Data("<?xml version=\"1.0\" encoding=UTF-7?><r/>".utf8)))
        XCTAssertThrowsError(try XMLDocument.parse(Data("<?xml version=\"1.0\" encoding=UTF-7?><r/>".utf8)))
    }

    func testShortAndTruncatedInputIsNotMisread() {
        for bytes: [UInt8] in [[], [0x3C], [0xFF, 0xFE], [0x3C, 0x00, 0x3F], [0xEF, 0xBB, 0xBF]] {
            XCTAssertNil(XMLDocument.unreadableEncoding(Data(bytes)), "\(bytes)")
        }
        let declaration = Data("<?xml version=\"1.0\" encoding=\"UTF-7\"?>".utf8)
        for n in 0...declaration.count {
            _ = XMLDocument.unreadableEncoding(declaration.prefix(n))
        }
        XCTAssertEqual(XMLDocument.unreadableEncoding(declaration), "UTF-7")
    }

    func testTheErrorSaysWhatIsAccepted() {
        let text = XMLError.unsupportedEncoding("UTF-16").description
        XCTAssertTrue(text.contains("UTF-16"), text)
        XCTAssertTrue(text.contains("only UTF-8"), text)
    }
}
