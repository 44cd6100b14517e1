import Foundation
import XCTest
import StafettCrypto
import StafettJournal
@testable import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// `[retention]`: the daemon removes what has outlived its period from `accepted/`, `failed/` and
/// `archive/`, each removal journaled (path below the spool, SHA-256) before the file goes.
final class RetentionTests: XCTestCase {
    var dir: TempDir!
    var layout: SpoolLayout!
    var journal: Journal!
    var batcher: CommitBatcher!

    override func setUpWithError() throws {
        dir = try TempDir()
        layout = SpoolLayout(spool: dir.url.appendingPathComponent("spool"), state: dir.url.appendingPathComponent("state"))
        try layout.create()
        journal = try Journal(directory: layout.journal.path)
        batcher = CommitBatcher(spool: layout.spool, journal: journal)
    }

    override func tearDown() {
        journal?.close()
    }

    func put(_ relative: String, _ text: String) throws {
        try AtomicFile.write(Data(text.utf8), to: layout.spool.appendingPathComponent(relative))
    }

    func exists(_ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: layout.spool.appendingPathComponent(relative).path)
    }

    func removals() throws -> [JournalEntry] {
        var out: [JournalEntry] = []
        try JournalStream(directory: layout.journal.path).readAvailable { raw in
            if let e = try? EntryCodec.decode(raw.payload), e.kind == .removed { out.append(e) }
        }
        return out
    }

    func testFilesPastTheirPeriodAreJournaledThenRemovedAndTheRestKept() throws {
        try put("outbox/accepted/skola/lista.csv", "accepted input")
        try put("outbox/failed/fel.csv", "refused input")
        try put("outbox/failed/fel.csv.errors.txt", "rad 2: fel")
        try put("archive/migrationsverket/m-1.xml", "<signed/>")
        try put("archive/expired/polisen/m-2.xml", "<expired/>")
        try put("outbox/accepted/.lista.csv.123.tmp", "a write in progress")
        try put("outbox/lista-i-outbox.csv", "not yet taken in: never swept")
        let sweep = RetentionSweep(layout: layout, batcher: batcher)
        var retention = StafettConfig.Retention()
        retention.failed = .seconds(60 * 86_400)

        // Nothing is due on the day the files arrived.
        XCTAssertEqual(sweep.sweep(retention), RetentionSweep.Outcome())

        // 31 days on: accepted/ (30 days) is due; failed/ (60 days) and archive/ (ten years) are not.
        let later = Date().addingTimeInterval(31 * 86_400)
        let outcome = sweep.sweep(retention, now: later)
        XCTAssertEqual(outcome.removed, ["outbox/accepted/skola/lista.csv"])
        XCTAssertEqual(outcome.failures, [])
        XCTAssertFalse(exists("outbox/accepted/skola/lista.csv"))
        for kept in ["outbox/failed/fel.csv", "outbox/failed/fel.csv.errors.txt", "archive/migrationsverket/m-1.xml",
                     "archive/expired/polisen/m-2.xml", "outbox/accepted/.lista.csv.123.tmp", "outbox/lista-i-outbox.csv"] {
            XCTAssertTrue(exists(kept), kept)
        }
        let records = try removals()
        XCTAssertEqual(records.map(\.file), ["outbox/accepted/skola/lista.csv"])
        XCTAssertEqual(records.first?.digest, SHA256.hex(Data("accepted input".utf8)))
        XCTAssertEqual(records.first?.timeMillis, Int64((later.timeIntervalSince1970 * 1000).rounded()))
        XCTAssertNil(records.first?.reason, "no free text")

        // Eleven years on, everything swept is gone, each file journaled once, and the journal
        // still holds every record written before (it is never shortened).
        let all = sweep.sweep(retention, now: Date().addingTimeInterval(11 * 366 * 86_400))
        XCTAssertEqual(Set(all.removed), ["outbox/failed/fel.csv", "outbox/failed/fel.csv.errors.txt",
                                          "archive/migrationsverket/m-1.xml", "archive/expired/polisen/m-2.xml"])
        XCTAssertEqual(try removals().count, 5)
        XCTAssertEqual(try removals().first { $0.file == "archive/migrationsverket/m-1.xml" }?.digest, SHA256.hex(Data("<signed/>".utf8)))
        XCTAssertTrue(exists("outbox/lista-i-outbox.csv"))
    }

    /// A backlog (retention switched on for an old spool) drains a bounded number per sweep.
    func testASweepStopsAtItsLimit() throws {
        for i in 0..<5 { try put("outbox/accepted/f\(i).csv", "\(i)") }
        let sweep = RetentionSweep(layout: layout, batcher: batcher, limit: 2)
        let later = Date().addingTimeInterval(40 * 86_400)
        let first = sweep.sweep(StafettConfig.Retention(), now: later)
        XCTAssertEqual(first.removed, ["outbox/accepted/f0.csv", "outbox/accepted/f1.csv"])
        XCTAssertTrue(first.reachedLimit)
        XCTAssertEqual(sweep.sweep(StafettConfig.Retention(), now: later).removed.count, 2)
        let last = sweep.sweep(StafettConfig.Retention(), now: later)
        XCTAssertEqual(last.removed, ["outbox/accepted/f4.csv"])
        XCTAssertFalse(last.reachedLimit)
        XCTAssertEqual(try removals().count, 5)
    }

    /// A link a case system dropped (moved to `failed/` as it is) is removed, never followed: its
    /// target stays, and the record has no digest, for there is no content of its own.
    func testALinkIsRemovedWithoutTouchingItsTarget() throws {
        let target = dir.url.appendingPathComponent("elsewhere.txt")
        try Data("not ours".utf8).write(to: target)
        XCTAssertEqual(symlink(target.path, layout.failed.appendingPathComponent("link.csv").path), 0)
        let outcome = RetentionSweep(layout: layout, batcher: batcher).sweep(StafettConfig.Retention(), now: Date().addingTimeInterval(40 * 86_400))
        XCTAssertEqual(outcome.removed, ["outbox/failed/link.csv"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: target.path))
        XCTAssertEqual(try removals().map(\.digest), [nil])
    }
}
