import Foundation
import XCTest
@testable import StafettJournal

/// The writer zero-fills ahead of its records (so a group commit's fdatasync needs no metadata
/// commit); readers stop at the first zero length, verify insists on zeros after it, and recovery
/// tells a stray byte there (a torn batch) from a zeroed length in the middle (damage).
final class ZeroFillTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTempDirectory("zerofill") + "/journal" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }

    private func open(_ fill: Int64 = 4096, segment: Int64 = 64 << 20) throws -> Journal {
        try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: segment, preallocationBytes: fill))
    }

    private func fileSize(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
    }

    /// Record lengths of a segment read frame by frame from its header to its first zero length.
    private func frames(_ data: Data) -> (count: Int, end: Int) {
        var at = JournalFormat.headerSize, n = 0
        while at + 8 <= data.count {
            let len = Int(data[at]) | Int(data[at + 1]) << 8 | Int(data[at + 2]) << 16 | Int(data[at + 3]) << 24
            if len == 0 { break }
            at += len + JournalFormat.recordOverhead
            n += 1
        }
        return (n, at)
    }

    func testRecordsGoIntoZeroFilledSpaceAndAReopenedJournalGoesOnAtTheEnd() throws {
        var j = try open()
        for i in 0..<5 { try j.append(sampleEntry(i)) }
        let seg = try JournalFormat.segments(in: dir)[0]
        var data = try Data(contentsOf: URL(fileURLWithPath: seg))
        let (count, end) = frames(data)
        XCTAssertEqual(count, 5)
        XCTAssertGreaterThanOrEqual(data.count, end + 4096, "zeros written ahead of the records")
        XCTAssertEqual(data.count % 4096, 0, "the fill ends on a page boundary")
        XCTAssertTrue(data[end...].allSatisfy { $0 == 0 })
        j.close()

        j = try open()
        XCTAssertNil(j.recovery.cutTail, "a zero fill is a clean end, not a torn tail")
        XCTAssertEqual(j.recovery.lastSequence, 5)
        for i in 5..<8 { try j.append(sampleEntry(i)) }
        j.close()
        data = try Data(contentsOf: URL(fileURLWithPath: seg))
        XCTAssertEqual(frames(data).count, 8, "appends continue at the end of the records, not of the file")
        let w = try JournalWalker(directory: dir).walk()
        XCTAssertNil(w.damage)
        XCTAssertEqual(w.tail, .clean)
        XCTAssertEqual(w.lastSequence, 8)
    }

    func testFinishedSegmentsEndAtTheirLastRecord() throws {
        let j = try open(4096, segment: 2_000)
        for i in 0..<40 { try j.append(sampleEntry(i)) }
        j.close()
        let segments = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThanOrEqual(segments.count, 4)
        for seg in segments.dropLast() {
            let data = try Data(contentsOf: URL(fileURLWithPath: seg))
            XCTAssertEqual(frames(data).end, data.count, "\(seg) was cut back to its last record")
        }
        let w = try JournalWalker(directory: dir).walk()
        XCTAssertNil(w.damage)
        XCTAssertEqual(w.records, 40)
    }

    /// Five records appended and the journal closed; its one segment's path and bytes.
    private func closedFiveRecordSegment() throws -> (path: String, data: Data) {
        let j = try open()
        for i in 0..<5 { try j.append(sampleEntry(i)) }
        j.close()
        let seg = try JournalFormat.segments(in: dir)[0]
        return (seg, try Data(contentsOf: URL(fileURLWithPath: seg)))
    }

    func testAStrayByteInTheZeroFillIsATornTailThatOpenCuts() throws {
        let (seg, written) = try closedFiveRecordSegment()
        var data = written
        let end = frames(data).end
        data[end + 1000] = 0x5A  // as if a later page of an unfinished batch reached the disk first
        try data.write(to: URL(fileURLWithPath: seg))

        let w = try JournalWalker(directory: dir).walk()
        XCTAssertNil(w.damage)
        guard case let .torn(_, offset, _, detail) = w.tail else { return XCTFail("expected a torn tail, got \(w.tail)") }
        XCTAssertEqual(offset, Int64(end))
        XCTAssertTrue(detail.contains("\(end + 1000)"), detail)
        XCTAssertEqual(w.lastSequence, 5)

        let j = try open()
        XCTAssertNotNil(j.recovery.cutTail)
        try j.append(sampleEntry(5))
        j.close()
        let after = try JournalWalker(directory: dir).walk()
        XCTAssertNil(after.damage)
        XCTAssertEqual(after.tail, .clean)
        XCTAssertEqual(after.lastSequence, 6)
        data = try Data(contentsOf: URL(fileURLWithPath: seg))
        XCTAssertFalse(data[frames(data).end...].contains(0x5A), "the stray byte is gone")
    }

    func testAZeroedLengthInTheMiddleIsDamageAndNothingIsCut() throws {
        let (seg, written) = try closedFiveRecordSegment()
        var data = written
        // Record 2's length field, zeroed: it must not read as the end of the journal.
        let first = JournalFormat.headerSize
        let len1 = Int(data[first]) | Int(data[first + 1]) << 8
        let second = first + len1 + JournalFormat.recordOverhead
        data.replaceSubrange(second..<(second + 4), with: [0, 0, 0, 0])
        try data.write(to: URL(fileURLWithPath: seg))

        let w = try JournalWalker(directory: dir).walk()
        XCTAssertEqual(w.damage?.kind, .badLength)
        XCTAssertEqual(w.damage?.sequence, 2)
        XCTAssertThrowsError(try open()) { error in
            guard case JournalError.damaged = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(fileSize(seg), data.count, "recovery refused to cut anything")
    }

    /// A follower racing a writer that rolls over every few records: it may read a segment's
    /// zeros just before the writer finishes that segment, and must not call that damage.
    func testAFollowerRacingRolloverSeesEveryRecordAndNoDamage() throws {
        let j = try open(4096, segment: 3_000)
        let total = 1_500
        let writer = Thread {
            for i in 0..<total { _ = try? j.append(sampleEntry(i)) }
        }
        writer.start()
        let stream = JournalStream(directory: dir)
        var seen: [UInt64] = []
        let deadline = Date().addingTimeInterval(60)
        while seen.count < total && Date() < deadline {
            try stream.readAvailable { seen.append($0.sequence) }
        }
        XCTAssertEqual(seen, (1...UInt64(total)).map { $0 })
        XCTAssertGreaterThan(try JournalFormat.segments(in: dir).count, 50)
        j.close()
    }

    func testAStreamFollowsAppendsIntoTheZeroFill() throws {
        let j = try open()
        try j.append(sampleEntry(0))
        let stream = JournalStream(directory: dir)
        var seen: [UInt64] = []
        try stream.readAvailable { seen.append($0.sequence) }
        XCTAssertEqual(seen, [1])
        for i in 1..<4 { try j.append(sampleEntry(i)) }
        try stream.readAvailable { seen.append($0.sequence) }
        XCTAssertEqual(seen, [1, 2, 3, 4], "buffered zeros are read again, not taken as the end for good")
        j.close()
    }
}
