import Foundation
import XCTest
@testable import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettSignature
import StafettXML

/// Routing with fan-out per event type, across three running daemons.
final class DaemonRoutingTests: XCTestCase {
    let A = Members.a.0, B = Members.b.0, C = Members.c.0

    /// A ReportedMissing record goes to the recipient and, by `[routing]` fan-out, also to C (in
    /// real life the police), as its own message signed for C; other events go to B only.
    func testFanOutSendsReportedMissingToTheExtraPeer() throws {
        let h = try DaemonHarness { name, config in
            if name == Members.a.0 { config.routing.fanOut[.reportedMissing] = [Members.c.0] }
        }
        for n in [B, C, A] { try h.start(n) }
        let tag = "FAN-\(UUID().uuidString.prefix(6))"
        let csv = "Ärendenummer;Förnamn;Efternamn;Födelsedatum;Händelse;Händelsetid;Plats\r\n"
            + "\(tag)-1;Ali;Nouri;2005-01-01;registrerad;2015-10-23 08:15;Trelleborg\r\n"
            + "\(tag)-2;Ali;Nouri;2005-01-01;avviken;2015-10-26 22:15;HVB Ekbacken\r\n"
        try h.drop(csv, as: "\(tag).csv", into: A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "delivered", casePrefix: tag).count == 3 }, h.log(A))
        XCTAssertEqual(h.inbox(B).count, 2)
        let cInbox = h.inbox(C)
        XCTAssertEqual(cInbox.count, 1, "only the ReportedMissing record is fanned out")
        let copy = try Data(contentsOf: h.node(C).layout.inbox.appendingPathComponent(cInbox[0]))
        let doc = try XMLDocument.parse(copy)
        XCTAssertNoThrow(try XMLSignature.verify(doc, trusting: Certificate.load(path: h.a.tls("signing.crt"))))
        let message = try CaseXML.decode(doc)
        XCTAssertEqual(message.event.type, .reportedMissing)
        XCTAssertEqual(message.header.recipient, h.node(C).organisation, "the copy is addressed to C")
        XCTAssertTrue(message.header.messageId.rawValue.hasSuffix(".\(h.node(C).organisation.digits)"), message.header.messageId.rawValue)
        XCTAssertEqual(Set(try h.journaled(A, kind: "delivered", casePrefix: tag)).count, 3)
        XCTAssertEqual(h.queueCount(A), 0)
    }
}
