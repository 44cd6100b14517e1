import Foundation
import StafettJournal
import XCTest
@testable import StafettCLI

final class ReceiptCommandTests: XCTestCase {
    func testPrintsTheJournaledReceiptByteForByteAndReportsAMissingOne() throws {
        let cli = try CLIRun()
        let dir = cli.path("journal")
        let receipt = "<?xml version=\"1.0\"?>\n<Receipt xmlns=\"urn:stafett:receipt:1\">\r\n\t<Status>accepted</Status>\\ \"å\"</Receipt>\n"
        let journal = try Journal(directory: dir)
        var e = JournalEntry(kind: .delivered, messageId: "abc-1", status: "accepted")
        e.receipt = receipt
        try journal.append(e)
        try journal.append(JournalEntry(kind: .queued, messageId: "abc-2"))
        journal.close()

        let r = try cli.run(["receipt", "abc-1", "--journal", dir])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out, receipt)
        let missing = try cli.run(["receipt", "abc-2", "--journal", dir])
        XCTAssertEqual(missing.code, ExitCode.notFound)
        XCTAssertTrue(missing.err.contains("no receipt for abc-2"), missing.err)
    }

    /// `receipt` and `case` read the same journal and say the same thing when it is not there:
    /// 5, the journal could not be read; a receipt that cannot be written out is 3.
    func testExitCodesAgreeWithTheOtherJournalCommands() throws {
        let cli = try CLIRun()
        let absent = cli.path("absent")
        let receipt = try cli.run(["receipt", "abc-1", "--journal", absent])
        XCTAssertEqual(receipt.code, ExitCode.journalUnreadable, receipt.err)
        XCTAssertEqual(try cli.run(["case", "TRE-1", "--journal", absent]).code, ExitCode.journalUnreadable)
        XCTAssertEqual(try cli.run(["receipt", "abc-1", "--config", cli.path("typo.conf")]).code, ExitCode.journalUnreadable)

        let dir = cli.path("journal")
        let journal = try Journal(directory: dir)
        var e = JournalEntry(kind: .delivered, messageId: "abc-1", status: "accepted")
        e.receipt = "<Receipt/>"
        try journal.append(e)
        journal.close()
        let unwritable = try cli.run(["receipt", "abc-1", "--journal", dir, "-o", cli.path("no/such/dir/r.xml")])
        XCTAssertEqual(unwritable.code, ExitCode.failure, unwritable.err)
    }
}
