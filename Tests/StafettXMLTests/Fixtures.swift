import Foundation
import StafettModel
@testable import StafettXML

/// Paths of the repository's schema files and examples, found relative to this file.
enum Fixtures {
    static let schemas = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas")
    static let examples = schemas.appendingPathComponent("examples")
    static let invalid = examples.appendingPathComponent("invalid")

    /// The `.xml` files directly in `dir`, sorted by name.
    static func xmlFiles(in dir: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".xml") }.sorted().map { dir.appendingPathComponent($0) }
    }

    /// The validator for an example: receipts are named `receipt-*.xml`.
    static func validator(for file: URL) -> SchemaValidator {
        let name = file.lastPathComponent
        return name.hasPrefix("receipt-") ? .receipt : .caseMessage
    }

    static func org(_ s: String) -> OrganisationNumber { try! OrganisationNumber(s) }
    static func id(_ s: String) -> MessageID { try! MessageID(s) }
    static func date(_ s: String) -> Date { XMLDateTime.parse(s)! }

    /// A message with every optional field present.
    static func fullMessage(_ type: EventType = .placed) -> CaseMessage {
        CaseMessage(
            header: MessageHeader(messageId: id("0f6a1c2e-5b7d-4e11-9a3f-1d2c3b4a5e60"),
                                  createdAt: date("2026-11-23T08:15:30.250Z"),
                                  sender: org("2120000142"), recipient: org("2021002163"),
                                  references: [id("a-1"), id("MV:anv:2026:118832")]),
            child: Child(givenName: "Åsa Émilie \"Mimmi\"", familyName: "Ström-Müller & <Öberg> 'ü'",
                         dateOfBirth: try! CalendarDate(iso: "2009-06-02"), dateOfBirthEstimated: true,
                         sex: .female, citizenship: ["AF", "XX"], languages: ["prs", "fa", "sv"],
                         identifiers: ChildIdentifiers(intakeId: "STHLM-2026-00417 <a&b>",
                                                       intakeIdIssuer: org("2120001355"),
                                                       dossierNumber: "21-554812",
                                                       personalIdentityNumber: try! PersonalIdentityNumber("200906024567"))),
            event: CaseEvent(type: type, time: date("2026-11-23T07:50:00.001Z"), place: "Transitboendet, Malmö C",
                             placement: Placement(kind: .hvb, name: "HVB \"Solrosen\" & Co", municipality: org("2120001355")),
                             responsibleOrganisation: org("2120001355"),
                             note: "Line one\nLine two\twith tab\r\nand CRLF; ]]> <!-- not a comment --> &amp; literally"))
    }

    /// A message with every optional field absent.
    static func minimalMessage(_ type: EventType = .closed) -> CaseMessage {
        CaseMessage(
            header: MessageHeader(messageId: id("c"), createdAt: date("2027-06-30T12:00:00.000Z"),
                                  sender: org("2120000142"), recipient: org("2021002163")),
            child: Child(givenName: "A", familyName: "B"),
            event: CaseEvent(type: type, time: date("1999-12-31T23:59:59.999Z")))
    }
}
