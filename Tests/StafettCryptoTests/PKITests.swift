import COpenSSL
import Foundation
import StafettModel
import StafettTestSupport
import XCTest
@testable import StafettCrypto

/// Key generation, the test/demo CA, and certificate checks, cross-checked with the openssl CLI.
final class PKITests: XCTestCase {
    var dir: TempDir!
    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() { dir.remove() }

    let trelleborg = try! NodeIdentity(organisationName: "Trelleborgs kommun",
                                       organisationNumber: OrganisationNumber("2120001165"), host: "stafett.trelleborg.se")

    func testGeneratedKeysSignAndRoundTripThroughPEM() throws {
        for spec in [KeySpecification.ecdsaP256SHA256, .rsaSHA256(bits: 2048)] {
            let key = try Key.generate(spec)
            XCTAssertEqual(key.algorithm, spec == .ecdsaP256SHA256 ? .ecdsaP256SHA256 : .rsaSHA256)
            XCTAssertTrue(key.hasPrivateKey)
            XCTAssertTrue(key.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
            XCTAssertTrue(key.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))

            let reloaded = try Key.privateKey(pem: Data(key.privateKeyPEM.utf8))
            let pub = try Key.publicKey(pem: Data(key.publicKeyPEM.utf8))
            XCTAssertFalse(pub.hasPrivateKey)
            XCTAssertTrue(pub.hasSamePublicKey(as: key))
            XCTAssertTrue(reloaded.hasSamePublicKey(as: key))
            XCTAssertFalse(pub.hasSamePublicKey(as: try Key.generate(spec)))
            let sig = try reloaded.sign(Data("placerad i jourhem".utf8))
            XCTAssertTrue(pub.verify(signature: sig, over: Data("placerad i jourhem".utf8)))
            XCTAssertFalse(pub.verify(signature: sig, over: Data("placerad i familjehem".utf8)))

            // The openssl CLI verifies what Key.sign makes (DER ECDSA, PKCS#1 v1.5 RSA, SHA-256).
            let msg = try dir.write("msg", Data("placerad i jourhem".utf8))
            let sigPath = try dir.write("msg.sig", sig)
            try PEMFile.write(key.publicKeyPEM, to: dir.path("pub.pem"))
            let v = try runTool("/usr/bin/openssl", ["dgst", "-sha256", "-verify", dir.path("pub.pem"), "-signature", sigPath, msg])
            XCTAssertEqual(v.status, 0, v.output)
            // ...and Key.verify accepts what the openssl CLI signs.
            try PEMFile.write(key.privateKeyPEM, to: dir.path("priv.pem"))
            let cliSig = dir.path("cli.sig")
            XCTAssertEqual(try runTool("/usr/bin/openssl", ["dgst", "-sha256", "-sign", dir.path("priv.pem"), "-out", cliSig, msg]).status, 0)
            XCTAssertTrue(pub.verify(signature: try Data(contentsOf: URL(fileURLWithPath: cliSig)), over: Data("placerad i jourhem".utf8)))

            // The openssl CLI reads what we write.
            let path = dir.path("k.pem")
            try PEMFile.write(key.privateKeyPEM, to: path)
            let r = try runTool("/usr/bin/openssl", ["pkey", "-in", path, "-noout", "-text"])
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertTrue(r.output.contains(spec == .ecdsaP256SHA256 ? "prime256v1" : "2048 bit"), r.output)
        }
        XCTAssertThrowsError(try Key.generate(.rsaSHA256(bits: 1024))) {
            XCTAssertEqual($0 as? CryptoError, .unsupportedKey("RSA keys must have 2048 to 16384 bits, not 1024"))
        }
    }

    func testPEMFileIsWrittenAtomicallyWith0600() throws {
        let path = dir.path("node-key.pem")
        try PEMFile.write("first\n", to: path)
        try PEMFile.write("second\n", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second\n")
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.url.path), ["node-key.pem"])
        // Many writers of one file at once: each rename is whole, no temporary file is left behind.
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            try? PEMFile.write(String(repeating: "\(i % 10)", count: 4096) + "\n", to: path)
        }
        let final = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(final.count, 4097)
        XCTAssertEqual(Set(final.dropLast()).count, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.url.path), ["node-key.pem"])
        XCTAssertThrowsError(try PEMFile.write("x", to: dir.path("missing/dir/k.pem"))) {
            guard case .fileWrite = $0 as? CryptoError else { return XCTFail("\($0)") }
        }
    }

    func testCAIssuesNodeCertificatesThatOpenSSLAccepts() throws {
        let ca = try CertificateAuthority.create(commonName: "Stafett demo CA", organisationName: "Stafett demo")
        XCTAssertEqual(ca.certificate.commonName, "Stafett demo CA")
        XCTAssertEqual(X509_check_ca(ca.certificate.pointer), 1)
        let node = try ca.issueNode(trelleborg)
        let cert = node.certificate

        XCTAssertEqual(cert.organisationNumber, try OrganisationNumber("212000-1165"))
        XCTAssertEqual(cert.organisationName, "Trelleborgs kommun")
        XCTAssertEqual(cert.commonName, "stafett.trelleborg.se")
        XCTAssertEqual(cert.subjectAttribute(nid: NID_countryName), "SE")
        XCTAssertTrue(try cert.publicKey().hasSamePublicKey(as: node.key))
        XCTAssertEqual(X509_check_ca(cert.pointer), 0)
        XCTAssertNotEqual(X509_get_key_usage(cert.pointer) & UInt32(KU_DIGITAL_SIGNATURE), 0)
        XCTAssertEqual(X509_get_extended_key_usage(cert.pointer) & UInt32(XKU_SSL_SERVER | XKU_SSL_CLIENT),
                       UInt32(XKU_SSL_SERVER | XKU_SSL_CLIENT))
        for host in ["stafett.trelleborg.se", "localhost", "127.0.0.1"] { XCTAssertTrue(cert.matches(host: host), host) }
        for host in ["malmo.se", "127.0.0.2", "::1"] { XCTAssertFalse(cert.matches(host: host), host) }
        XCTAssertNoThrow(try cert.verify(issuedBy: ca.certificate))
        XCTAssertTrue(cert.isValid())

        // UTF-8 organisation names survive.
        let malmo = try ca.issueNode(NodeIdentity(organisationName: "Malmö stad",
                                                  organisationNumber: OrganisationNumber("2120001124"), host: "127.0.0.1"))
        XCTAssertEqual(malmo.certificate.organisationName, "Malmö stad")
        XCTAssertTrue(malmo.certificate.matches(host: "127.0.0.1"))

        // The openssl CLI agrees: chain, purposes, subject.
        let caPath = dir.path("ca.pem"), certPath = dir.path("node.pem"), keyPath = dir.path("node-key.pem")
        try ca.certificate.write(to: caPath)
        try cert.write(to: certPath)
        try node.key.writePrivateKey(to: keyPath)
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertTrue(try Key.privateKey(path: keyPath).hasSamePublicKey(as: node.key))
        XCTAssertThrowsError(try cert.publicKey().writePrivateKey(to: dir.path("public-only.pem")))
        for purpose in ["sslserver", "sslclient"] {
            let r = try runTool("/usr/bin/openssl", ["verify", "-CAfile", caPath, "-purpose", purpose, certPath])
            XCTAssertEqual(r.status, 0, r.output)
        }
        let subject = try runTool("/usr/bin/openssl", ["x509", "-in", certPath, "-noout", "-subject", "-nameopt", "RFC2253"])
        XCTAssertTrue(subject.output.contains("organizationIdentifier=NTRSE-2120001165"), subject.output)
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: certPath)[.posixPermissions] as? NSNumber)?.intValue, 0o644)
        let check = try runTool("/usr/bin/openssl", ["x509", "-in", certPath, "-noout", "-checkhost", "localhost", "-checkip", "127.0.0.1"])
        XCTAssertFalse(check.output.contains("NOT"), check.output)

        // And the written CA loads back.
        let caKeyPath = dir.path("ca-key.pem")
        try ca.write(keyPath: caKeyPath, certificatePath: caPath)
        let loaded = try CertificateAuthority.load(keyPath: caKeyPath, certificatePath: caPath)
        XCTAssertNoThrow(try loaded.issue(for: trelleborg, publicKey: node.key).verify(issuedBy: ca.certificate))
    }

    func testValidityWindowIsTheCallersAndIsChecked() throws {
        let ca = try CertificateAuthority.create(key: .rsaSHA256(bits: 2048))
        let now = Date()
        let expired = try ca.issueNode(trelleborg, notBefore: now.addingTimeInterval(-86400 * 10),
                                       notAfter: now.addingTimeInterval(-86400)).certificate
        let future = try ca.issueNode(trelleborg, notBefore: now.addingTimeInterval(86400),
                                      notAfter: now.addingTimeInterval(86400 * 10)).certificate
        XCTAssertFalse(expired.isValid(at: now))
        XCTAssertTrue(expired.isValid(at: now.addingTimeInterval(-86400 * 2)))
        XCTAssertFalse(future.isValid(at: now))
        let soon = try ca.issueNode(trelleborg, notBefore: now.addingTimeInterval(-86400),
                                    notAfter: now.addingTimeInterval(86400 * 20)).certificate
        XCTAssertTrue(soon.expires(within: 30 * 86400, of: now))
        XCTAssertFalse(soon.expires(within: 10 * 86400, of: now))
        XCTAssertTrue(expired.expires(within: 0, of: now))
        XCTAssertThrowsError(try expired.verify(issuedBy: ca.certificate, at: now)) {
            XCTAssertEqual($0 as? CertificateError, .expired(subject: expired.subjectLine, notAfter: expired.notAfter))
        }
        XCTAssertThrowsError(try future.verify(issuedBy: ca.certificate, at: now)) {
            XCTAssertEqual($0 as? CertificateError, .notYetValid(subject: future.subjectLine, notBefore: future.notBefore))
        }
        XCTAssertNoThrow(try future.verify(issuedBy: ca.certificate, at: now.addingTimeInterval(86400 * 2)))
        // Seconds survive the round trip through ASN1_TIME.
        let nb = Date(timeIntervalSince1970: 1_444_809_120)
        let fixed = try ca.issueNode(trelleborg, notBefore: nb, notAfter: nb.addingTimeInterval(3600)).certificate
        XCTAssertEqual(fixed.notBefore, nb)
        XCTAssertThrowsError(try ca.issueNode(trelleborg, notBefore: now, notAfter: now.addingTimeInterval(-1)))
    }

    func testIssuerAndSignatureAreChecked() throws {
        let ca = try CertificateAuthority.create(commonName: "Stafett CA")
        // Another CA with the very same name: the key identifiers tell them apart.
        let impostor = try CertificateAuthority.create(commonName: "Stafett CA")
        let cert = try ca.issueNode(trelleborg).certificate
        XCTAssertThrowsError(try cert.verify(issuedBy: impostor.certificate)) {
            XCTAssertEqual($0 as? CertificateError, .issuerMismatch(subject: cert.subjectLine, issuer: impostor.certificate.subjectLine))
        }
        // A node certificate is no CA.
        let other = try ca.issueNode(trelleborg).certificate
        XCTAssertThrowsError(try cert.verify(issuedBy: other))
        // A changed bit in the signature.
        var der = [UInt8](cert.der)
        der[der.count - 2] ^= 0x01
        let tampered = try Certificate.fromDER(Data(der))
        XCTAssertThrowsError(try tampered.verify(issuedBy: ca.certificate)) {
            XCTAssertEqual($0 as? CertificateError, .badSignature(subject: tampered.subjectLine))
        }
    }

    func testUnsafeNamesAndMismatchedCAKeysAreRefused() throws {
        let ca = try CertificateAuthority.create()
        var evil = trelleborg
        evil.host = "a.se,DNS:evil.example"
        XCTAssertThrowsError(try ca.issueNode(evil)) {
            XCTAssertEqual($0 as? CryptoError, .issuance("not a host name or IP address: a.se,DNS:evil.example"))
        }
        var empty = trelleborg
        empty.organisationName = ""
        XCTAssertThrowsError(try ca.issueNode(empty))
        XCTAssertThrowsError(try CertificateAuthority(key: try Key.generate(), certificate: ca.certificate)) {
            guard case .issuance = $0 as? CryptoError else { return XCTFail("\($0)") }
        }
    }

    func testCertificateFromOpenSSLCLIReadsTheSameWay() throws {
        // A CA and node made entirely by the openssl CLI: our checks agree with it.
        let caKey = dir.path("ca-key.pem"), caCert = dir.path("ca.pem")
        XCTAssertEqual(try runTool("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey,
                                                         "-out", caCert, "-days", "3", "-subj", "/CN=cli CA"]).status, 0)
        let nodeKey = dir.path("n-key.pem"), csr = dir.path("n.csr"), nodeCert = dir.path("n.pem")
        XCTAssertEqual(try runTool("/usr/bin/openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                         "-keyout", nodeKey, "-out", csr, "-subj",
                                                         "/C=SE/O=Migrationsverket/organizationIdentifier=NTRSE-2021005489/CN=mv"]).status, 0)
        XCTAssertEqual(try runTool("/usr/bin/openssl", ["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey,
                                                         "-CAcreateserial", "-out", nodeCert, "-days", "2"]).status, 0)
        let ca = try Certificate.load(path: caCert), node = try Certificate.load(path: nodeCert)
        XCTAssertNoThrow(try node.verify(issuedBy: ca))
        XCTAssertEqual(node.organisationNumber, try OrganisationNumber("2021005489"))
        XCTAssertThrowsError(try node.verify(issuedBy: ca, at: Date().addingTimeInterval(86400 * 5)))
        XCTAssertNoThrow(try CertificateAuthority.load(keyPath: caKey, certificatePath: caCert))
    }
}
