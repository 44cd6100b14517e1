import Foundation
import XCTest
@testable import StafettCLI
import StafettDaemon
import StafettJournal
import StafettModel

/// `ExitCode.of`, the one table from errors to exit codes: what differs between commands is only
/// what they were doing, and that difference is what these pin down.
final class ExitCodeTests: XCTestCase {
    struct Unforeseen: Error, CustomStringConvertible { var description: String { "disk on fire" } }

    /// Damage is the finding of `journal verify` (1), but stops `case` or `followup` from reading (5).
    func testJournalDamageIsAFindingOnlyForACommandThatChecksTheJournal() {
        let damaged = JournalError.damaged(directory: "/j", damage: [])
        XCTAssertEqual(ExitCode.of(damaged, during: .checkingJournal).code, ExitCode.invalid)
        XCTAssertEqual(ExitCode.of(damaged, during: .readingJournal).code, ExitCode.journalUnreadable)
        XCTAssertEqual(ExitCode.of(JournalError.locked(directory: "/j"), during: .checkingJournal).code, ExitCode.journalUnreadable)
        XCTAssertEqual(ExitCode.of(JournalError.badCursor("x"), during: .checkingJournal).code, ExitCode.usage)
    }

    /// What no row names is "could not read the journal" for the journal readers, an operational failure otherwise.
    func testAnUnforeseenErrorDependsOnTheWork() {
        XCTAssertEqual(ExitCode.of(Unforeseen(), during: .readingJournal).code, ExitCode.journalUnreadable)
        XCTAssertEqual(ExitCode.of(Unforeseen(), during: .checkingJournal).code, ExitCode.journalUnreadable)
        XCTAssertEqual(ExitCode.of(Unforeseen(), during: .other).code, ExitCode.failure)
        XCTAssertEqual(ExitCode.of(Unforeseen(), during: .other).message, "disk on fire")
    }

    func testArchivedReceiptFailures() {
        XCTAssertEqual(ExitCode.of(ArchivedReceipt.Failure.gone(messageId: "m", archive: "/a", digest: "d"), during: .readingJournal).code,
                       ExitCode.notFound)
        XCTAssertEqual(ExitCode.of(ArchivedReceipt.Failure.mismatch(path: "p", journaled: "a", found: "b"), during: .readingJournal).code,
                       ExitCode.invalid)
    }

    /// A field error names the field and the reason, never the value (it may be a personnummer).
    func testAFieldErrorIsAUsageErrorWithoutItsValue() {
        let (code, message) = ExitCode.of(FieldError(field: "personnummer", value: "191212121212", reason: "bad check digit"), during: .other)
        XCTAssertEqual(code, ExitCode.usage)
        XCTAssertEqual(message, "personnummer: bad check digit")
    }

    /// The usage text follows a usage error only, as `stafett translate` always printed it.
    func testReportAddsTheUsageTextToUsageErrorsOnly() throws {
        let run = try CLIRun()
        let outURL = URL(fileURLWithPath: run.path("out")), errURL = URL(fileURLWithPath: run.path("err"))
        for url in [outURL, errURL] { XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: nil)) }
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let console = Console(out: out, err: err)
        XCTAssertEqual(ExitCode.report(UsageError("no FILE"), from: "stafett x", during: .other, usageText: "usage: x", console: console),
                       ExitCode.usage)
        XCTAssertEqual(ExitCode.report(Unforeseen(), from: "stafett x", during: .other, usageText: "usage: x", console: console),
                       ExitCode.failure)
        try out.close(); try err.close()
        XCTAssertEqual(try String(contentsOf: errURL, encoding: .utf8), "stafett x: no FILE\nusage: x\nstafett x: disk on fire\n")
    }
}
