import Foundation
import StafettCrypto
import XCTest
@testable import StafettJournal

final class TamperDetectionTests: XCTestCase {
    var parent = ""
    var dir: String { parent + "/journal" }

    override func setUpWithError() throws { parent = try makeTempDirectory("tamper") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: parent) }

    /// A small journal over 3 segments with signed checkpoints.
    private func makeJournal(records: Int = 24, segment: Int64 = 1_500) throws {
        // A small zero fill, so the byte-flip test covers it without a million walks.
        let j = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: segment, checkpointEveryRecords: 6,
                                                                   signingKey: TestNode.key, preallocationBytes: 256))
        for i in 0..<records { try j.append(sampleEntry(i)) }
        j.close()
    }

    private lazy var publicKey: Key = try! TestNode.certificate.publicKey()

    private func walk() throws -> JournalWalkResult {
        try JournalWalker(directory: dir, checkpointKey: publicKey).walk()
    }

    /// Record start offsets of a segment.
    private func offsets(_ data: Data) -> [Int] {
        var out: [Int] = [], at = JournalFormat.headerSize
        while at + 8 <= data.count {
            out.append(at)
            let len = Int(data[at]) | Int(data[at + 1]) << 8 | Int(data[at + 2]) << 16 | Int(data[at + 3]) << 24
            at += len + JournalFormat.recordOverhead
        }
        return out
    }

    func testEverySingleByteFlipIsDetectedAndNamesARecord() throws {
        try makeJournal(records: 14, segment: 1_000)
        let clean = try walk()
        XCTAssertNil(clean.damage)
        XCTAssertEqual(clean.tail, .clean)
        let segments = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThanOrEqual(segments.count, 3)
        var checked = 0, inZeroFill = 0
        for seg in segments {
            let url = URL(fileURLWithPath: seg)
            let original = try Data(contentsOf: url)
            for i in 0..<original.count {
                var d = original
                d[i] ^= 0x20
                try d.write(to: url)
                // CRC and chain catch every flip before signatures come into it; skipping the
                // ECDSA checks keeps thousands of walks fast.
                let w = try JournalWalker(directory: dir).walk()
                if let damage = w.damage {
                    XCTAssertGreaterThan(damage.sequence, 0, "byte \(i) of \(seg): the damage names a record")
                } else if case let .torn(_, offset, _, _) = w.tail {
                    XCTAssertEqual(seg, segments.last)
                    if i < clean.lastSegmentValidEnd {
                        // A flipped length in the last record of the last segment reads as a torn tail.
                        XCTAssertLessThan(w.lastSequence, clean.lastSequence)
                    } else {
                        // A stray byte in the zero fill after the last record: garbage after the end.
                        XCTAssertEqual(w.lastSequence, clean.lastSequence)
                        XCTAssertEqual(offset, clean.lastSegmentValidEnd)
                        inZeroFill += 1
                    }
                } else {
                    XCTFail("flipping byte \(i) of \((seg as NSString).lastPathComponent) went unnoticed")
                }
                checked += 1
            }
            try original.write(to: url)
        }
        XCTAssertNil(try walk().damage)
        XCTAssertGreaterThan(checked, 2_000)
        XCTAssertGreaterThanOrEqual(inZeroFill, 256, "the zero fill after the last record was covered")
    }

    func testDeletedAndReorderedRecordsAndMissingSegmentAreDetected() throws {
        try makeJournal()
        let seg = try JournalFormat.segments(in: dir)[0]
        let url = URL(fileURLWithPath: seg)
        let original = try Data(contentsOf: url)
        let o = offsets(original)
        // Delete the third record.
        var d = original
        d.removeSubrange(o[2]..<o[3])
        try d.write(to: url)
        var w = try walk()
        XCTAssertEqual(w.damage?.kind, .sequenceGap)
        XCTAssertEqual(w.damage?.sequence, 4)
        // Swap records 2 and 3.
        d = original.prefix(o[1]) + original[o[2]..<o[3]] + original[o[1]..<o[2]] + original[o[3]...]
        try d.write(to: url)
        w = try walk()
        XCTAssertEqual(w.damage?.kind, .sequenceGap)
        XCTAssertEqual(w.damage?.sequence, 3)
        try original.write(to: url)
        // A middle segment removed.
        let segs = try JournalFormat.segments(in: dir)
        try FileManager.default.moveItem(atPath: segs[1], toPath: parent + "/aside.log")
        w = try walk()
        XCTAssertEqual(w.damage?.kind, .missingSegment)
        try FileManager.default.moveItem(atPath: parent + "/aside.log", toPath: segs[1])
        // A record rewritten with a valid CRC but without the chain: caught by the chain.
        d = original
        let at = try XCTUnwrap(d.range(of: Data("msg-3".utf8))).lowerBound
        d[at + 4] = UInt8(ascii: "9")
        let rec = o.firstIndex { $0 > at }! - 1
        let len = o[rec + 1] - o[rec] - 8
        var crc = d[o[rec]..<(o[rec] + 4)].withUnsafeBytes { CRC32C.checksum($0) }
        crc = d[(o[rec] + 8)..<(o[rec] + 8 + len)].withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
        withUnsafeBytes(of: crc.littleEndian) { d.replaceSubrange((o[rec] + 4)..<(o[rec] + 8), with: $0) }
        try d.write(to: url)
        w = try walk()
        XCTAssertEqual(w.damage?.kind, .brokenChain)
        XCTAssertEqual(w.damage?.sequence, UInt64(rec + 1))
    }

    /// The first segment deleted: damage the walker reports, and so open refuses to append.
    func testAJournalMissingItsFirstSegmentIsRefused() throws {
        try makeJournal()
        let segs = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThan(segs.count, 1)
        try FileManager.default.removeItem(atPath: segs[0])
        let w = try walk()
        XCTAssertEqual(w.damage?.kind, .missingSegment)
        XCTAssertEqual(w.damage?.sequence, 1)
        XCTAssertThrowsError(try Journal(directory: dir)) { error in
            guard case JournalError.damaged = error else { return XCTFail("\(error)") }
        }
    }

    func testTruncationAfterLastCheckpointIsReportedAsSuch() throws {
        let j = try Journal(directory: dir, options: JournalOptions(checkpointEveryRecords: 5, signingKey: TestNode.key))
        for i in 0..<13 { try j.append(sampleEntry(i)) }  // checkpoints at 6 and 12; 14, 15 unsealed
        var w = try walk()
        XCTAssertEqual(w.lastCheckpoint, 12)
        XCTAssertEqual(w.lastSequence, 15)
        let seg = try JournalFormat.segments(in: dir)[0]
        let data = try Data(contentsOf: URL(fileURLWithPath: seg))
        let o = offsets(data)
        // Cut at a record boundary after the last checkpoint: still a valid, shorter journal, whose
        // tail is reported as unsealed.
        try data.prefix(o[14]).write(to: URL(fileURLWithPath: seg))
        w = try walk()
        XCTAssertNil(w.damage)
        XCTAssertEqual(w.lastSequence, 14)
        XCTAssertGreaterThan(w.lastSequence, w.lastCheckpoint)
        // Cut inside a record: a torn tail after the last checkpoint.
        try data.prefix(o[14] + 10).write(to: URL(fileURLWithPath: seg))
        w = try walk()
        guard case let .torn(_, offset, bytes, _) = w.tail else { return XCTFail("expected a torn tail") }
        XCTAssertEqual(offset, Int64(o[14]))
        XCTAssertEqual(bytes, 10)
        XCTAssertEqual(w.lastSequence, 14)
        _ = j
    }

    func testWriterCutsGarbageTailButRefusesDamageInTheMiddle() throws {
        try makeJournal()
        let segs = try JournalFormat.segments(in: dir)
        let last = URL(fileURLWithPath: segs.last!)
        var torn = try Data(contentsOf: last)
        // A crash leftover: half a record written into the zero fill after the last one.
        let end = Int(try walk().lastSegmentValidEnd)
        XCTAssertGreaterThan(torn.count, end + 60)
        torn.replaceSubrange(end..<(end + 60), with: torn[(end - 90)..<(end - 30)])
        try torn.write(to: last)
        var j = try Journal(directory: dir, options: JournalOptions(signingKey: TestNode.key))
        XCTAssertNotNil(j.recovery.cutTail)
        XCTAssertEqual(j.recovery.bytesCut, Int64(torn.count - end))
        let before = j.recovery.lastSequence
        XCTAssertEqual(try j.append(sampleEntry(99)), before + 1)
        j.close()
        XCTAssertNil(try walk().damage)
        // Damage in the first segment: open refuses.
        let first = URL(fileURLWithPath: segs[0])
        var d = try Data(contentsOf: first)
        d[200] ^= 0xFF
        try d.write(to: first)
        XCTAssertThrowsError(try Journal(directory: dir)) { error in
            guard case let JournalError.damaged(_, damage) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(damage.first?.kind, .badCRC)
            XCTAssertTrue("\(error)".contains("appending is refused"))
        }
        // Damage in the middle of the last segment (a valid record follows): also refused.
        d[200] ^= 0xFF
        try d.write(to: first)
        var l = try Data(contentsOf: last)
        l[JournalFormat.headerSize + 20] ^= 0x01
        try l.write(to: last)
        XCTAssertThrowsError(try Journal(directory: dir))
        l[JournalFormat.headerSize + 20] ^= 0x01
        try l.write(to: last)
        j = try Journal(directory: dir)
        j.close()
    }

    /// A length field in the live segment damaged so that its record runs past the end of the
    /// file, with good records after it: damage, not a torn tail; open refuses instead of cutting.
    func testALengthRunningPastTheEndWithRecordsAfterItIsDamageNotATornTail() throws {
        try makeJournal()
        let last = URL(fileURLWithPath: try JournalFormat.segments(in: dir).last!)
        var l = try Data(contentsOf: last)
        let starts = offsets(l.prefix(Int(try walk().lastSegmentValidEnd)))
        XCTAssertGreaterThan(starts.count, 2)
        l[starts[1] + 2] = 0x7F  // about 8 MB: past the end of this small file
        try l.write(to: last)
        let result = try walk()
        XCTAssertEqual(result.tail, .clean, "not a torn tail")
        XCTAssertEqual(result.damage?.kind, .badLength)
        XCTAssertThrowsError(try Journal(directory: dir)) { error in
            guard case JournalError.damaged = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try Data(contentsOf: last).count, l.count, "nothing was cut")
    }

    /// A payload a tamperer can write with a valid CRC and chain must not trap the reader: a high
    /// surrogate followed by an escape that is no low surrogate reads as U+FFFD.
    func testAHighSurrogateWithoutItsLowHalfIsReadNotTrappedOn() throws {
        let text = #"{"seq":1,"t":"2026-11-24T10:00:00.000Z","kind":"queued","case":"TBG\uD800\u0041"}"#
        let odd = try Array(text.utf8).withUnsafeBytes { try EntryCodec.decode($0) }
        XCTAssertEqual(odd.caseRef, "TBG\u{FFFD}")
    }
}
