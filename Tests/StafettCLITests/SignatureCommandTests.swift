import Foundation
import XCTest
@testable import StafettCLI

final class SignatureCommandTests: XCTestCase {
    func signAndVerify(rsa: Bool) throws {
        let cli = try CLIRun()
        try cli.makeCertificate(name: "kommun", rsa: rsa)
        try cli.makeCertificate(name: "other", rsa: rsa)
        let input = examplesDirectory.appendingPathComponent("registered.xml").path
        let s = try cli.run(["sign", "--key", cli.path("kommun.key"), "--cert", cli.path("kommun.crt"), input, "-o", cli.path("signed.xml")])
        XCTAssertEqual(s.code, 0, s.err)
        let v = try cli.run(["verify", "--cert", cli.path("kommun.crt"), cli.path("signed.xml")])
        XCTAssertEqual(v.code, 0, v.out + v.err)
        XCTAssertTrue(v.out.contains("signature OK"))
        // Debian's xmlsec1, given only the certificate, agrees.
        if FileManager.default.fileExists(atPath: "/usr/bin/xmlsec1") {
            let (status, out) = try cli.tool("/usr/bin/xmlsec1", ["--verify", "--pubkey-cert-pem", cli.path("kommun.crt"),
                                                                  "--enabled-key-data", "key-name", "--enabled-reference-uris", "empty",
                                                                  cli.path("signed.xml")])
            XCTAssertEqual(status, 0, out)
        }
        // Another organisation's certificate is not trusted, even though the document carries the signer's.
        let wrong = try cli.run(["verify", "--cert", cli.path("other.crt"), cli.path("signed.xml")])
        XCTAssertEqual(wrong.code, ExitCode.invalid)
        // One changed character of signed content.
        var text = try String(contentsOfFile: cli.path("signed.xml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "<GivenName>", with: "<GivenName>X")
        try text.write(toFile: cli.path("tampered.xml"), atomically: true, encoding: .utf8)
        let t = try cli.run(["verify", "--cert", cli.path("kommun.crt"), cli.path("tampered.xml")])
        XCTAssertEqual(t.code, ExitCode.invalid)
        XCTAssertTrue(t.out.contains("digest mismatch"), t.out)
    }

    func testSignVerifyECDSA() throws { try signAndVerify(rsa: false) }
    func testSignVerifyRSA() throws { try signAndVerify(rsa: true) }

    func testSignRefusesACertificateThatDoesNotMatchTheKey() throws {
        let cli = try CLIRun()
        try cli.makeCertificate(name: "a")
        try cli.makeCertificate(name: "b")
        let r = try cli.run(["sign", "--key", cli.path("a.key"), "--cert", cli.path("b.crt"),
                             examplesDirectory.appendingPathComponent("registered.xml").path])
        XCTAssertEqual(r.code, ExitCode.failure)
        XCTAssertTrue(r.err.contains("does not certify"), r.err)
    }

    func testUnknownCommandAndOptionSuggestions() throws {
        let cli = try CLIRun()
        XCTAssertTrue(try cli.run(["sing"]).err.contains("did you mean sign?"))
        XCTAssertTrue(try cli.run(["verify", "--crt", "x"]).err.contains("did you mean --cert?"))
        XCTAssertEqual(try cli.run(["verify", "--help"]).code, 0)
    }
}
