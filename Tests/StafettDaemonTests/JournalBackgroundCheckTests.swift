import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettTestSupport
@testable import StafettDaemon

/// Start-up reads only the journal's live segment record by record; the check after start must
/// still find damage inside a finished segment, say where in the log, and raise the gauge.
final class JournalBackgroundCheckTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("bgcheck-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A journal of several small segments, closed, and the key that signed its checkpoints.
    private func makeJournal() throws -> (segments: [String], key: Key) {
        let key = try Key.generate()
        let j = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: 1_500, checkpointEveryRecords: 6,
                                                                   signingKey: key, preallocationBytes: 256))
        for i in 0..<30 {
            try j.append(JournalEntry(kind: .queued, messageId: "msg-\(i)", intakeId: "TRE-2015-\(i)", eventType: "Registered",
                                      sender: "2120001124", recipient: "2021005489", digest: String(repeating: "ab", count: 32)))
        }
        j.close()
        let segments = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThanOrEqual(segments.count, 3)
        return (segments, key)
    }

    private func check(key: Key) -> (metrics: Metrics, log: LogCapture) {
        let metrics = Metrics(), capture = LogCapture()
        JournalBackgroundCheck.start(directory: dir, checkpointKey: key, metrics: metrics,
                                     log: Logger(minimumLevel: .debug, journald: false, sink: { capture.append($0) }))
        XCTAssertTrue(waitUntil(10) { metrics.value("stafett_journal_damaged") != nil }, capture.text)
        return (metrics, capture)
    }

    func testDamageInAFinishedSegmentIsReportedAfterStart() throws {
        let (segments, key) = try makeJournal()
        // What the daemon's open accepts: it reads the live segment only.
        try flipByte(200, of: segments[0])
        try Journal(directory: dir, options: JournalOptions(signingKey: key, verifyAllAtOpen: false)).close()
        let (metrics, log) = check(key: key)
        XCTAssertEqual(metrics.value("stafett_journal_damaged"), 1)
        XCTAssertTrue(log.text.contains("FIRST BAD RECORD: #"), log.text)
        XCTAssertTrue(log.text.contains((segments[0] as NSString).lastPathComponent), "names the segment: \(log.text)")
    }

    func testAnIntactJournalIsReportedChecked() throws {
        let (_, key) = try makeJournal()
        let (metrics, log) = check(key: key)
        XCTAssertEqual(metrics.value("stafett_journal_damaged"), 0)
        XCTAssertTrue(log.text.contains("journal: checked 35 record(s)"), "30 entries and 5 checkpoints: \(log.text)")
        XCTAssertTrue(log.text.contains("5 checkpoint signature(s) ok"), log.text)
        XCTAssertFalse(log.text.contains("FIRST BAD RECORD"), log.text)
    }
}
