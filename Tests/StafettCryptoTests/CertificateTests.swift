import XCTest
import StafettModel
@testable import StafettCrypto

final class CertificateTests: XCTestCase {
    /// A real certificate made by the openssl CLI, with the organisation number in organizationIdentifier.
    func testOrganisationNumberFingerprintAndKeyFromOpenSSLCertificate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-cert-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("k.pem").path, cert = dir.appendingPathComponent("c.pem").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", key, "-out", cert, "-days", "2",
                       "-subj", "/C=SE/O=Migrationsverket/organizationIdentifier=NTRSE-2021005489/CN=node1"]
        p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)

        let c = try Certificate.load(path: cert)
        XCTAssertEqual(c.organisationNumber, try OrganisationNumber("202100-5489"))
        XCTAssertEqual(c.organisationName, "Migrationsverket")
        XCTAssertEqual(c.commonName, "node1")
        XCTAssertEqual(c.sha256Fingerprint.count, 64)
        XCTAssertTrue(c.notAfter > Date() && c.notBefore <= Date().addingTimeInterval(60))
        XCTAssertEqual(try Certificate.first(pem: Data(c.pem.utf8)).der, c.der)

        let priv = try Key.privateKey(path: key)
        XCTAssertEqual(priv.algorithm, .ecdsaP256SHA256)
        let sig = try priv.sign(Data("hej".utf8))
        XCTAssertTrue(try c.publicKey().verify(signature: sig, over: Data("hej".utf8)))
        XCTAssertFalse(try c.publicKey().verify(signature: sig, over: Data("hej!".utf8)))
    }
}
