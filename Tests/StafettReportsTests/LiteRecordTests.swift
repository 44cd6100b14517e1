import Foundation
import XCTest
import StafettJournal
@testable import StafettReports

/// The replay's payload reader: its fast path for payloads as the writer writes them must read
/// exactly what the any-shape reader reads, and leave everything else to it.
final class LiteRecordTests: XCTestCase {
    /// Every field of a record, as comparable values (slices as their bytes, the event by name).
    private struct Fields: Equatable {
        var time: Int64, kind: JournalKind, event: String, sender: UInt64, recipient: UInt64
        var msg: [UInt8]?, caseRef: [UInt8]?, intake: [UInt8]?, dossier: [UInt8]?, pin: [UInt8]?, reason: [UInt8]?
        var eventTime: Int64?, issuer: UInt64

        init(_ r: LiteRecord, _ events: EventNames) {
            time = r.time; kind = r.kind; event = events.names[r.event]; sender = r.sender; recipient = r.recipient
            eventTime = r.eventTime; issuer = r.intakeIdIssuer
            msg = r.messageId.map { Array($0) }; caseRef = r.caseRef.map { Array($0) }
            intake = r.intakeId.map { Array($0) }; dossier = r.dossierNumber.map { Array($0) }
            pin = r.personKey.map { Array($0) }
            reason = r.reason.map { Array($0) }
        }
    }

    /// What both readers make of `payload`: (fast path, any-shape reader), nil where one declined.
    private func read(_ payload: [UInt8]) -> (fast: Fields?, any: Fields?) {
        payload.withUnsafeBytes { p in
            var e1 = EventNames(), e2 = EventNames()
            let fast = LiteRecord.parseWritten(p, events: &e1).map { Fields($0, e1) }
            let any = LiteRecord.parseAnyShape(p, events: &e2).map { Fields($0, e2) }
            return (fast, any)
        }
    }

    private func payload(_ e: JournalEntry) -> [UInt8] { EntryCodec.encode(e) }

    /// A record with every field the writer knows, escapes in the slice fields and a receipt full
    /// of quotes: the fast path takes it (every key constant is right) and agrees field by field.
    func testFastPathReadsEveryFieldTheWriterWritesAsTheAnyShapeReaderDoes() throws {
        var e = JournalEntry(kind: .delivered, messageId: #"m-"quoted"\-1"#, caseRef: "MAL-SOC-77",
                             intakeId: "TRE-2015-000700", intakeIdIssuer: "2120001355", dossierNumber: "15-123456",
                             personKey: String(repeating: "ab", count: 32), eventType: "TransferSent",
                             eventTime: Date(timeIntervalSince1970: 1_445_868_000.250), sender: "2120001124", recipient: "0021005489",
                             digest: String(repeating: "9f", count: 32), status: "200", reason: #"peer said "ok""#,
                             file: "intake-700.csv", sequence: 123_456)
        e.receipt = #"<Receipt xmlns="urn:stafett:receipt:1"><Status>accepted</Status></Receipt>"#
        e.receiptDigest = String(repeating: "7c", count: 32)
        let (fast, any) = read(payload(e))
        let f = try XCTUnwrap(fast, "the fast path declined a payload the writer wrote")
        XCTAssertEqual(f, any)
        XCTAssertEqual(f.sender, 2_120_001_124, "from is read (and not overwritten by file)")
        XCTAssertEqual(f.recipient, 21_005_489)
        XCTAssertEqual(f.event, "TransferSent")
        XCTAssertEqual(f.msg, Array(#"m-\"quoted\"\\-1"#.utf8), "slices keep their escapes")
        XCTAssertEqual(f.reason, Array(#"peer said \"ok\""#.utf8), "the reason is read for follow-up's message items")
        XCTAssertEqual(f.eventTime, 1_445_868_000_000, "the event's time, to the second")
        XCTAssertEqual(f.issuer, 2_120_001_355, "the intake id's issuer as the record names it")
    }

    /// Records that name no issuer (the sender's own ids, and every record written before
    /// issuers were journaled) join by their sender; records without `et` have no event time.
    func testIssuerFallsBackToTheSenderAndEventTimeIsAbsentWhenNotWritten() throws {
        let old = Array(#"{"seq":5,"t":"2025-12-05T02:01:00.000Z","kind":"queued","msg":"old-m2","intake":"TRE-2015-17","event":"ReportedMissing","from":"2120001124","to":"2021005489"}"#.utf8)
        let (fast, any) = read(old)
        let f = try XCTUnwrap(fast)
        XCTAssertEqual(f, any)
        XCTAssertEqual(f.issuer, 2_120_001_124)
        XCTAssertNil(f.eventTime)
        // Written by this version: an issuer equal to the sender is not written at all.
        let own = JournalEntry(kind: .queued, messageId: "m", intakeId: "2015-17", intakeIdIssuer: "2120001124",
                               sender: "2120001124")
        XCTAssertNil(own.intakeIdIssuer)
        XCTAssertFalse(String(decoding: payload(own), as: UTF8.self).contains("iss"))
        XCTAssertEqual(read(payload(own)).fast?.issuer, 2_120_001_124)
    }

    /// Event times are kept in whole seconds from 1970 to 2106; outside that the record has none
    /// (the journal entry keeps the milliseconds).
    func testEventTimeRangeInTheCompactRecord() {
        var r = LiteRecord()
        for (ms, kept) in [(Int64(0), Int64(0)), (1_999, 1_000), (1_445_868_000_250, 1_445_868_000_000),
                           (Int64(UInt32.max - 1) * 1000, Int64(UInt32.max - 1) * 1000)] {
            r.eventTime = ms
            XCTAssertEqual(r.eventTime, kept, "\(ms)")
        }
        for ms: Int64? in [nil, -1, -86_400_000, Int64(UInt32.max) * 1000, 253_402_300_799_999] {
            r.eventTime = ms
            XCTAssertNil(r.eventTime, "\(String(describing: ms))")
        }
        // The packed fields do not disturb each other.
        r.newIds = 0xFF
        r.isNewCase = true
        r.setKey = CaseJoin.IdSetKey(a: 1, b: 2)
        r.event = 7
        XCTAssertEqual(r.newIds, 0x0F)
        r.newIds = 0
        XCTAssertTrue(r.isNewCase)
        XCTAssertEqual(r.setKey, CaseJoin.IdSetKey(a: 1, b: 2))
        r.isNewCase = false
        XCTAssertNotNil(r.setKey)
        XCTAssertEqual(r.event, 7)
        XCTAssertEqual(r.newIds, 0)
    }

    /// "file" is not "from": the any-shape reader once took any four-letter key starting with
    /// f for the sender, so intake records (which carry a file name after "from") lost theirs.
    /// Every kind, including those whose names share a length and first letter (`refused` and
    /// `removed`), reads back as itself on both paths.
    func testEveryKindReadsBackAsItself() {
        for kind in JournalKind.allCases {
            let r = read(payload(JournalEntry(kind: kind, digest: String(repeating: "a", count: 64), file: "outbox/accepted/x.csv")))
            XCTAssertEqual(r.fast?.kind, kind, kind.rawValue)
            XCTAssertEqual(r.any?.kind, kind, kind.rawValue)
        }
    }

    func testFileNameDoesNotOverwriteTheSender() throws {
        let p = Array(#"{"seq":1,"t":"2026-08-26T03:04:30.674Z","kind":"intake-accepted","from":"2120001124","file":"intake-700.csv"}"#.utf8)
        let (fast, any) = read(p)
        XCTAssertEqual(try XCTUnwrap(any).sender, 2_120_001_124)
        XCTAssertEqual(fast, any)
    }

    /// Shapes the fast path leaves to the any-shape reader (unknown keys, another key order is
    /// fine, escapes in plain fields, a seal, odd numbers and broken JSON): whatever it returns,
    /// `parse` returns what the any-shape reader does.
    func testParseAgreesWithTheAnyShapeReaderOnOddPayloads() {
        let t = #""t":"2026-08-26T03:04:30.674Z""#
        let samples = [
            #"{"seq":1,\#(t),"kind":"queued","msg":"a","future":{"x":[1,2,"}"]},"to":"2021005489"}"#,
            #"{"to":"2021005489",\#(t),"seq":2,"kind":"sent","event":"Placed","msg":"b"}"#,
            #"{"seq":3,\#(t),"kind":"que\"ued"}"#,
            #"{"seq":4,\#(t),"kind":"queued","event":"Pla\\ced"}"#,
            #"{"seq":5,\#(t),"kind":"queued","from":"21200\"1124"}"#,
            #"{"seq":6,\#(t),"kind":"queued","from":"21200x1124"}"#,
            #"{"seq":7,\#(t),"kind":"queued","to":"0","from":"123"}"#,
            #"{"seq":8,\#(t),"kind":"queued","to":"1","msg":"","digest":"x"}"#,
            #"{"seq":9,\#(t),"kind":"checkpoint","cp":{"upto":8,"hash":"00","alg":"a","sig":"s"}}"#,
            #"{"seq":10,"t":"2026-08-26T03:04:30.674","kind":"queued"}"#,
            #"{"seq":11,\#(t),"kind":"nonsense"}"#,
            #"{"seq":123456789012345678901,\#(t),"kind":"queued"}"#,
            #"{"seq":13,\#(t),"kind":"queued","event":"A","event":"B"}"#,
            #"{"seq":14,\#(t),"kind":"queued","msg":"unterminated}"#,
            #"{"seq":15,\#(t),"kind":"queued","digest":5}"#,
            #"{"seq":16,\#(t),"kind":"queued","msg":"x"}trailing"#,
            #"{"seq":17,\#(t),"kind":"queued","dossierX":"1"}"#,
            #"{"seq":18,\#(t),"kind":"queued","m\"sg":"1"}"#,
            #"{"seq":20,\#(t),"kind":"rejected","reason":"schema: \"x\"","msg":"r-1"}"#,
            #"{"seq":21,\#(t),"kind":"rejected","msg":"r-2","reason":""}"#,
            #"{"seq":22,\#(t),"kind":"expired","reason":"no message id to count from"}"#,
            #"{"seq":23,\#(t),"kind":"rejected","msg":"r-3","reason":7}"#,
            #"{"seq":24,\#(t),"kind":"rejected","msg":"r-4","reasonX":"not it"}"#,
            #"{"seq":25,\#(t),"kind":"queued","iss":"2120001355","intake":"GBG-7731","from":"2120000142"}"#,
            #"{"seq":26,\#(t),"kind":"queued","iss":"2120001355","from":"2120000142"}"#,
            #"{"seq":27,\#(t),"kind":"queued","intake":"X","iss":"21200\u00301355","from":"2120000142"}"#,
            #"{"seq":28,\#(t),"kind":"queued","intake":"X","iss":"Göteborg"}"#,
            #"{"seq":29,\#(t),"kind":"queued","intake":"X","iss":2120001355}"#,
            #"{"seq":30,\#(t),"kind":"queued","et":"2015-10-26T14:00:00.000Z","event":"ReportedMissing"}"#,
            #"{"seq":31,\#(t),"kind":"queued","et":"2015-10-26T14:00:00.000"}"#,
            #"{"seq":32,\#(t),"kind":"queued","et":"2015-10-26T14:00:00.000\u005A"}"#,
            #"{"seq":33,\#(t),"kind":"queued","et":"1969-12-31T23:59:59.000Z"}"#,
            #"{}"#, #"{"seq""#, #"{"seq":19,\#(t),"kind":"queued","to":"2021005489""#,
        ]
        for s in samples {
            let bytes = Array(s.utf8)
            let (fast, any) = read(bytes)
            if let fast { XCTAssertEqual(fast, any, s) }
            bytes.withUnsafeBytes { p in
                var e1 = EventNames(), e2 = EventNames()
                let viaParse = LiteRecord.parse(p, events: &e1).map { Fields($0, e1) }
                XCTAssertEqual(viaParse, LiteRecord.parseAnyShape(p, events: &e2).map { Fields($0, e2) }, s)
            }
        }
        // Spot checks that the fast path really declined where it must not guess.
        XCTAssertNil(read(Array(samples[0].utf8)).fast, "unknown key")
        XCTAssertNil(read(Array(samples[8].utf8)).fast, "checkpoint seal")
        // A quote ten bytes into an organisation number is not taken for its end.
        let short = read(Array(samples[7].utf8)).fast
        XCTAssertEqual(short?.recipient, 1)
        XCTAssertEqual(short?.msg, [])
        // The reason, wherever it stands, and an empty one apart from none.
        XCTAssertEqual(read(Array(samples[18].utf8)).any?.reason, Array(#"schema: \"x\""#.utf8))
        XCTAssertEqual(read(Array(samples[19].utf8)).fast?.reason, [])
        XCTAssertNil(read(Array(samples[20].utf8)).any?.reason)
        XCTAssertNil(read(Array(samples[22].utf8)).any?.reason)
        // The issuer before its intake id, without one, escaped, not a number, not a string.
        XCTAssertEqual(read(Array(samples[23].utf8)).any?.issuer, 2_120_001_355)
        XCTAssertEqual(read(Array(samples[24].utf8)).any?.issuer, 2_120_000_142, "no intake id: the issuer means nothing")
        XCTAssertNil(read(Array(samples[25].utf8)).fast, "an escape in the issuer is left to the any-shape reader")
        XCTAssertEqual(read(Array(samples[25].utf8)).any?.issuer, 0, "an escaped issuer is not a number to join by")
        XCTAssertEqual(read(Array(samples[26].utf8)).any?.issuer, 0)
        XCTAssertNil(read(Array(samples[27].utf8)).any, "an issuer that is not a string is not the journal's JSON")
        XCTAssertEqual(read(Array(samples[28].utf8)).fast?.eventTime, 1_445_868_000_000)
        XCTAssertNil(read(Array(samples[29].utf8)).any, "an event time without its zone is no time")
        XCTAssertNil(read(Array(samples[30].utf8)).any, "an event time is written without escapes")
        XCTAssertNotNil(read(Array(samples[31].utf8)).any)
        XCTAssertNil(read(Array(samples[31].utf8)).any?.eventTime, "before 1970: not kept in the compact record")
    }

    /// Absent and empty identifiers stay apart in the compact record, and the record stays small
    /// (it is copied from stage to stage of a replay).
    func testEmptyIdentifierIsPresentAndTheRecordIsCompact() throws {
        let p = Array(#"{"seq":1,"t":"2026-08-26T03:04:30.674Z","kind":"queued","msg":"","intake":"I-1"}"#.utf8)
        try p.withUnsafeBytes { raw in
            var events = EventNames()
            var r = try XCTUnwrap(LiteRecord.parse(raw, events: &events))
            XCTAssertEqual(r.messageId?.count, 0, "an empty message id is there")
            XCTAssertNil(r.caseRef)
            XCTAssertNil(r.setKey)
            r.setKey = CaseJoin.IdSetKey(a: 0, b: 0)
            XCTAssertNotNil(r.setKey, "a zero key is a key")
            r.intakeId = nil
            XCTAssertFalse(r.hasIdentifier)
        }
        XCTAssertLessThanOrEqual(MemoryLayout<LiteRecord>.stride, 160)
    }

    /// Every payload of a generated journal (all kinds, events, identifiers, checkpoints): the
    /// fast path takes all but the checkpoints, and `parse` agrees with the any-shape reader on
    /// each, so the follow-up and case projections read the same records as before.
    func testGeneratedJournalReadsTheSameThroughBothReaders() throws {
        let dir = try makeTempDirectory("lite")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try JournalGenerator(records: 5_000).write(to: dir + "/j", options: JournalOptions(checkpointEveryRecords: 1_000))
        var records = 0, fastTaken = 0, checkpoints = 0
        try JournalStream(directory: dir + "/j").readAvailable { raw in
            records += 1
            var e1 = EventNames(), e2 = EventNames()
            let fast = LiteRecord.parseWritten(raw.payload, events: &e1).map { Fields($0, e1) }
            let any = LiteRecord.parseAnyShape(raw.payload, events: &e2).map { Fields($0, e2) }
            XCTAssertNotNil(any)
            if let fast { fastTaken += 1; XCTAssertEqual(fast, any) }
            if any?.kind == .checkpoint { checkpoints += 1 }
        }
        XCTAssertGreaterThanOrEqual(records, 5_000)
        XCTAssertEqual(fastTaken, records - checkpoints, "the fast path takes every record but the seals")
    }
}
