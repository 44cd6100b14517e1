import Foundation
import XCTest
import StafettCrypto
import StafettJournal
@testable import StafettCLI

/// The README's "Retention, backup and restore".
final class BackupRestoreTests: XCTestCase {
    /// The README's restore check: a journal copied away (a backup) and restored into a new place
    /// verifies with `stafett journal verify` against the node's signing certificate; a restored
    /// copy that a bad medium changed does not.
    func testARestoredCopyOfTheJournalVerifies() throws {
        let cli = try CLIRun()
        try cli.makeCertificate(name: "signing")
        let key = try Key.privateKey(path: cli.path("signing.key"))
        let live = cli.path("state/journal")
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        let journal = try Journal(directory: live, options: JournalOptions(maxSegmentBytes: 2_000, checkpointEveryRecords: 8, signingKey: key))
        for i in 0..<30 { try journal.append(JournalEntry(kind: i % 3 == 0 ? .queued : .delivered, messageId: "m-\(i)")) }
        try journal.append(JournalEntry(kind: .removed, digest: String(repeating: "0", count: 64), file: "outbox/accepted/lista.csv"))
        try journal.checkpoint()
        journal.close()

        // Backed up and restored with ordinary tools, into a place the journal never was.
        XCTAssertEqual(try cli.tool("/bin/cp", ["-a", live, cli.path("backup")]).0, 0)
        try FileManager.default.createDirectory(atPath: cli.path("restored"), withIntermediateDirectories: true)
        XCTAssertEqual(try cli.tool("/bin/cp", ["-a", cli.path("backup"), cli.path("restored/journal")]).0, 0)
        let restored = cli.path("restored/journal")
        XCTAssertGreaterThan(try JournalFormat.segments(in: restored).count, 2)

        var r = try cli.run(["journal", "verify", "--journal", restored, "--cert", cli.path("signing.crt")])
        XCTAssertEqual(r.code, ExitCode.ok, r.out + r.err)
        XCTAssertTrue(r.out.contains("CRC-32C: ok; hash chain: ok"), r.out)
        XCTAssertTrue(r.out.contains("signatures verified"), r.out)
        XCTAssertFalse(r.out.contains("unsealed"), "the last checkpoint seals every record: \(r.out)")
        r = try cli.run(["journal", "tail", "--journal", restored, "--kind", "removed", "-o", "json"])
        XCTAssertTrue(r.out.contains("outbox/accepted/lista.csv"), r.out)

        // One byte changed in the restored copy is found.
        let segment = try JournalFormat.segments(in: restored)[1]
        var data = try Data(contentsOf: URL(fileURLWithPath: segment))
        let at = try XCTUnwrap(data.range(of: Data("\"m-".utf8))).lowerBound
        data[at + 2] ^= 0x01
        try data.write(to: URL(fileURLWithPath: segment))
        r = try cli.run(["journal", "verify", "--journal", restored, "--cert", cli.path("signing.crt")])
        XCTAssertEqual(r.code, ExitCode.invalid, r.out + r.err)
        XCTAssertTrue(r.out.contains("FIRST BAD RECORD"), r.out)
    }
}
