import XCTest
import StafettModel
@testable import StafettXML

final class ReceiptXMLTests: XCTestCase {
    static let digest = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

    private func roundTrip(_ r: Receipt) throws -> Receipt {
        let doc = try XMLDocument.parse(ReceiptXML.encode(r))
        try SchemaValidator.receipt.validate(doc)
        return try ReceiptXML.decode(doc)
    }

    func testAcceptedReceiptRoundTrips() throws {
        let r = Receipt(receiptId: Fixtures.id("rcpt-1"), refToMessageId: Fixtures.id("m-1"),
                        issuedAt: Fixtures.date("2026-11-23T08:15:31.002Z"), issuer: Fixtures.org("2021002163"),
                        addressee: Fixtures.org("2120000142"), status: .accepted, digest: Self.digest)
        XCTAssertEqual(try roundTrip(r), r)
        let text = String(decoding: ReceiptXML.encode(r), as: UTF8.self)
        XCTAssertTrue(text.contains("<Digest algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\">\(Self.digest)</Digest>"))
    }

    func testRejectedReceiptsRoundTripForEveryReason() throws {
        for reason in RejectionReason.allCases {
            let r = Receipt(receiptId: Fixtures.id("rcpt-\(reason.rawValue)"), refToMessageId: nil,
                            issuedAt: Fixtures.date("2026-12-01T22:10:00.120Z"), issuer: Fixtures.org("2021002163"),
                            addressee: nil, status: .rejected, reason: reason,
                            detail: "line 3: Element 'Sender' & <friends>: \"bad\"")
            XCTAssertEqual(try roundTrip(r), r, reason.rawValue)
        }
    }

    func testMinimalReceiptRoundTrips() throws {
        let r = Receipt(receiptId: Fixtures.id("r"), refToMessageId: nil, issuedAt: Fixtures.date("2026-12-01T22:10:00Z"),
                        issuer: Fixtures.org("2021002163"), addressee: nil, status: .rejected)
        XCTAssertEqual(try roundTrip(r), r)
    }

    func testExamplesDecode() throws {
        let accepted = try ReceiptXML.read(Data(contentsOf: Fixtures.examples.appendingPathComponent("receipt-accepted-signed.xml")))
        XCTAssertEqual(accepted.status, .accepted)
        XCTAssertEqual(accepted.digest, Self.digest)
        XCTAssertEqual(accepted.refToMessageId?.rawValue, "0f6a1c2e-5b7d-4e11-9a3f-1d2c3b4a5e60")
        let rejected = try ReceiptXML.read(Data(contentsOf: Fixtures.examples.appendingPathComponent("receipt-rejected.xml")))
        XCTAssertEqual(rejected.reason, .senderMismatch)
        XCTAssertEqual(rejected.addressee?.digits, "2120001355")
        XCTAssertTrue(rejected.detail?.contains("& they must match") ?? false)
    }

    func testDecodeRefusesWrongNamespaceAndReportsPaths() throws {
        let wrong = try XMLDocument.parse(Data(contentsOf: Fixtures.invalid.appendingPathComponent("receipt-wrong-namespace.xml")))
        XCTAssertThrowsError(try ReceiptXML.decode(wrong)) { error in
            guard case let .content(path, reason)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/Receipt")
            XCTAssertTrue(reason.contains("urn:stafett:case:1"), reason)
        }
        let sha1 = try XMLDocument.parse(Data(contentsOf: Fixtures.invalid.appendingPathComponent("receipt-digest-sha1.xml")))
        XCTAssertThrowsError(try ReceiptXML.decode(sha1)) { error in
            guard case let .content(path, _)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/Receipt/Digest/@algorithm")
        }
        let noIssuer = try XMLDocument.parse(Data(contentsOf: Fixtures.invalid.appendingPathComponent("receipt-missing-issuer.xml")))
        XCTAssertThrowsError(try ReceiptXML.decode(noIssuer)) { error in
            guard case let .content(path, _)? = error as? XMLError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/Receipt/Issuer")
        }
        let caseDoc = try XMLDocument.parse(Data(contentsOf: Fixtures.examples.appendingPathComponent("closed.xml")))
        XCTAssertThrowsError(try ReceiptXML.decode(caseDoc))
        XCTAssertThrowsError(try SchemaValidator.receipt.validate(caseDoc))
    }
}
