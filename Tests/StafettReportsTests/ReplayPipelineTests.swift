import Foundation
import XCTest
import StafettJournal
@testable import StafettReports

/// The follow-up replay's parsing shortcuts and its three-stage pipeline give exactly what the
/// plain readers and record-by-record application give.
final class ReplayPipelineTests: XCTestCase {
    /// A payload in another key order, with escapes in identifiers and an unknown escaped field,
    /// parses to the same fields as the codec reads.
    func testParseAcceptsEscapesAndAnyKeyOrder() throws {
        let json = #"{"digest":"ab\"cd","to":"2021005489","intake":"TRE\\1","seq":7,"x":{"y":[1,"\""]},"#
            + #""kind":"received","t":"2026-11-23T10:00:00.000Z","msg":"m\"1","event":"Found","from":"2120001124"}"#
        var events = EventNames()
        let r = try XCTUnwrap(Array(json.utf8).withUnsafeBytes { p -> (LiteRecord, String, String)? in
            guard let r = LiteRecord.parse(p, events: &events) else { return nil }
            return (r, LiteRecord.text(r.intakeId!), LiteRecord.text(r.messageId!))
        })
        XCTAssertEqual(r.0.kind, .received)
        XCTAssertEqual(r.1, "TRE\\1")
        XCTAssertEqual(r.2, "m\"1")
        XCTAssertEqual(events.names[r.0.event], "Found")
        XCTAssertEqual(r.0.sender, 2_120_001_124)
        XCTAssertEqual(r.0.recipient, 2_021_005_489)
        // An escape in a key or a time is not the journal's JSON.
        for bad in [#"{"k\"ind":"sent"}"#, #"{"t":"2026-11-23T10:00:00.000\"Z"}"#, #"{"kind":"sent""#] {
            XCTAssertNil(Array(bad.utf8).withUnsafeBytes { LiteRecord.parse($0, events: &events) }, bad)
        }
    }

    /// The one-pass pair of hashes is the two single hashes.
    func testPairedHashIsTwoHashes() {
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            bytes.withUnsafeBytes { b in
                let (x, y) = IdTable.hash(b, seeds: 3, 3 &+ 0x5151)
                XCTAssertEqual(x, IdTable.hash(b, seed: 3))
                XCTAssertEqual(y, IdTable.hash(b, seed: 3 &+ 0x5151))
            }
        }
    }

    /// The identifier hashes made with a set key are the ones each identifier table uses, so
    /// a new set's look-ups find what record-by-record joining stored.
    func testSetKeyHashesAreTheTableHashes() throws {
        let json = #"{"seq":1,"t":"2026-11-23T10:00:00.000Z","kind":"queued","case":"0118-SOC-7","intake":"TRE-2015-000007","#
            + #""dossier":"15-100007","pin":"\#(String(repeating: "ab", count: 32))"}"#
        var events = EventNames()
        try Array(json.utf8).withUnsafeBytes { p in
            let r = try XCTUnwrap(LiteRecord.parse(p, events: &events))
            var h = CaseJoin.IdHashes()
            XCTAssertEqual(CaseJoin.setKey(r, hashes: &h), CaseJoin.setKey(r))
            XCTAssertEqual(h.intake, IdTable.hash(r.intakeId!, seed: 1))
            XCTAssertEqual(h.dossier, IdTable.hash(r.dossierNumber!, seed: 2))
            XCTAssertEqual(h.caseRef, IdTable.hash(r.caseRef!, seed: 3))
            XCTAssertEqual(h.pin, IdTable.hash(r.personKey!, seed: 4))
        }
        // With a sender, the intake id and case reference are keyed by their issuer; the rest stays national.
        let sent = #"{"seq":2,"t":"2026-11-23T10:00:00.000Z","kind":"queued","case":"TRE-7","intake":"TRE-7","#
            + #""dossier":"15-100007","from":"2120001165"}"#
        try Array(sent.utf8).withUnsafeBytes { p in
            let r = try XCTUnwrap(LiteRecord.parse(p, events: &events))
            var h = CaseJoin.IdHashes()
            _ = CaseJoin.setKey(r, hashes: &h)
            XCTAssertEqual(h.intake, IdTable.qualified(IdTable.hash(r.intakeId!, seed: 1), 2_120_001_165))
            XCTAssertNotEqual(h.intake, IdTable.hash(r.intakeId!, seed: 1))
            XCTAssertEqual(h.caseRef, IdTable.qualified(IdTable.hash(r.caseRef!, seed: 3), 2_120_001_165))
            XCTAssertEqual(h.dossier, IdTable.hash(r.dossierNumber!, seed: 2))
        }
    }

    /// Cases joined late (a record carrying two identifiers of cases that were apart) merge the
    /// same way in the pipeline, with chunks so small the merges land in many of them, as record
    /// by record: every field of every item agrees.
    func testPipelineAgreesWithRecordByRecordThroughMerges() throws {
        let parent = try makeTempDirectory("fu-merge")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        _ = try JournalGenerator(records: 3_000, activeCases: 200).write(to: dir)
        let j = try Journal(directory: dir)
        let t0 = Date()
        var batch: [JournalEntry] = []
        for k in 0..<300 {
            // Two children known apart (intake ids) until a record names both (Malmö's intake id
            // and the national dossier number Stockholm's record has); then a third.
            let a = "TRE-2015-" + String(format: "%06d", 1 + k), b = "TRE-2015-" + String(format: "%06d", 400 + k)
            batch.append(JournalEntry(kind: .queued, time: t0, messageId: "m-\(k)-a", intakeId: a,
                                      eventType: "ReportedMissing", sender: "2120001124", recipient: "2021000076"))
            batch.append(JournalEntry(kind: .received, time: t0, messageId: "m-\(k)-b", caseRef: b,
                                      intakeId: b, dossierNumber: "15-9\(k)", eventType: "Registered", sender: "2120000142"))
            batch.append(JournalEntry(kind: .received, time: t0 + 1, messageId: "m-\(k)-c", caseRef: a,
                                      intakeId: a, intakeIdIssuer: "2120001124", dossierNumber: "15-9\(k)", eventType: "TransferSent",
                                      sender: "2120001355", recipient: "2120001157"))
        }
        try j.appendBatch(batch)
        j.close()
        let now = Int64(Date().timeIntervalSince1970 * 1000) + 30 * 86_400_000
        for chunk in [1_024, 4_096, ParallelReplay.defaultChunkSize] {
            let piped = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults, chunkSize: chunk)
            let single = FollowupProjection(rules: FollowupRules.defaults)
            try JournalStream(directory: dir).readAvailable { single.add($0) }
            let a = piped.report(now: now), b = single.report(now: now)
            XCTAssertEqual(piped.stats.records, single.stats.records)
            XCTAssertEqual(piped.stats.cases, single.stats.cases)
            XCTAssertEqual(piped.stats.open, single.stats.open)
            XCTAssertGreaterThan(a.count, 300)
            XCTAssertEqual(a, b, "chunk \(chunk)")
            // The merged children carry both intake ids.
            XCTAssertTrue(a.contains { $0.identifiers.contains("TRE-2015-000001") && $0.identifiers.contains("TRE-2015-000400") })
        }
    }

    /// Over a journal of many small segments, where a child's records, a message's opening and
    /// closing records and the record that joins two children fall in different segments, the
    /// pipeline at every chunk size gives what record-by-record application gives.
    func testPipelineAgreesAcrossSegmentBoundaries() throws {
        let parent = try makeTempDirectory("fu-segs")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let small = JournalOptions(maxSegmentBytes: 16 << 10, preallocationBytes: 0)
        _ = try JournalGenerator(records: 4_000, activeCases: 150).write(to: dir, options: small)
        let j = try Journal(directory: dir, options: small)
        let t0 = Date()
        var spans: [ClosedRange<UInt64>] = []
        for k in 0..<200 {
            // One record at a time, so segments end between them: a child known by its intake id,
            // a message opened for it, a second child, a record joining the two, then the receipt
            // that closes the message (by then under the joined case).
            // Message ids of varying length, so the boundaries do not all fall between groups.
            let a = "SEG-A-\(k)", b = "SEG-B-\(k)", m = "s-\(k)-" + String(repeating: "x", count: k % 7)
            let first = try j.append(JournalEntry(kind: .queued, time: t0, messageId: m, intakeId: a,
                                                  eventType: "ReportedMissing", sender: "2120001124", recipient: "2021000076"))
            try j.append(JournalEntry(kind: .received, time: t0, messageId: "s-\(k)-b", intakeId: b,
                                      dossierNumber: "16-\(k)", eventType: "Registered", sender: "2120000142"))
            try j.append(JournalEntry(kind: .received, time: t0 + 1, messageId: "s-\(k)-c", intakeId: a,
                                      dossierNumber: "16-\(k)", eventType: "TransferSent", sender: "2120001124"))
            let last = try j.append(JournalEntry(kind: k % 3 == 0 ? .rejected : .delivered, time: t0 + 2, messageId: m,
                                                 intakeId: a, sender: "2120001124", recipient: "2021000076"))
            spans.append(first...last)
        }
        j.close()
        let firsts = try JournalFormat.segments(in: dir).compactMap {
            JournalFormat.firstSequence(ofSegmentNamed: ($0 as NSString).lastPathComponent)
        }
        XCTAssertGreaterThan(firsts.count, 50)
        // Some of the added children's records straddle a segment boundary.
        let straddling = spans.filter { s in firsts.contains { $0 > s.lowerBound && $0 <= s.upperBound } }
        XCTAssertGreaterThan(straddling.count, 3)
        let now = Int64(Date().timeIntervalSince1970 * 1000) + 30 * 86_400_000
        let single = FollowupProjection(rules: FollowupRules.defaults)
        try JournalStream(directory: dir).readAvailable { single.add($0) }
        let expected = single.report(now: now)
        XCTAssertTrue(expected.contains { $0.identifiers.contains("SEG-A-1") && $0.identifiers.contains("SEG-B-1") })
        for chunk in [700, 4_096, 65_536, ParallelReplay.defaultChunkSize] {
            let piped = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults, chunkSize: chunk)
            XCTAssertEqual(piped.report(now: now), expected, "chunk \(chunk)")
            XCTAssertEqual(piped.stats.records, single.stats.records)
            XCTAssertEqual(piped.stats.cases, single.stats.cases)
            XCTAssertEqual(piped.stats.open, single.stats.open)
        }
    }

    /// A message id with JSON escapes in it (a quote, a backslash) or longer than a slot's cell is
    /// still one message: its receipt closes what its queueing opened. (Before the ids were kept
    /// as raw bytes, an escaped id was compared decoded against raw bytes, missed, and opened a
    /// second slot, so a delivered message was reported as never acknowledged.)
    func testEscapedAndLongMessageIdsAreOneMessage() throws {
        let parent = try makeTempDirectory("fu-esc")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let j = try Journal(directory: dir)
        let t0 = Date(timeIntervalSince1970: 1_448_000_000)
        let ids = ["q\"uote", "back\\slash", String(repeating: "L", count: 47), String(repeating: "M", count: 48),
                   String(repeating: "N", count: 300), "", "open\"one"]
        for (k, id) in ids.enumerated() {
            try j.append(JournalEntry(kind: .queued, time: t0, messageId: id, intakeId: "TRE-\(k)", eventType: "Registered"))
            try j.append(JournalEntry(kind: .sent, time: t0 + 1, messageId: id, intakeId: "TRE-\(k)"))
            if id != "open\"one" { try j.append(JournalEntry(kind: .delivered, time: t0 + 2, messageId: id)) }
        }
        j.close()
        let now = Int64((t0.timeIntervalSince1970 + 86_400) * 1000)
        for chunk in [256, ParallelReplay.defaultChunkSize] {
            let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults, chunkSize: chunk)
            let items = p.report(now: now).filter { $0.rule == "no-receipt" }
            XCTAssertEqual(items.map(\.messageId), ["open\"one"], "chunk \(chunk)")
        }
    }

    /// Damage found by the reading thread reaches the caller through both later stages, at any
    /// chunk size, instead of leaving a stage waiting.
    func testDamageInTheMiddleIsThrownThroughThePipeline() throws {
        let parent = try makeTempDirectory("fu-damage")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        _ = try JournalGenerator(records: 2_000, activeCases: 50).write(to: dir)
        let seg = try XCTUnwrap(JournalFormat.segments(in: dir).first)
        let url = URL(fileURLWithPath: seg)
        var d = try Data(contentsOf: url)
        d[52 + 100_000] ^= 0x20  // inside a record with hundreds after it (not in the zero fill)
        try d.write(to: url)
        for chunk in [512, ParallelReplay.defaultChunkSize] {
            XCTAssertThrowsError(try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults,
                                                               chunkSize: chunk), "chunk \(chunk)")
        }
    }

    /// The same for damage in a finished segment, which the reading thread maps instead of reading
    /// (a flipped byte, and the segment cut inside its last record): refused as damage of that segment.
    func testDamageInAMappedSegmentIsThrownThroughThePipeline() throws {
        let parent = try makeTempDirectory("fu-mapped-damage")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        _ = try JournalGenerator(records: 2_000, activeCases: 50).write(to: dir, options: JournalOptions(maxSegmentBytes: 64 << 10))
        let segments = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThan(segments.count, 4)
        let url = URL(fileURLWithPath: segments[2])
        let original = try Data(contentsOf: url)
        for damaged in [{ var d = original; d[d.count / 2] ^= 0x20; return d }(), original.prefix(original.count - 3)] {
            try damaged.write(to: url)
            for chunk in [512, ParallelReplay.defaultChunkSize] {
                XCTAssertThrowsError(try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults,
                                                                   chunkSize: chunk), "chunk \(chunk)") { error in
                    guard case let JournalError.damaged(_, damage) = error else { return XCTFail("\(error)") }
                    XCTAssertEqual(damage.first?.segment, segments[2])
                }
            }
        }
    }
}
