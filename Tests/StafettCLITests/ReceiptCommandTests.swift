import Foundation
import StafettCrypto
import StafettDaemon
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

    /// A receipt kept in the archive is printed once it matches the digest its journal record
    /// holds; an altered one is refused (1), a removed one (retention) reported as gone (4), and
    /// without the archive's place the command says where to give it (2).
    func testChecksTheArchivedReceiptAgainstTheJournal() throws {
        let cli = try CLIRun()
        let dir = cli.path("journal"), archive = cli.path("archive")
        let receipt = Data("<Receipt xmlns=\"urn:stafett:receipt:1\"><Status>rejected</Status><Detail>fri text</Detail></Receipt>\n".utf8)
        let file = archive + "/migrationsverket/abc-1.receipt"
        try FileManager.default.createDirectory(atPath: archive + "/migrationsverket", withIntermediateDirectories: true)
        try receipt.write(to: URL(fileURLWithPath: file))
        let journal = try Journal(directory: dir)
        var e = JournalEntry(kind: .rejected, messageId: "abc-1", status: "rejected", reason: "schema")
        e.receiptDigest = SHA256.hex(receipt)
        try journal.append(e)
        journal.close()

        let ok = try cli.run(["receipt", "abc-1", "--journal", dir, "--archive", archive])
        XCTAssertEqual(ok.code, ExitCode.ok, ok.err)
        XCTAssertEqual(ok.out, String(decoding: receipt, as: UTF8.self))

        let nowhere = try cli.run(["receipt", "abc-1", "--journal", dir])
        XCTAssertEqual(nowhere.code, ExitCode.usage, nowhere.err)
        XCTAssertTrue(nowhere.err.contains("--archive DIR"), nowhere.err)

        var altered = receipt
        altered[altered.count - 2] = UInt8(ascii: " ")
        try altered.write(to: URL(fileURLWithPath: file))
        let tampered = try cli.run(["receipt", "abc-1", "--journal", dir, "--archive", archive])
        XCTAssertEqual(tampered.code, ExitCode.invalid, tampered.err)
        XCTAssertEqual(tampered.out, "", "an altered receipt is not printed")
        XCTAssertTrue(tampered.err.contains("\(file) is not the receipt the journal binds"), tampered.err)
        XCTAssertTrue(tampered.err.contains(SHA256.hex(receipt)), tampered.err)

        try FileManager.default.removeItem(atPath: file)
        let gone = try cli.run(["receipt", "abc-1", "--journal", dir, "--archive", archive])
        XCTAssertEqual(gone.code, ExitCode.notFound, gone.err)
        XCTAssertTrue(gone.err.contains("no longer holds it") && gone.err.contains("retention"), gone.err)

        // Removed by retention, which journals each removal with the file's digest: the record is named.
        let later = try Journal(directory: dir)
        try later.append(JournalEntry(kind: .removed, digest: SHA256.hex(receipt), file: "archive/migrationsverket/abc-1.receipt"))
        later.close()
        let removed = try cli.run(["receipt", "abc-1", "--journal", dir, "--archive", archive])
        XCTAssertEqual(removed.code, ExitCode.notFound, removed.err)
        XCTAssertTrue(removed.err.contains("was removed by retention at 20"), removed.err)
        XCTAssertTrue(removed.err.contains("journal record #2 removed archive/migrationsverket/abc-1.receipt"), removed.err)
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

    /// A message delivered in a batch: its record binds the one batch receipt archived for the
    /// whole batch (`receipts/<digest>.xml`), which is printed; an altered one is not.
    func testPrintsTheArchivedBatchReceiptThatCoversAMessage() throws {
        let cli = try CLIRun()
        let dir = cli.path("journal"), archive = cli.path("archive")
        let receipt = Data("<BatchReceipt xmlns=\"urn:stafett:receipt:1\"/>\n".utf8)
        let digest = BatchReceiptArchive.digest(of: receipt)
        try FileManager.default.createDirectory(atPath: BatchReceiptArchive.directory(in: archive), withIntermediateDirectories: true)
        try receipt.write(to: URL(fileURLWithPath: BatchReceiptArchive.path(in: archive, digest: digest)))
        let journal = try Journal(directory: dir)
        var e = JournalEntry(kind: .delivered, messageId: "in-batch-1", status: "accepted")
        e.receiptDigest = digest
        try journal.append(e)
        journal.close()

        let r = try cli.run(["receipt", "in-batch-1", "--journal", dir, "--archive", archive])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out, String(decoding: receipt, as: UTF8.self))

        try Data("<BatchReceipt/>".utf8).write(to: URL(fileURLWithPath: BatchReceiptArchive.path(in: archive, digest: digest)))
        let altered = try cli.run(["receipt", "in-batch-1", "--journal", dir, "--archive", archive])
        XCTAssertNotEqual(altered.code, 0)
        XCTAssertEqual(altered.out, "")
    }
}
