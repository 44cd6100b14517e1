import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import StafettCLI

/// What scripts/install.sh and the Makefile do for the operator commands: the follow-up rules
/// reach /etc/stafett, `--help` is the comment, and `make install` does not build.
final class InstallScriptTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testStagedInstallCarriesTheRulesFileAndNoSecret() throws {
        let cli = try CLIRun()
        let bin = cli.path("bin"), root = cli.path("root")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for b in ["stafett", "stafettd"] {
            try "#!/bin/sh\n".write(toFile: bin + "/" + b, atomically: true, encoding: .utf8)
            chmod(bin + "/" + b, 0o755)
        }
        let script = Self.repo.appendingPathComponent("scripts/install.sh").path
        var (rc, out) = try cli.tool("/bin/sh", [script, "--bin-dir", bin, "--destdir", root, "--prefix", "/opt/stafett"])
        XCTAssertEqual(rc, 0, out)
        let rules = root + "/etc/stafett/followup.rules"
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: rules)),
                       try Data(contentsOf: Self.repo.appendingPathComponent("Config/followup.rules")))
        var st = stat()
        XCTAssertEqual(stat(rules, &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o640)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/etc/stafett/journal.secret"),
                       "a staged install (a package) must not give every node the same secret")
        XCTAssertTrue(out.contains("create it on each node"), out)
        // An operator's rules survive the next install.
        try "[rule mine]\n".write(toFile: rules, atomically: true, encoding: .utf8)
        (rc, out) = try cli.tool("/bin/sh", [script, "--bin-dir", bin, "--destdir", root, "--prefix", "/opt/stafett"])
        XCTAssertEqual(rc, 0, out)
        XCTAssertTrue(out.contains("keeping existing \(rules)"), out)
        XCTAssertEqual(try String(contentsOfFile: rules, encoding: .utf8), "[rule mine]\n")
        // The rules path the installer uses is the one followup reads and names.
        XCTAssertTrue(try cli.run(["followup", "--help"]).out.contains("/etc/stafett/followup.rules"))
    }

    func testHelpIsTheCommentOnly() throws {
        let cli = try CLIRun()
        let (rc, out) = try cli.tool("/bin/sh", [Self.repo.appendingPathComponent("scripts/install.sh").path, "--help"])
        XCTAssertEqual(rc, 0, out)
        XCTAssertTrue(out.hasPrefix("Installs Stafett"), out)
        XCTAssertTrue(out.contains("-h, --help"), out)
        XCTAssertFalse(out.contains("set -eu") || out.contains("PREFIX=") || out.contains("#"), out)
    }

    /// `sudo make install` must not build: root would own .build, and sudo's PATH has no swift.
    func testMakeInstallDoesNotBuild() throws {
        let cli = try CLIRun()
        let make = ["/usr/bin/make", "/bin/make"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipUnless(make != nil, "make is not installed")
        let (rc, out) = try cli.tool(make!, ["-n", "-C", Self.repo.path, "install", "SWIFT=false-swift", "DESTDIR=/nonexistent"])
        XCTAssertEqual(rc, 0, out)
        XCTAssertTrue(out.contains("scripts/install.sh --no-build"), out)
        XCTAssertFalse(out.contains("false-swift"), "install runs no swift: \(out)")
    }
}
