import Foundation
import XCTest
import StafettDaemon
import StafettJournal
import StafettTestSupport
@testable import StafettCLI
#if canImport(Glibc)
import Glibc
#endif

/// Runs `stafett` commands given in STAFETT_ACCESS_COMMANDS (one per line, words separated by
/// tabs) and prints each one's exit code and output: the child process of
/// `testAnOperatorOutsideTheGroupIsToldWhichGroupToJoin`, run as another user.
final class OperatorAccessHelper: XCTestCase {
    func testRunCommandsAsAnotherUser() throws {
        guard let commands = ProcessInfo.processInfo.environment["STAFETT_ACCESS_COMMANDS"] else {
            throw XCTSkip("the child of testAnOperatorOutsideTheGroupIsToldWhichGroupToJoin: runs only as the user it starts (STAFETT_ACCESS_COMMANDS unset)")
        }
        for line in commands.split(separator: "\n") {
            let console = Console.memory()
            let code = StafettTool.main(line.split(separator: "\t").map(String.init), console: console)
            print("<<<exit \(code)\n\(console.output)\(console.errors)>>>")
        }
    }
}

final class OperatorAccessTests: XCTestCase {
    /// An operator not in the operators group is told which group to join, for the journal and
    /// for the queue, instead of "does not exist"; one in it reads both.
    func testAnOperatorOutsideTheGroupIsToldWhichGroupToJoin() throws {
        guard let member = try TemporaryAccount.make("oper", inGroup: true) else {
            throw XCTSkip("needs root and useradd/runuser, to run the CLI as a user outside the operators group")
        }
        defer { member.remove() }
        guard let outsider = try TemporaryAccount.make("nonop", inGroup: false) else { throw XCTSkip("useradd failed") }
        defer { outsider.remove() }
        let operators = try XCTUnwrap(member.group)

        let cli = try CLIRun()
        chmod(cli.dir.path, 0o755)
        let layout = SpoolLayout(spool: cli.dir.appendingPathComponent("spool"), state: cli.dir.appendingPathComponent("state"))
        var access = StafettConfig.Access()
        access.operatorsGroup = operators
        XCTAssertEqual(try layout.create(access: access).warnings.filter { $0.contains(operators) }, [])
        let journal = try Journal(directory: layout.journal.path)
        try journal.append(JournalEntry(kind: .queued, messageId: "m-1"))
        journal.close()

        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let commands = [["journal", "tail", "--journal", layout.journal.path], ["queue", "--spool", layout.spool.path]]
        func runAs(_ account: TemporaryAccount) throws -> [(code: Int32, text: String)] {
            let result = try account.run(["/usr/bin/env", "STAFETT_ACCESS_COMMANDS=" + commands.map { $0.joined(separator: "\t") }.joined(separator: "\n"),
                                          exe, "StafettCLITests.OperatorAccessHelper/testRunCommandsAsAnotherUser"])
            let blocks = result.output.components(separatedBy: "<<<exit ").dropFirst().compactMap { block -> (Int32, String)? in
                guard let end = block.range(of: ">>>") else { return nil }
                let body = block[..<end.lowerBound]
                let newline = body.firstIndex(of: "\n") ?? body.endIndex
                return (Int32(body[..<newline]) ?? -1, String(body[newline...]))
            }
            guard blocks.count == commands.count else {
                throw XCTSkip("the test binary could not be run as \(account.user): \(result.output.suffix(500))")
            }
            return blocks
        }

        let refused = try runAs(outsider)
        XCTAssertEqual(refused[0].code, ExitCode.journalUnreadable, refused[0].text)
        XCTAssertTrue(refused[0].text.contains("permission denied reading \(layout.journal.path)"), refused[0].text)
        XCTAssertTrue(refused[0].text.contains("add yourself to the group \(operators) (sudo adduser $USER \(operators))"), refused[0].text)
        XCTAssertFalse(refused[0].text.contains("does not exist") || refused[0].text.contains("No such file"), refused[0].text)
        XCTAssertEqual(refused[1].code, ExitCode.failure, refused[1].text)
        XCTAssertTrue(refused[1].text.contains("permission denied reading \(layout.queue.path): add yourself to the group \(operators)"),
                      refused[1].text)

        let allowed = try runAs(member)
        XCTAssertEqual(allowed[0].code, ExitCode.ok, allowed[0].text)
        XCTAssertTrue(allowed[0].text.contains("m-1"), allowed[0].text)
        XCTAssertEqual(allowed[1].code, ExitCode.ok, allowed[1].text)
    }
}
