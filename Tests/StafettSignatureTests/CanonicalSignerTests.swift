import Foundation
import StafettCrypto
import StafettTestSupport
import StafettXML
import XCTest
@testable import StafettSignature

/// `Signer.sign(canonicalDocument:canonicalRange:)` signs canonical bytes without a tree; what it
/// writes must verify with our strict verifier and with xmlsec1, exactly as the tree signer's output.
final class CanonicalSignerTests: XCTestCase {
    static let xmlsec = "/usr/bin/xmlsec1"
    var dir: TempDir!

    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() { dir?.remove() }

    /// `sampleCase` as an encoder would write it: declaration line, canonical form, line feed.
    func canonicalSample() throws -> (document: Data, canonicalRange: Range<Int>) {
        let canonical = try XMLDocument.parse(Data(sampleCase.utf8)).exclusiveCanonical()
        let head = Data("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".utf8)
        return (head + canonical + Data("\n".utf8), head.count..<(head.count + canonical.count))
    }

    func check(rsa: Bool, withCertificate: Bool) throws {
        let pair = try opensslSelfSigned(in: dir, name: rsa ? "rsa" : "ec", rsa: rsa)
        let key = try Key.privateKey(path: pair.keyPath), cert = try Certificate.load(path: pair.certPath)
        let signer = try XMLSignature.Signer(key: key, certificate: withCertificate ? cert : nil)
        let (document, range) = try canonicalSample()
        let signed = try signer.sign(canonicalDocument: document, canonicalRange: range)
        let text = String(decoding: signed.xml, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CaseMessage"), text)
        XCTAssertTrue(text.hasSuffix("</ds:Signature></CaseMessage>\n"), text)
        XCTAssertTrue(text.contains("</Child>\n<ds:Signature xmlns:ds="), text)
        XCTAssertEqual(text.contains("<ds:KeyInfo>"), withCertificate)

        let doc = try XMLSignature.verify(xml: signed.xml, trusting: cert)
        XCTAssertEqual(signed.digest, try XMLSignature.signedDigestValue(doc))
        // The digest a verification hands back is the one in the signature, with the certificate that verified.
        let verification = try XMLSignature.verification(of: doc, trustingAnyOf: [cert])
        XCTAssertEqual(verification.digestValue, signed.digest)
        XCTAssertEqual(verification.certificate.der, cert.der)
        XCTAssertEqual(signed.digest, SHA256.hash(document.subdata(in: range)))
        // The same digest as the tree signer computes for the same document.
        let treeSigned = try XMLDocument.parse(document)
        XCTAssertEqual(try signer.sign(treeSigned), signed.digest)

        if FileManager.default.isExecutableFile(atPath: Self.xmlsec) {
            let file = try dir.write("signed.xml", signed.xml)
            let ok = try runTool(Self.xmlsec, ["--verify", "--pubkey-cert-pem", pair.certPath, "--enabled-key-data", "key-name",
                                               "--enabled-reference-uris", "empty", file])
            XCTAssertEqual(ok.status, 0, ok.output)
            XCTAssertTrue(ok.output.contains("OK"), ok.output)
        }

        // Any changed byte of the signed content fails: a digest mismatch, or a document that no longer parses.
        let signatureStart = text.utf8.count - (text.components(separatedBy: "<ds:Signature ").last!.utf8.count + "<ds:Signature ".utf8.count)
        var bytes = [UInt8](signed.xml)
        for i in range.lowerBound..<signatureStart {
            let original = bytes[i]
            bytes[i] = original == 0x61 ? 0x62 : 0x61
            XCTAssertThrowsError(try XMLSignature.verify(xml: Data(bytes), trusting: cert), "byte \(i)")
            bytes[i] = original
        }
        XCTAssertNoThrow(try XMLSignature.verify(xml: Data(bytes), trusting: cert))
    }

    func testECDSAWithoutCertificate() throws { try check(rsa: false, withCertificate: false) }
    func testECDSAWithCertificate() throws { try check(rsa: false, withCertificate: true) }
    func testRSAWithoutCertificate() throws { try check(rsa: true, withCertificate: false) }
    func testRSAWithCertificate() throws { try check(rsa: true, withCertificate: true) }

    func testBatchSignsEachDocumentAndVerifies() throws {
        let key = try Key.generate(.ecdsaP256SHA256)
        let signer = try XMLSignature.Signer(key: key)
        let sample = try canonicalSample()
        let other = (document: sample.document, canonicalRange: sample.canonicalRange)
        let signed = try signer.sign(canonicalDocuments: [sample, other, sample])
        XCTAssertEqual(signed.count, 3)
        for s in signed {
            let doc = try XMLDocument.parse(s.xml)
            XCTAssertNoThrow(try XMLSignature.verify(doc, key: key))
            XCTAssertEqual(s.digest, try XMLSignature.signedDigestValue(doc))
        }
        XCTAssertNotEqual(signed[0].xml, signed[1].xml, "ECDSA signatures are randomized")
        XCTAssertEqual(try signer.sign(canonicalDocuments: []).count, 0)
    }

    func testRefusesSignedDocumentsAndBadRanges() throws {
        let key = try Key.generate(.ecdsaP256SHA256)
        let signer = try XMLSignature.Signer(key: key)
        let (document, range) = try canonicalSample()
        let signed = try signer.sign(canonicalDocument: document, canonicalRange: range)
        // Already signed: its canonical form (signature included) is refused.
        let canonicalSigned = try XMLDocument.parse(signed.xml).exclusiveCanonical()
        XCTAssertThrowsError(try signer.sign(canonicalDocument: canonicalSigned, canonicalRange: 0..<canonicalSigned.count)) {
            XCTAssertEqual($0 as? SignatureError, .alreadySigned)
        }
        // A prefixed Signature element elsewhere counts too.
        let wrapped = Data("<a xmlns=\"urn:x\"><x:Signature xmlns:x=\"urn:y\"></x:Signature></a>".utf8)
        XCTAssertThrowsError(try signer.sign(canonicalDocument: wrapped, canonicalRange: 0..<wrapped.count)) {
            XCTAssertEqual($0 as? SignatureError, .alreadySigned)
        }
        // Ranges that do not end in the root end tag, or leave the document.
        for bad in [range.lowerBound..<(range.upperBound - 1), range.lowerBound..<(range.upperBound + 1),
                    range.lowerBound..<(document.count + 5), 0..<0] {
            XCTAssertThrowsError(try signer.sign(canonicalDocument: document, canonicalRange: bad), "\(bad)") {
                guard case .malformed = $0 as? SignatureError else { return XCTFail("\($0)") }
            }
        }
        // A Data slice with a non-zero start index is handled by offsets from its start.
        let padded = Data("xx".utf8) + document
        let slice = padded[2...]
        XCTAssertNoThrow(try XMLSignature.verify(XMLDocument.parse(signer.sign(canonicalDocument: slice, canonicalRange: range).xml), key: key))
    }
}
