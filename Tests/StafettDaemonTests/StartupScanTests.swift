import Foundation
import XCTest
import StafettJournal
import StafettModel
@testable import StafettDaemon

/// Start-up reads the journal once, from the segment that can hold the duplicate window (or the
/// oldest queued message), not from record 1: it must still remember every message accepted
/// within the window and find every queued message's journaled outcome.
final class StartupScanTests: XCTestCase {
    var dir: URL!
    let now = Date()
    let day: TimeInterval = 86_400
    let window = Receiver.duplicateWindow(maxLifetime: 72 * 3600)
    let peer = "2120001124"

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-startscan-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    private var journal: String { dir.appendingPathComponent("journal").path }

    private func received(_ id: String, at time: Date) -> JournalEntry {
        JournalEntry(kind: .received, time: time, messageId: id, sender: peer, recipient: "2021005489",
                     digest: "digest-of-\(id)", status: "accepted")
    }

    /// 40 days of traffic in small segments, four records an hour: received messages, and the
    /// sender side's queued/sent/delivered records around them; `extra` goes in at its time.
    private func writeJournal(extra: [JournalEntry] = []) throws -> Int {
        let j = try Journal(directory: journal, options: JournalOptions(maxSegmentBytes: 16_000, preallocationBytes: 4096))
        var entries: [JournalEntry] = extra
        let start = now.addingTimeInterval(-40 * day)
        for hour in 0..<(40 * 24) {
            let t = start.addingTimeInterval(Double(hour) * 3600)
            entries.append(received("in-\(hour)", at: t))
            for kind in [JournalKind.queued, .sent, .delivered] {
                entries.append(JournalEntry(kind: kind, time: t.addingTimeInterval(60), messageId: "out-\(hour)",
                                            sender: "2021005489", recipient: peer, digest: "d"))
            }
        }
        entries.sort { $0.timeMillis < $1.timeMillis }
        try j.appendBatch(entries)
        j.close()
        XCTAssertGreaterThan(try JournalFormat.segments(in: journal).count, 20)
        return entries.count
    }

    /// What a read of the whole journal finds: the old way, the truth the scan must match.
    private func acceptedByFullRead(since: Date) throws -> [String: AcceptedMessage] {
        var found: [String: AcceptedMessage] = [:]
        let cutoff = Int64(since.timeIntervalSince1970 * 1000)
        try JournalStream(directory: journal).readAvailable { raw in
            let e = try EntryCodec.decode(raw.payload)
            guard e.kind == .received, e.timeMillis >= cutoff else { return }
            found["\(e.sender!)/\(e.messageId!)"] = AcceptedMessage(digest: e.digest, acceptedAt: e.time, sequence: raw.sequence)
        }
        return found
    }

    /// The window is 6 days of a 40-day journal: the scan reads from a later segment than the
    /// first, far fewer records than the journal holds, and remembers exactly what a read of the
    /// whole journal would (every message accepted within the window, with its digest and record).
    func testStartUpReadsOnlyTheSegmentsThatCanHoldTheWindow() throws {
        let total = try writeJournal()
        let since = now.addingTimeInterval(-window)
        let scan = try StartupScan.read(journal: journal, acceptedSince: since, queued: [])
        XCTAssertGreaterThan(scan.fromSequence, 1)
        // The window and the slack before it are 7 of 40 days; a segment more at most.
        XCTAssertLessThan(scan.recordsRead, total / 4, "start-up must not read the journal from record 1")
        let truth = try acceptedByFullRead(since: since)
        XCTAssertEqual(truth.count, 6 * 24, "one received message an hour within the window")
        XCTAssertEqual(scan.accepted, truth)
        XCTAssertEqual(try Receiver.acceptedMessages(journal: URL(fileURLWithPath: journal), since: since), truth)
        XCTAssertEqual(scan.unreadable, [])
    }

    /// A message queued before the window whose outcome a crash left journaled but not settled:
    /// the same one pass reaches back to it and finds the outcome; one never delivered has none.
    func testOutcomesOfMessagesQueuedBeforeTheWindowAreFound() throws {
        let queuedAt = now.addingTimeInterval(-20 * day)
        let outcome = JournalEntry(kind: .delivered, time: now.addingTimeInterval(-19 * day), messageId: "stuck-1",
                                   sender: "2021005489", recipient: peer, digest: "d")
        let total = try writeJournal(extra: [outcome])
        func entry(_ id: String, _ at: Date) throws -> QueueEntry {
            QueueEntry(messageId: try MessageID(id), peer: "kommun", recipient: try OrganisationNumber(peer), eventType: .registered,
                       caseRef: nil, queuedAt: at, expiresAt: at.addingTimeInterval(72 * 3600), digest: "d")
        }
        let queued = [try entry("stuck-1", queuedAt), try entry("waiting-1", now.addingTimeInterval(-3600))]
        let scan = try StartupScan.read(journal: journal, acceptedSince: now.addingTimeInterval(-window), queued: queued)
        XCTAssertEqual(scan.outcomes, ["stuck-1": .delivered])
        XCTAssertGreaterThan(scan.fromSequence, 1, "the pass still starts after the older segments")
        XCTAssertLessThan(scan.recordsRead, total * 3 / 4)
        XCTAssertEqual(scan.accepted, try acceptedByFullRead(since: now.addingTimeInterval(-window)))

        let outcomesOnly = try StartupScan.read(journal: journal, acceptedSince: nil, queued: queued)
        XCTAssertEqual(outcomesOnly.outcomes, ["stuck-1": .delivered])
        XCTAssertEqual(outcomesOnly.accepted, [:])
        XCTAssertEqual(try StartupScan.read(journal: journal, acceptedSince: nil, queued: []).recordsRead, 0,
                       "nothing queued and no window: nothing to read")
    }
}
