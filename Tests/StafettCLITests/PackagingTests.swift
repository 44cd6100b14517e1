import Foundation
import XCTest
@testable import StafettCLI

/// What `make deb` puts in the package besides the binaries: maintainer scripts that parse, man
/// pages that render without warnings, and a completion and a manual that know every command.
final class PackagingTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let packaging = repo.appendingPathComponent("packaging")

    func testMaintainerScriptsAndBuildScriptParse() throws {
        let cli = try CLIRun()
        for script in ["packaging/debian/postinst", "packaging/debian/prerm", "packaging/debian/postrm", "scripts/build-deb.sh"] {
            let (rc, out) = try cli.tool("/bin/sh", ["-n", Self.repo.appendingPathComponent(script).path])
            XCTAssertEqual(rc, 0, "\(script): \(out)")
        }
        let bash = ["/usr/bin/bash", "/bin/bash"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipUnless(bash != nil, "bash is not installed: the completion's syntax is not checked")
        let (rc, out) = try cli.tool(bash!, ["-n", Self.packaging.appendingPathComponent("bash-completion/stafett").path])
        XCTAssertEqual(rc, 0, out)
    }

    func testManPagesRenderWithoutWarnings() throws {
        let man = ["/usr/bin/man", "/bin/man"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipUnless(man != nil, "man is not installed: the man pages are not rendered")
        let cli = try CLIRun()
        for page in ["stafett.1", "stafettd.8", "stafett.conf.5"] {
            let path = Self.packaging.appendingPathComponent("man/" + page).path
            // Only the warnings reach the pipe; the page itself goes to a file.
            let (rc, warnings) = try cli.tool("/bin/sh", ["-c", "\"$0\" --warnings -l \"$1\" > rendered.txt", man!, path])
            XCTAssertEqual(rc, 0, "\(page): \(warnings)")
            XCTAssertEqual(warnings, "", page)
            XCTAssertTrue(try String(contentsOfFile: cli.path("rendered.txt"), encoding: .utf8).contains("NAME"), page)
        }
    }

    /// A command added to `stafett` without completion or a manual section fails here.
    func testCompletionAndManualNameEveryCommand() throws {
        let completion = try String(contentsOf: Self.packaging.appendingPathComponent("bash-completion/stafett"), encoding: .utf8)
        let listed = completion.split(separator: "\n").first { $0.contains("local commands=") }
            .map { $0.split(separator: "\"")[1].split(separator: " ").map(String.init) } ?? []
        XCTAssertEqual(Set(listed), Set(StafettTool.commands.map(\.name)))
        let manual = try String(contentsOf: Self.packaging.appendingPathComponent("man/stafett.1"), encoding: .utf8)
        for command in StafettTool.commands.map(\.name) {
            XCTAssertTrue(manual.contains(".SS \"stafett \(command)"), "stafett.1 has no section for \(command)")
        }
    }

    /// `make deb` packages the static build: a dynamically linked one would need /opt/swift on the server.
    func testMakeDebBuildsStaticallyFirst() throws {
        let make = ["/usr/bin/make", "/bin/make"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipUnless(make != nil, "make is not installed")
        let cli = try CLIRun()
        let (rc, out) = try cli.tool(make!, ["-n", "-C", Self.repo.path, "deb", "BUILD_PATH=/nonexistent/build"])
        XCTAssertEqual(rc, 0, out)
        let lines = out.split(separator: "\n")
        let build = lines.firstIndex { $0.contains("build -c release --static-swift-stdlib") && $0.contains("/nonexistent/build") }
        let package = lines.firstIndex { $0.contains("scripts/build-deb.sh --bin-dir \"/nonexistent/build/release\"") }
        XCTAssertNotNil(build, out)
        XCTAssertNotNil(package, out)
        if let build, let package { XCTAssertLessThan(build, package, out) }
    }

    func testBuildDebRefusesMissingBinaries() throws {
        let cli = try CLIRun()
        let (rc, out) = try cli.tool("/bin/sh", [Self.repo.appendingPathComponent("scripts/build-deb.sh").path,
                                                 "--bin-dir", cli.path("empty")])
        XCTAssertNotEqual(rc, 0)
        XCTAssertTrue(out.contains("stafett is missing: make build first"), out)
    }
}
