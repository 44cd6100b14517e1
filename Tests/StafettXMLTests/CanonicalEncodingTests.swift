import Foundation
import StafettModel
import XCTest
@testable import StafettXML

/// `CaseXML.encodeCanonical` promises that its bytes already are the exclusive C14N of the parsed
/// document (the signer digests them without canonicalizing); libxml2's C14N is the judge.
final class CanonicalEncodingTests: XCTestCase {
    /// SplitMix64, so a failure reproduces from the seed.
    typealias Generator = SplitMix64

    static func message(_ g: inout Generator) throws -> CaseMessage {
        let orgs = ["2120000142", "2021002163", "2120001355", "2321000016"]
        var m = CaseMessage(
            header: MessageHeader(messageId: try MessageID("m-\(g.below(1_000_000))"),
                                  createdAt: Date(timeIntervalSince1970: Double(g.below(2_000_000_000)) + Double(g.below(1000)) / 1000),
                                  sender: try OrganisationNumber(orgs[g.below(4)]), recipient: try OrganisationNumber(orgs[g.below(4)]),
                                  references: try (0..<g.below(3)).map { _ in try MessageID("r-\(g.below(1000))") }),
            child: Child(givenName: g.text(), familyName: g.text()),
            event: CaseEvent(type: EventType.allCases[g.below(EventType.allCases.count)],
                             time: Date(timeIntervalSince1970: Double(g.below(2_000_000_000)))))
        if g.chance() {
            m.child.dateOfBirth = try CalendarDate(iso: "20\(10 + g.below(10))-0\(1 + g.below(9))-1\(g.below(9))")
            m.child.dateOfBirthEstimated = g.chance()
        }
        if g.chance() { m.child.sex = Sex.allCases[g.below(Sex.allCases.count)] }
        m.child.citizenship = (0..<g.below(3)).map { _ in ["SE", "AF", "XX"][g.below(3)] }
        m.child.languages = (0..<g.below(3)).map { _ in ["prs", "fa", "sv"][g.below(3)] }
        m.child.identifiers.intakeId = g.optionalText()
        if m.child.identifiers.intakeId != nil, g.chance() { m.child.identifiers.intakeIdIssuer = try OrganisationNumber(orgs[2]) }
        m.child.identifiers.dossierNumber = g.optionalText()
        if g.chance() { m.child.identifiers.personalIdentityNumber = try PersonalIdentityNumber("200906024567") }
        m.event.place = g.optionalText()
        if g.chance() {
            m.event.placement = Placement(kind: PlacementKind.allCases[g.below(PlacementKind.allCases.count)],
                                          name: g.optionalText(), municipality: g.chance() ? try OrganisationNumber(orgs[0]) : nil)
        }
        if g.chance() { m.event.responsibleOrganisation = try OrganisationNumber(orgs[1]) }
        if g.chance() { m.event.note = g.text(maxParts: 60) }
        return m
    }

    func assertCanonical(_ m: CaseMessage, file: StaticString = #filePath, line: UInt = #line) throws {
        let (document, range) = CaseXML.encodeCanonical(m)
        XCTAssertEqual(document, CaseXML.encode(m), file: file, line: line)
        let expected = try XMLDocument.parse(document).exclusiveCanonical()
        let actual = document.subdata(in: range)
        XCTAssertEqual(actual, expected, "\n\(String(decoding: actual, as: UTF8.self))\n---\n\(String(decoding: expected, as: UTF8.self))",
                       file: file, line: line)
        // Only the declaration line before, only a line feed after.
        XCTAssertEqual(document.prefix(range.lowerBound), Data("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".utf8), file: file, line: line)
        XCTAssertEqual(document.suffix(from: range.upperBound), Data("\n".utf8), file: file, line: line)
    }

    func testFixturesAreCanonical() throws {
        for type in EventType.allCases {
            try assertCanonical(Fixtures.fullMessage(type))
            try assertCanonical(Fixtures.minimalMessage(type))
        }
    }

    func testGeneratedMessagesWithAwkwardTextAreCanonical() throws {
        var g = Generator(seed: 0x5EED_2026)
        for _ in 0..<400 { try assertCanonical(try Self.message(&g)) }
    }

    func testQuotesStayLiteralInTextAndEscapedInAttributes() {
        var w = XMLWriter(capacity: 64)
        w.content("a\"b'c>d<e&f\r\t\n")
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), "a\"b'c&gt;d&lt;e&amp;f&#xD;\t\n")
        w = XMLWriter(capacity: 64)
        w.attributeText("a\"b'c>d<e&f\r\t\n")
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), "a&quot;b'c>d&lt;e&amp;f&#xD;&#x9;&#xA;")
    }

    /// An attribute value with every character C14N escapes survives parse + C14N unchanged.
    func testAttributeEscapingIsCanonical() throws {
        var w = XMLWriter(capacity: 64)
        w.raw("<a xmlns=\"urn:x\" v=\"")
        w.attributeText("q\"<>&\t\n\r 'x' Å")
        w.raw("\"></a>")
        let doc = try XMLDocument.parse(Data(w.bytes))
        XCTAssertEqual(try doc.exclusiveCanonical(), Data(w.bytes))
    }
}

/// The draws the generated messages need.
extension SplitMix64 {
    mutating func chance() -> Bool { next() & 1 == 0 }

    /// Characters C14N treats specially, markup look-alikes, non-ASCII of every UTF-8 length,
    /// and characters XML cannot carry (dropped by the encoder).
    static let awkward: [String] = ["\"", "'", "&", "<", ">", "\r", "\n", "\r\n", "\t", " ", "  ", "]]>",
                                    "<!--", "&amp;", "&#xD;", "Å", "ö", "é", "€", "ሰ", "😀", "e\u{301}",
                                    "\u{1}", "\u{FFFE}", "\u{FFFF}", "\u{85}", "\u{2028}", "a", "Z", "9", "-"]

    mutating func text(maxParts: Int = 12) -> String {
        (0..<(1 + below(maxParts))).map { _ in Self.awkward[below(Self.awkward.count)] }.joined()
    }
    mutating func optionalText() -> String? { chance() ? text() : nil }
}
