import Foundation
import XCTest
@testable import StafettCLI

/// `--help` and `-h` work for every command and sub-command: usage on standard output, exit 0,
/// even where other arguments are missing or the default config would be read.
final class HelpTests: XCTestCase {
    func testEveryCommandAndSubcommandTakesHelp() throws {
        let cli = try CLIRun()
        let invocations: [[String]] = [
            ["journal"], ["journal", "tail"], ["journal", "verify"], ["followup"], ["case"],
            ["queue"], ["queue", "shape"], ["queue", "retry"], ["queue", "hold"], ["queue", "release"],
            ["receipt"], ["verify"], ["sign"], ["demo"], ["validate"], ["translate"],
        ]
        XCTAssertEqual(Set(invocations.map { $0[0] }), Set(StafettTool.commands.map(\.name)), "a command is missing here")
        for argv in invocations {
            for flag in ["--help", "-h"] {
                let r = try cli.run(argv + [flag])
                let what = (argv + [flag]).joined(separator: " ")
                XCTAssertEqual(r.code, 0, "\(what): \(r.err)")
                XCTAssertTrue(r.out.hasPrefix("usage: stafett \(argv[0])"), "\(what): \(r.out)")
                XCTAssertEqual(r.err, "", what)
            }
        }
        // The exit codes as the commands use them (4: nothing found), not "3 or more: a failure".
        let top = try cli.run(["--help"])
        XCTAssertTrue(top.out.contains("4 nothing found (case, receipt)"), top.out)
        XCTAssertTrue(try cli.run(["case", "--help"]).out.contains("4 no child with that identifier"))
        XCTAssertTrue(try cli.run(["receipt", "--help"]).out.contains("4 the journal holds no receipt"))
        // Help wins over options given with it.
        let r = try cli.run(["journal", "tail", "-n", "5", "--help"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("stafett journal verify"), r.out)
    }
}
