import Foundation
import XCTest
@testable import StafettCLI
import StafettTestSupport

/// Runs `stafett` commands in-process with captured output, in a temporary directory.
final class CLIRun {
    let dir: URL
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Runs one command; returns exit code, stdout and stderr.
    func run(_ argv: [String]) throws -> (code: Int32, out: String, err: String) {
        let outURL = dir.appendingPathComponent(".out-\(UUID())"), errURL = dir.appendingPathComponent(".err-\(UUID())")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let code = StafettTool.main(argv, console: Console(out: out, err: err))
        try out.close(); try err.close()
        return (code, try String(contentsOf: outURL, encoding: .utf8), try String(contentsOf: errURL, encoding: .utf8))
    }

    /// Runs an external tool; returns its exit status and combined output.
    @discardableResult
    func tool(_ exe: String, _ args: [String]) throws -> (Int32, String) {
        let r = try runTool(exe, args, in: dir)
        return (r.status, r.output)
    }

    /// A self-signed certificate and key made by the openssl CLI.
    func makeCertificate(name: String, rsa: Bool = false, orgnr: String = "2120001165") throws {
        let keyArgs = rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        let (status, output) = try tool("/usr/bin/openssl", ["req", "-x509"] + keyArgs + ["-nodes", "-keyout", name + ".key",
            "-out", name + ".crt", "-days", "2", "-subj", "/C=SE/O=\(name)/organizationIdentifier=NTRSE-\(orgnr)/CN=\(name)"])
        XCTAssertEqual(status, 0, output)
    }
}

/// The repository's Schemas/examples directory.
let examplesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Schemas/examples")
