import StafettJournal
#if DEBUG || STAFETT_LIBFUZZER
@testable import StafettReports
#endif

/// Journal record payloads as the readers take them from a segment whose framing checked out (a
/// CRC and hash chain a damaged or forged file can satisfy): the full decoder, the fixed-place
/// readers, and the projections' fast reader.
/// The parser is internal: @testable import needs modules built for testing, as debug builds
/// (swift test) and scripts/fuzz.sh's build (-enable-testing -DSTAFETT_LIBFUZZER) are; a plain
/// release build leaves this part out rather than fail (docs/fuzzing.md).
enum JournalRecordHarness {
    static let record = FuzzTarget(name: "journal-record", summary: "journal record payloads (EntryCodec.decode, LiteRecord.parse)") { bytes in
        _ = try? EntryCodec.decode(bytes)
        _ = EntryCodec.fastSequence(bytes)
        _ = EntryCodec.isCheckpoint(bytes)
        #if DEBUG || STAFETT_LIBFUZZER
        var events = EventNames()
        if let r = LiteRecord.parse(bytes, events: &events) {
            for field in [r.messageId, r.caseRef, r.intakeId, r.dossierNumber, r.personKey, r.reason] {
                if let field { _ = LiteRecord.text(field) }
            }
        }
        _ = LiteRecord.parseAnyShape(bytes, events: &events)
        #endif
    }
}
