import Foundation
import XCTest
@testable import StafettJournal

/// A stream that reads finished segments in place (`mapsFinishedSegments`) delivers what a
/// buffered stream delivers, keeps those bytes valid while their map is held, never maps the live
/// segment, and refuses a finished segment that is damaged or cut short, as the buffered one does.
final class MappedSegmentTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTempDirectory("mapped") + "/journal" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }

    /// A journal of several small segments (the last one live, zero-filled ahead).
    private func write(_ count: Int) throws {
        let j = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: 8 << 10, preallocationBytes: 4096))
        for i in 0..<count { try j.append(sampleEntry(i)) }
        j.close()
    }

    /// Every record of a buffered stream: sequence, payload and chain hash.
    private func buffered() throws -> [(UInt64, [UInt8], [UInt8])] {
        var out: [(UInt64, [UInt8], [UInt8])] = []
        try JournalStream(directory: dir).readAvailable { out.append(($0.sequence, Array($0.payload), Array($0.chainHash))) }
        return out
    }

    func testMappedRecordsAreTheBufferedOnesAndOutliveTheirCall() throws {
        try write(300)
        let segments = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThan(segments.count, 3)
        let expected = try buffered()
        var kept: [SegmentMap] = []
        var seen: [(UInt64, UnsafeRawBufferPointer, Bool)] = []
        let stream = JournalStream(directory: dir, mapsFinishedSegments: true)
        try stream.readAvailable(keeping: { r, map in
            if let map, kept.last !== map { kept.append(map) }
            // Only what a map holds may be kept past the call; the rest is compared now.
            if map == nil { XCTAssertEqual(Array(r.payload), expected[seen.count].1) }
            seen.append((r.sequence, r.payload, map != nil))
        })
        XCTAssertEqual(seen.map(\.0), expected.map(\.0))
        // Every finished segment was mapped, the live one was not.
        XCTAssertEqual(kept.count, segments.count - 1)
        let lastFirst = try XCTUnwrap(JournalFormat.firstSequence(ofSegmentNamed: (segments.last! as NSString).lastPathComponent))
        for (k, s) in seen.enumerated() {
            XCTAssertEqual(s.2, s.0 < lastFirst, "record \(s.0)")
            if s.2 { XCTAssertEqual(Array(s.1), expected[k].1, "record \(s.0), read after the stream moved on") }
        }
    }

    /// A finished segment with a flipped byte in a record, one cut inside a record, and one with
    /// zeros where a record should be: each refused as damage naming that segment.
    func testADamagedOrShortenedFinishedSegmentIsRefused() throws {
        try write(300)
        let second = try JournalFormat.segments(in: dir)[1]
        let original = try Data(contentsOf: URL(fileURLWithPath: second))
        let firstRecordLength = Int(original[52]) | Int(original[53]) << 8
        let cases: [(String, Data, JournalDamage.Kind)] = [
            ("flipped", { var d = original; d[52 + 8 + 20] ^= 0x01; return d }(), .badCRC),
            ("cut", original.prefix(original.count - 10), .tornTail),
            ("zeroed", original.prefix(52 + firstRecordLength + 40) + Data(count: original.count - 52 - firstRecordLength - 40), .badLength),
        ]
        for (name, data, kind) in cases {
            try data.write(to: URL(fileURLWithPath: second))
            for maps in [false, true] {
                XCTAssertThrowsError(try JournalStream(directory: dir, mapsFinishedSegments: maps).readAvailable(keeping: { _, _ in }),
                                     "\(name), mapped \(maps)") { error in
                    guard case let JournalError.damaged(_, damage) = error else { return XCTFail("\(name): \(error)") }
                    XCTAssertEqual(damage.first?.kind, kind, name)
                    XCTAssertEqual(damage.first?.segment, second, name)
                }
            }
        }
        try original.write(to: URL(fileURLWithPath: second))
        XCTAssertEqual(try buffered().count, 300)
    }

    /// A follower that maps finished segments, racing a writer that rolls over every few records
    /// (and cuts each segment's zeros as it finishes it), sees every record and no damage.
    func testAMappingFollowerRacingRolloverSeesEveryRecord() throws {
        let j = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: 3_000, preallocationBytes: 4096))
        let total = 1_500
        let writer = Thread {
            for i in 0..<total { _ = try? j.append(sampleEntry(i)) }
        }
        writer.start()
        let stream = JournalStream(directory: dir, mapsFinishedSegments: true)
        var seen: [UInt64] = []
        var mapped = 0
        let deadline = Date().addingTimeInterval(60)
        while seen.count < total && Date() < deadline {
            try stream.readAvailable(keeping: { r, map in
                seen.append(r.sequence)
                if map != nil { mapped += 1 }
            })
        }
        XCTAssertEqual(seen, (1...UInt64(total)).map { $0 })
        XCTAssertGreaterThan(try JournalFormat.segments(in: dir).count, 50)
        j.close()
        // Reading it all again maps every finished segment.
        mapped = 0
        try JournalStream(directory: dir, mapsFinishedSegments: true).readAvailable(keeping: { _, map in if map != nil { mapped += 1 } })
        XCTAssertGreaterThan(mapped, total / 2)
    }
}
