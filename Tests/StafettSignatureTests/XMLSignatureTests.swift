import CLibXML2
import Foundation
import StafettCrypto
import StafettTestSupport
import StafettXML
import XCTest
@testable import StafettSignature

/// The profile, strictly: what `sign` writes and every way the verifier refuses a document.
final class XMLSignatureTests: XCTestCase {
    var dir: TempDir!
    var ecKey: Key!, ecCert: Certificate!
    var otherKey: Key!, otherCert: Certificate!

    override func setUpWithError() throws {
        dir = try TempDir()
        let a = try opensslSelfSigned(in: dir, name: "a", rsa: false)
        ecKey = try Key.privateKey(path: a.keyPath)
        ecCert = try Certificate.load(path: a.certPath)
        let b = try opensslSelfSigned(in: dir, name: "b", rsa: false, subject: "/CN=someone else")
        otherKey = try Key.privateKey(path: b.keyPath)
        otherCert = try Certificate.load(path: b.certPath)
    }

    override func tearDown() { dir.remove() }

    /// Signs the sample with the EC key and certificate and returns the serialized text.
    func signed(key: Key? = nil, certificate: Certificate?? = nil) throws -> String {
        let data = try XMLSignature.sign(xml: Data(sampleCase.utf8), key: key ?? ecKey,
                                         certificate: certificate ?? ecCert)
        return String(decoding: data, as: UTF8.self)
    }

    /// Verifies text and returns the error, or nil when it verified.
    func verifyError(_ text: String, trusting cert: Certificate? = nil) -> SignatureError? {
        do {
            _ = try XMLSignature.verify(xml: Data(text.utf8), trusting: cert ?? ecCert)
            return nil
        } catch { return error }
    }

    /// Replaces exactly one occurrence of `old`, failing the test when there is none.
    func replacing(_ text: String, _ old: String, _ new: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertTrue(text.contains(old), "\(old) not in signed text", file: file, line: line)
        guard let r = text.range(of: old) else { return text }
        return text.replacingCharacters(in: r, with: new)
    }

    func testSignedDocumentHasTheProfileShapeAndVerifies() throws {
        let doc = try XMLDocument.parse(Data(sampleCase.utf8))
        try XMLSignature.sign(doc, key: ecKey, certificate: ecCert)
        let root = doc.root
        let last = try XCTUnwrap(XMLDocument.elementChildren(of: root).last)
        XCTAssertEqual(XMLDocument.localName(of: last), "Signature")
        XCTAssertEqual(String(cString: last.pointee.ns!.pointee.prefix!), "ds")
        XCTAssertNil(last.pointee.next, "Signature must be the very last node of the root")
        try XMLSignature.verify(doc, trusting: ecCert)

        let text = String(decoding: doc.serialized(), as: UTF8.self)
        for needle in ["<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                       "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>",
                       "<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
                       "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
                       "<ds:X509Certificate>\(ecCert.der.base64EncodedString())</ds:X509Certificate>"] {
            XCTAssertTrue(text.contains(needle), needle)
        }
        // ECDSA SignatureValue is raw r || s, 64 bytes, not DER.
        let sv = try XCTUnwrap(text.range(of: "<ds:SignatureValue>").map { text[$0.upperBound...] })
        let b64 = String(sv.prefix { $0 != "<" })
        XCTAssertEqual(Data(base64Encoded: b64)?.count, 64)
        // Round trip through bytes.
        XCTAssertNil(verifyError(text))
    }

    func testRSASignatureVerifiesAndIsNamedRSA() throws {
        let r = try opensslSelfSigned(in: dir, name: "rsa", rsa: true)
        let key = try Key.privateKey(path: r.keyPath), cert = try Certificate.load(path: r.certPath)
        let text = try signed(key: key, certificate: cert)
        XCTAssertTrue(text.contains("xmldsig-more#rsa-sha256"))
        XCTAssertNil(verifyError(text, trusting: cert))
        XCTAssertEqual(verifyError(replacing(text, "Rahimi", "Rahimj"), trusting: cert), .digestMismatch)
        // An RSA-signed document offered to the EC key configured for the sender.
        XCTAssertEqual(verifyError(text), .untrustedKeyInfo("KeyInfo carries \(cert.subjectLine), which is not trusted for this sender"))
        let noKeyInfo = try signed(key: key, certificate: .some(nil))
        XCTAssertEqual(verifyError(noKeyInfo), .algorithm(SignatureAlgorithm.rsaSHA256.xmlDSigURI))
    }

    func testChangingAnySignedCharacterFails() throws {
        let text = try signed()
        XCTAssertEqual(verifyError(replacing(text, "Ahmad", "Ahmed")), .digestMismatch)
        XCTAssertEqual(verifyError(replacing(text, "version=\"1\"", "version=\"2\"")), .digestMismatch)
        XCTAssertEqual(verifyError(replacing(text, "a &amp; b", "a &amp; c")), .digestMismatch)
        XCTAssertEqual(verifyError(replacing(text, "<Recipient>2021005489", "<Recipient> 2021005489")), .digestMismatch)
        // Whitespace in the signed content counts too (no pretty-printing after signing).
        XCTAssertEqual(verifyError(replacing(text, "  <Header>", "   <Header>")), .digestMismatch)
    }

    func testChangedSignedInfoOrSignatureValueFails() throws {
        let text = try signed()
        // Any change to SignedInfo that keeps the profile changes what the signature covers.
        let doc = try XMLDocument.parse(Data(text.utf8))
        let sig = XMLSignature.findSignatures(in: doc.root)[0]
        let digestValue = try XCTUnwrap(findElement(named: "DigestValue", under: sig))
        let original = XMLDocument.text(of: digestValue)
        var bytes = [UInt8](Data(base64Encoded: original)!)
        bytes[0] ^= 1
        let changedDigest = replacing(text, original, Data(bytes).base64EncodedString())
        XCTAssertEqual(verifyError(changedDigest), .digestMismatch)

        let value = try XCTUnwrap(findElement(named: "SignatureValue", under: sig))
        var sv = [UInt8](Data(base64Encoded: XMLDocument.text(of: value))!)
        sv[40] ^= 0x10
        XCTAssertEqual(verifyError(replacing(text, XMLDocument.text(of: value), Data(sv).base64EncodedString())),
                       .badSignatureValue)
        // The same bytes spelt with non-zero padding bits: one value, one spelling.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var chars = Array(XMLDocument.text(of: value))
        XCTAssertEqual(chars.suffix(2), ["=", "="])
        let last = alphabet.firstIndex(of: chars[chars.count - 3])!
        XCTAssertEqual(last & 0x0F, 0)
        chars[chars.count - 3] = alphabet[last | 0x01]
        XCTAssertEqual(Data(base64Encoded: String(chars)), Data(base64Encoded: XMLDocument.text(of: value)))
        XCTAssertEqual(verifyError(replacing(text, XMLDocument.text(of: value), String(chars))),
                       .malformed("SignatureValue is not canonical base64"))
        // A DER-encoded ECDSA value (what OpenSSL emits) is not the XML-DSig 1.1 format.
        let der = try XCTUnwrap(ECDSAEncoding.der(fromRaw: Data(base64Encoded: XMLDocument.text(of: value))!))
        XCTAssertEqual(verifyError(replacing(text, XMLDocument.text(of: value), der.base64EncodedString())),
                       .badSignatureValue)
    }

    func testMissingAndMultipleSignaturesAreRefused() throws {
        XCTAssertEqual(verifyError(sampleCase), .missingSignature)
        let text = try signed()
        let doc = try XMLDocument.parse(Data(text.utf8))
        XCTAssertThrowsError(try XMLSignature.sign(doc, key: ecKey, certificate: nil)) {
            XCTAssertEqual($0 as? SignatureError, .alreadySigned)
        }
        // A second signature deep inside the content, and one as a second last child.
        let sigText = String(text[text.range(of: "<ds:Signature")!.lowerBound..<text.range(of: "</ds:Signature>")!.upperBound])
        XCTAssertEqual(verifyError(replacing(text, "<Child>", "<Child>" + sigText)), .multipleSignatures(count: 2))
        XCTAssertEqual(verifyError(replacing(text, "</CaseMessage>", sigText + "</CaseMessage>")), .multipleSignatures(count: 2))
    }

    func testSignatureMustBeLastChildOfRoot() throws {
        let text = try signed()
        XCTAssertEqual(verifyError(replacing(text, "</CaseMessage>", "<Extra/></CaseMessage>")), .notLastChild(parent: "CaseMessage"))
        XCTAssertEqual(verifyError(replacing(text, "</CaseMessage>", "trailing text</CaseMessage>")), .notLastChild(parent: "CaseMessage"))
        // Moved inside the content: the digest would still be fine for a verifier that only
        // removes the signature, but the profile pins its place.
        let sigText = String(text[text.range(of: "<ds:Signature")!.lowerBound..<text.range(of: "</ds:Signature>")!.upperBound])
        let moved = replacing(replacing(text, sigText, ""), "</Child>", sigText + "</Child>")
        XCTAssertEqual(verifyError(moved), .notLastChild(parent: "Child"))
    }

    func testSignatureWrappingIsRefused() throws {
        let text = try signed()
        let sigText = String(text[text.range(of: "<ds:Signature")!.lowerBound..<text.range(of: "</ds:Signature>")!.upperBound])
        let body = String(text[text.range(of: "<Header>")!.lowerBound..<text.range(of: sigText)!.lowerBound])
        // 1. Original content wrapped in an extra element, forged content beside it, signature last.
        let forged = body.replacingOccurrences(of: "Rahimi", with: "Forged")
        let wrapped = replacing(text, body, "<Wrapper>" + body + "</Wrapper>" + forged)
        XCTAssertEqual(verifyError(wrapped), .digestMismatch)
        // 2. A whole second CaseMessage-like subtree appended before the signature.
        let duplicated = replacing(text, sigText, "<CaseMessage>" + forged + "</CaseMessage>" + sigText)
        XCTAssertEqual(verifyError(duplicated), .digestMismatch)
        // 3. The signed document nested inside a new root, signature still last in the inner root.
        let inner = String(text[text.range(of: "<CaseMessage")!.lowerBound...])
        let nested = "<?xml version=\"1.0\"?>\n<Envelope xmlns=\"urn:stafett:case:1\">" + inner + "</Envelope>"
        XCTAssertEqual(verifyError(nested), .notLastChild(parent: "CaseMessage"))
    }

    func testReferenceMustBeTheWholeDocument() throws {
        let text = try signed()
        XCTAssertEqual(verifyError(replacing(text, "URI=\"\"", "URI=\"#content\"")), .referenceURI("\"#content\""))
        XCTAssertEqual(verifyError(replacing(text, " URI=\"\"", "")), .referenceURI("(absent)"))
        let reference = String(text[text.range(of: "<ds:Reference")!.lowerBound..<text.range(of: "</ds:Reference>")!.upperBound])
        XCTAssertEqual(verifyError(replacing(text, reference, reference + reference)), .referenceCount(2))
    }

    func testTransformsMustBeExactlyEnvelopedThenExcC14N() throws {
        let text = try signed()
        let env = "<ds:Transform Algorithm=\"\(XMLSignature.envelopedSignature)\"/>"
        let exc = "<ds:Transform Algorithm=\"\(XMLSignature.exclusiveC14N)\"/>"
        let e = XMLSignature.envelopedSignature, c = XMLSignature.exclusiveC14N
        XCTAssertEqual(verifyError(replacing(text, env + exc, exc + env)), .transforms([c, e]))
        XCTAssertEqual(verifyError(replacing(text, env + exc, env)), .transforms([e]))
        XCTAssertEqual(verifyError(replacing(text, env + exc, exc)), .transforms([c]))
        XCTAssertEqual(verifyError(replacing(text, env + exc, env + exc + exc)), .transforms([e, c, c]))
        let xpath = "http://www.w3.org/TR/1999/REC-xpath-19991116"
        XCTAssertEqual(verifyError(replacing(text, env + exc, env + "<ds:Transform Algorithm=\"\(xpath)\"/>" + exc)),
                       .transforms([e, xpath, c]))
        XCTAssertEqual(verifyError(replacing(text, "<ds:Transforms>" + env + exc + "</ds:Transforms>", "")), .transforms([]))
        // exc-c14n with an InclusiveNamespaces PrefixList changes what is signed: refused.
        let withPrefixes = "<ds:Transform Algorithm=\"\(c)\"><ec:InclusiveNamespaces xmlns:ec=\"\(c)\" PrefixList=\"x\"/></ds:Transform>"
        XCTAssertEqual(verifyError(replacing(text, exc + "</ds:Transforms>", withPrefixes + "</ds:Transforms>")),
                       .algorithm("\(c) with parameters"))
    }

    func testOtherAlgorithmsAreRefused() throws {
        let text = try signed()
        let inclusive = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
        XCTAssertEqual(verifyError(replacing(text, "<ds:CanonicalizationMethod Algorithm=\"\(XMLSignature.exclusiveC14N)\"",
                                             "<ds:CanonicalizationMethod Algorithm=\"\(inclusive)\"")), .algorithm(inclusive))
        let sha1 = "http://www.w3.org/2000/09/xmldsig#sha1"
        XCTAssertEqual(verifyError(replacing(text, XMLSignature.sha256, sha1)), .algorithm(sha1))
        let ecdsaSHA1 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
        XCTAssertEqual(verifyError(replacing(text, SignatureAlgorithm.ecdsaP256SHA256.xmlDSigURI, ecdsaSHA1)), .algorithm(ecdsaSHA1))
        let hmac = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
        XCTAssertEqual(verifyError(replacing(text, SignatureAlgorithm.ecdsaP256SHA256.xmlDSigURI, hmac)), .algorithm(hmac))
        // Claiming RSA over an ECDSA key configured for the sender.
        let rsa = SignatureAlgorithm.rsaSHA256.xmlDSigURI
        XCTAssertEqual(verifyError(replacing(text, SignatureAlgorithm.ecdsaP256SHA256.xmlDSigURI, rsa)), .algorithm(rsa))
    }

    func testKeyInfoIsNeverTrusted() throws {
        // Signed by someone else with their own certificate in KeyInfo: refused before any crypto.
        let forged = try signed(key: otherKey, certificate: otherCert)
        XCTAssertEqual(verifyError(forged), .untrustedKeyInfo("KeyInfo carries CN=someone else, which is not trusted for this sender"))
        // Signed by someone else but claiming the sender's certificate in KeyInfo: the signature fails.
        let claiming = replacing(forged, otherCert.der.base64EncodedString(), ecCert.der.base64EncodedString())
        XCTAssertEqual(verifyError(claiming), .badSignatureValue)
        // Signed by the sender, KeyInfo swapped for another certificate: refused although the signature is good.
        let genuine = try signed()
        let swapped = replacing(genuine, ecCert.der.base64EncodedString(), otherCert.der.base64EncodedString())
        XCTAssertEqual(verifyError(swapped), .untrustedKeyInfo("KeyInfo carries CN=someone else, which is not trusted for this sender"))
        // Without KeyInfo, the configured key decides alone.
        let bare = try signed(key: otherKey, certificate: .some(nil))
        XCTAssertFalse(bare.contains("KeyInfo"))
        XCTAssertNil(verifyError(bare, trusting: otherCert))
        XCTAssertEqual(verifyError(bare), .badSignatureValue)
        // KeyValue or other key material in KeyInfo is outside the profile.
        let keyValue = replacing(genuine, "<ds:X509Data>", "<ds:KeyValue/><ds:X509Data>")
        XCTAssertEqual(verifyError(keyValue), .untrustedKeyInfo("KeyInfo may hold only X509Data, found KeyValue"))
    }

    func testVerifyWithBareKeyAndWithRotatedCertificates() throws {
        let text = try signed()
        let doc = try XMLDocument.parse(Data(text.utf8))
        try XMLSignature.verify(doc, key: try ecCert.publicKey())
        XCTAssertThrowsError(try XMLSignature.verify(doc, key: try otherCert.publicKey())) {
            XCTAssertEqual($0 as? SignatureError, .untrustedKeyInfo("KeyInfo carries a certificate for another key"))
        }
        let used = try XMLSignature.verify(doc, trustingAnyOf: [otherCert, ecCert])
        XCTAssertEqual(used.der, ecCert.der)
        let bare = try XMLDocument.parse(Data(try signed(certificate: .some(nil)).utf8))
        XCTAssertEqual(try XMLSignature.verify(bare, trustingAnyOf: [otherCert, ecCert]).der, ecCert.der)
    }

    func testForeignMarkupInsideSignatureIsRefused() throws {
        let text = try signed()
        XCTAssertEqual(verifyError(replacing(text, "<ds:SignatureValue>", "<!-- hi --><ds:SignatureValue>")),
                       .malformed("Signature holds text, a comment or a processing instruction"))
        XCTAssertEqual(verifyError(replacing(text, "</ds:Signature>", "<ds:Object>x</ds:Object></ds:Signature>")),
                       .malformed("Signature must hold SignedInfo, SignatureValue and optionally KeyInfo, found SignedInfo, SignatureValue, KeyInfo, Object"))
        XCTAssertEqual(verifyError(replacing(text, "<ds:Reference URI=\"\"", "<ds:Reference Type=\"x\" URI=\"\"")),
                       .malformed("unexpected attribute Type on Reference"))
    }

    func testSignerRefusesAMismatchedCertificate() throws {
        XCTAssertThrowsError(try XMLSignature.Signer(key: otherKey, certificate: ecCert)) {
            XCTAssertEqual($0 as? SignatureError,
                           .crypto(.signingFailed("certificate \(ecCert.subjectLine) does not certify the signing key")))
        }
        XCTAssertThrowsError(try XMLSignature.Signer(key: try ecCert.publicKey())) {
            XCTAssertEqual($0 as? SignatureError, .crypto(.signingFailed("the key has no private part")))
        }
    }

    func testSigningLeavesNothingBehindOnFailureAndIsStable() throws {
        // Signing the same document twice with ECDSA gives different values (random k) that both verify.
        let a = try signed(), b = try signed()
        XCTAssertNotEqual(a, b)
        XCTAssertNil(verifyError(a)); XCTAssertNil(verifyError(b))
        // A public-only key cannot sign; the document stays unsigned.
        let doc = try XMLDocument.parse(Data(sampleCase.utf8))
        XCTAssertThrowsError(try XMLSignature.sign(doc, key: try ecCert.publicKey(), certificate: nil))
        XCTAssertTrue(XMLSignature.findSignatures(in: doc.root).isEmpty)
    }

    /// Every single-byte change of a signed document is refused (as not well-formed, or by the
    /// verifier), and none crashes: the bytes of the signature itself included.
    func testEveryByteChangeIsRefused() throws {
        let signed = Data(try signed().utf8)
        var accepted: [Int] = []
        for i in 0..<signed.count where signed[i] != UInt8(ascii: "X") {
            var mutated = signed
            mutated[i] = UInt8(ascii: "X")
            if (try? XMLSignature.verify(xml: mutated, trusting: ecCert)) != nil { accepted.append(i) }
        }
        // The one exception is by design of exclusive C14N: a namespace declaration that nothing
        // uses is not part of the signed content, so its prefix and URI may change (the sample declares one).
        let text = String(decoding: signed, as: UTF8.self)
        let unused = text.utf8.distance(from: text.startIndex, to: text.range(of: "xmlns:x=\"urn:example:unused\"")!.lowerBound)
        XCTAssertFalse(accepted.isEmpty)
        XCTAssertTrue(accepted.allSatisfy { $0 >= unused && $0 < unused + "xmlns:x=\"urn:example:unused\"".utf8.count },
                      "mutations at these offsets verified: \(accepted), unused namespace at \(unused)")
        XCTAssertThrowsError(try XMLSignature.verify(XMLDocument.parse(signed), trustingAnyOf: [])) {
            XCTAssertEqual($0 as? SignatureError, .untrustedKeyInfo("no certificate is configured for this sender"))
        }
    }

    func testSignedContentDigestIsTheDigestValueAndSurvivesReserialization() throws {
        let unsigned = try XMLDocument.parse(Data(sampleCase.utf8))
        let before = try XMLSignature.signedContentDigest(unsigned)
        let text = try signed()
        let doc = try XMLDocument.parse(Data(text.utf8))
        let after = try XMLSignature.signedContentDigest(doc)
        XCTAssertEqual(before, after)
        let fresh = try XMLDocument.parse(Data(sampleCase.utf8))
        XCTAssertEqual(try XMLSignature.sign(fresh, key: ecKey, certificate: ecCert), after)
        XCTAssertTrue(text.contains("<ds:DigestValue>\(after.base64EncodedString())</ds:DigestValue>"))
        // Another ECDSA signature (another k) over the same content: same digest.
        XCTAssertEqual(try XMLSignature.signedContentDigest(XMLDocument.parse(Data(try signed().utf8))), after)
        // Single quotes and an attribute order libxml2 keeps as written: C14N normalizes the quotes.
        let requoted = text.replacingOccurrences(of: "version=\"1\"", with: "version='1'")
        XCTAssertNotEqual(requoted, text)
        XCTAssertEqual(try XMLSignature.signedContentDigest(XMLDocument.parse(Data(requoted.utf8))), after)
        XCTAssertNil(verifyError(requoted))
    }

    func testBatchSigningMatchesSingleSigning() throws {
        let signer = try XMLSignature.Signer(key: ecKey, certificate: ecCert)
        let texts = (0..<5).map { sampleCase.replacingOccurrences(of: "Ahmad", with: "Ahmad\($0)") }
        let docs = try texts.map { try XMLDocument.parse(Data($0.utf8)) }
        let digests = try signer.sign(docs)
        for (i, doc) in docs.enumerated() {
            try XMLSignature.verify(doc, trusting: ecCert)
            XCTAssertEqual(digests[i], try XMLSignature.signedContentDigest(doc))
            XCTAssertEqual(digests[i], try XMLSignature.signedContentDigest(XMLDocument.parse(Data(texts[i].utf8))))
        }
        // One already signed document refuses the batch before anything changes.
        let fresh = try XMLDocument.parse(Data(sampleCase.utf8))
        XCTAssertThrowsError(try signer.sign([fresh, docs[0]])) { XCTAssertEqual($0 as? SignatureError, .alreadySigned) }
        XCTAssertTrue(XMLSignature.findSignatures(in: fresh.root).isEmpty)
        XCTAssertEqual(try signer.sign([]), [])
    }

    func testOneSignerSignsConcurrently() throws {
        let signer = try XMLSignature.Signer(key: ecKey, certificate: ecCert)
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var items = [Data](repeating: Data(), count: 64)
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let text = sampleCase.replacingOccurrences(of: "Ahmad", with: "Ahmad\(i)")
            let signed = (try? signer.sign(xml: Data(text.utf8))) ?? Data()
            results.lock.withLock { results.items[i] = signed }
        }
        for (i, data) in results.items.enumerated() {
            let doc = try XMLSignature.verify(xml: data, trusting: ecCert)
            XCTAssertTrue(String(decoding: doc.serialized(), as: UTF8.self).contains("Ahmad\(i)<"))
        }
    }

    private func findElement(named name: String, under node: xmlNodePtr) -> xmlNodePtr? {
        for c in XMLDocument.elementChildren(of: node) {
            if XMLDocument.localName(of: c) == name { return c }
            if let found = findElement(named: name, under: c) { return found }
        }
        return nil
    }
}
