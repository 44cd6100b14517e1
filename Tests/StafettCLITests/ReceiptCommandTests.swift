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
        XCTAssertEqual(missing.code, JournalExit.notFound)
        XCTAssertTrue(missing.err.contains("no receipt for abc-2"), missing.err)
    }
}
