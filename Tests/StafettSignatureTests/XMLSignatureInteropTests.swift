import Foundation
import StafettCrypto
import StafettTestSupport
import StafettXML
import XCTest
@testable import StafettSignature

/// Standard tools must agree with Stafett: Debian's xmlsec1 (1.2.37, OpenSSL engine) verifies what
/// we sign, and we verify what it signs from a template in the same profile.
final class XMLSignatureInteropTests: XCTestCase {
    static let xmlsec = "/usr/bin/xmlsec1"

    var dir: TempDir!

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.xmlsec) else {
            throw XCTSkip("\(Self.xmlsec) is not installed (Debian package xmlsec1)")
        }
        dir = try TempDir()
    }

    override func tearDown() { dir?.remove() }

    /// How an operator checks a Stafett signature with xmlsec1, trusting only the sender's certificate:
    ///
    ///     xmlsec1 --verify --pubkey-cert-pem signer.pem --enabled-key-data key-name \
    ///             --enabled-reference-uris empty signed.xml
    ///
    /// `--pubkey-cert-pem` loads the one trusted key; `--enabled-key-data key-name` stops xmlsec1 from
    /// taking a key from the X509Data in KeyInfo (the same rule as Stafett's verifier);
    /// `--enabled-reference-uris empty` accepts only the whole-document reference.
    func xmlsecVerify(_ file: String, certificate: String) throws -> ToolResult {
        try runTool(Self.xmlsec, ["--verify", "--pubkey-cert-pem", certificate, "--enabled-key-data", "key-name",
                              "--enabled-reference-uris", "empty", file])
    }

    /// The template xmlsec1 fills in: the same profile, with an empty X509Data for the certificate.
    func template(_ algorithm: SignatureAlgorithm) -> String {
        let signature = """
        <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>\
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>\
        <ds:SignatureMethod Algorithm="\(algorithm.xmlDSigURI)"/>\
        <ds:Reference URI=""><ds:Transforms>\
        <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>\
        <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>\
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>\
        </ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>
        """
        return sampleCase.replacingOccurrences(of: "</CaseMessage>", with: signature + "</CaseMessage>")
    }

    func checkStafettSignsXmlsecVerifies(rsa: Bool) throws {
        let pair = try opensslSelfSigned(in: dir, name: rsa ? "rsa" : "ec", rsa: rsa)
        let key = try Key.privateKey(path: pair.keyPath), cert = try Certificate.load(path: pair.certPath)
        let signed = try XMLSignature.sign(xml: Data(sampleCase.utf8), key: key, certificate: cert)
        let file = try dir.write("signed.xml", signed)
        let ok = try xmlsecVerify(file, certificate: pair.certPath)
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.output.contains("OK"), ok.output)

        // One changed character of signed content: both refuse.
        let text = String(decoding: signed, as: UTF8.self)
        let tampered = Data(text.replacingOccurrences(of: "Malmö", with: "Malmo").utf8)
        let bad = try xmlsecVerify(try dir.write("tampered.xml", tampered), certificate: pair.certPath)
        XCTAssertNotEqual(bad.status, 0, bad.output)
        XCTAssertThrowsError(try XMLSignature.verify(xml: tampered, trusting: cert)) {
            XCTAssertEqual($0 as? SignatureError, .digestMismatch)
        }
        // Another certificate: xmlsec1 refuses too, so it really used only the key we gave it.
        let other = try opensslSelfSigned(in: dir, name: "other", rsa: rsa, subject: "/CN=other")
        let wrong = try xmlsecVerify(file, certificate: other.certPath)
        XCTAssertNotEqual(wrong.status, 0, wrong.output)
    }

    func checkXmlsecSignsStafettVerifies(rsa: Bool) throws {
        let pair = try opensslSelfSigned(in: dir, name: rsa ? "rsa" : "ec", rsa: rsa)
        let cert = try Certificate.load(path: pair.certPath)
        let tmpl = try dir.write("template.xml", Data(template(rsa ? .rsaSHA256 : .ecdsaP256SHA256).utf8))
        let out = dir.path("xmlsec-signed.xml")
        let r = try runTool(Self.xmlsec, ["--sign", "--privkey-pem", "\(pair.keyPath),\(pair.certPath)", "--output", out, tmpl])
        XCTAssertEqual(r.status, 0, r.output)
        let signed = try Data(contentsOf: URL(fileURLWithPath: out))
        // xmlsec1 wraps base64 lines and fills X509Data with the certificate: both must be accepted.
        XCTAssertTrue(String(decoding: signed, as: UTF8.self).contains("<ds:X509Certificate>"))
        let doc = try XMLSignature.verify(xml: signed, trusting: cert)
        XCTAssertEqual(XMLDocument.localName(of: doc.root), "CaseMessage")

        let tampered = Data(String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "Ahmad", with: "Ahmed").utf8)
        XCTAssertThrowsError(try XMLSignature.verify(xml: tampered, trusting: cert)) {
            XCTAssertEqual($0 as? SignatureError, .digestMismatch)
        }
        let bad = try xmlsecVerify(try dir.write("tampered.xml", tampered), certificate: pair.certPath)
        XCTAssertNotEqual(bad.status, 0, bad.output)
    }

    func testStafettSignsXmlsecVerifiesECDSA() throws { try checkStafettSignsXmlsecVerifies(rsa: false) }
    func testStafettSignsXmlsecVerifiesRSA() throws { try checkStafettSignsXmlsecVerifies(rsa: true) }
    func testXmlsecSignsStafettVerifiesECDSA() throws { try checkXmlsecSignsStafettVerifies(rsa: false) }
    func testXmlsecSignsStafettVerifiesRSA() throws { try checkXmlsecSignsStafettVerifies(rsa: true) }

    /// A document with namespace declarations on the root that SignedInfo does not use, and a
    /// default namespace: exclusive C14N of SignedInfo must leave them out exactly as xmlsec1 does.
    func testNamespaceHeavyDocumentAgreesBothWays() throws {
        let pair = try opensslSelfSigned(in: dir, name: "ns", rsa: false)
        let key = try Key.privateKey(path: pair.keyPath), cert = try Certificate.load(path: pair.certPath)
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <?stafett hint="pi before root"?>
        <a:Root xmlns:a="urn:a" xmlns:b="urn:b" xmlns="urn:default" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" b:attr="1" xml:lang="sv" xml:space="preserve">
          <b:Inner xml:lang="sv"><Leaf a:x="2">text &#xD; with CR</Leaf><!-- a comment, not signed --></b:Inner>
        </a:Root>
        """
        let signed = try XMLSignature.sign(xml: Data(xml.utf8), key: key, certificate: cert)
        let ok = try xmlsecVerify(try dir.write("ns.xml", signed), certificate: pair.certPath)
        XCTAssertEqual(ok.status, 0, ok.output)
        // Comments are outside what URI="" signs: changing one changes nothing.
        let text = String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "a comment", with: "a remark")
        XCTAssertNoThrow(try XMLSignature.verify(xml: Data(text.utf8), trusting: cert))
        let x = try xmlsecVerify(try dir.write("ns2.xml", Data(text.utf8)), certificate: pair.certPath)
        XCTAssertEqual(x.status, 0, x.output)
    }

    /// A pretty-printed template (whitespace inside SignedInfo, a prefix other than ds, an Id):
    /// still the profile, and the verifier canonicalizes what is there rather than assuming our layout.
    func testIndentedTemplateWithOtherPrefixVerifies() throws {
        let pair = try opensslSelfSigned(in: dir, name: "indent", rsa: false)
        let cert = try Certificate.load(path: pair.certPath)
        let signature = """
          <sig:Signature xmlns:sig="http://www.w3.org/2000/09/xmldsig#" Id="s1">
            <sig:SignedInfo>
              <sig:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
              <sig:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>
              <sig:Reference URI="">
                <sig:Transforms>
                  <sig:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
                  <sig:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
                </sig:Transforms>
                <sig:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
                <sig:DigestValue/>
              </sig:Reference>
            </sig:SignedInfo>
            <sig:SignatureValue/>
          </sig:Signature>

        """
        let tmpl = try dir.write("indented.xml", Data(sampleCase.replacingOccurrences(of: "</CaseMessage>", with: signature + "</CaseMessage>").utf8))
        let out = dir.path("indented-signed.xml")
        let r = try runTool(Self.xmlsec, ["--sign", "--privkey-pem", pair.keyPath, "--output", out, tmpl])
        XCTAssertEqual(r.status, 0, r.output)
        let signed = try Data(contentsOf: URL(fileURLWithPath: out))
        XCTAssertNoThrow(try XMLSignature.verify(xml: signed, trusting: cert))
        let text = String(decoding: signed, as: UTF8.self)
        // Whitespace inside SignedInfo is signed too.
        let changed = text.replacingOccurrences(of: "<sig:SignedInfo>\n", with: "<sig:SignedInfo> \n")
        XCTAssertNotEqual(changed, text)
        XCTAssertThrowsError(try XMLSignature.verify(xml: Data(changed.utf8), trusting: cert)) {
            XCTAssertEqual($0 as? SignatureError, .badSignatureValue)
        }
    }

    /// With a CA-issued node certificate, xmlsec1 can also check the certificate in KeyInfo against
    /// the CA (`--trusted-pem ca.pem`), which is how an auditor without the peer list would look.
    func testCAIssuedSignerVerifiesWithXmlsecTrustingTheCA() throws {
        let ca = try CertificateAuthority.create()
        let node = try ca.issueNode(NodeIdentity(organisationName: "Migrationsverket",
                                                 organisationNumber: .init("2021005489"), host: "localhost"))
        let caPath = dir.path("ca.pem"), certPath = dir.path("node.pem")
        try ca.certificate.write(to: caPath)
        try node.certificate.write(to: certPath)
        let signed = try XMLSignature.sign(xml: Data(sampleCase.utf8), key: node.key, certificate: node.certificate)
        let file = try dir.write("signed.xml", signed)
        let chain = try runTool(Self.xmlsec, ["--verify", "--trusted-pem", caPath, "--enabled-reference-uris", "empty", file])
        XCTAssertEqual(chain.status, 0, chain.output)
        XCTAssertEqual(try xmlsecVerify(file, certificate: certPath).status, 0)
        // Another CA's node: xmlsec1 refuses the KeyInfo certificate, and so does Stafett.
        let otherCA = try CertificateAuthority.create()
        let otherPath = dir.path("other-ca.pem")
        try otherCA.certificate.write(to: otherPath)
        let refused = try runTool(Self.xmlsec, ["--verify", "--trusted-pem", otherPath, "--enabled-reference-uris", "empty", file])
        XCTAssertNotEqual(refused.status, 0, refused.output)
    }
}
