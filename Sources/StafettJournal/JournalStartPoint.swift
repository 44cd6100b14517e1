import Foundation

extension JournalStream {
    /// The first record of the segment to start reading at so that every record written since
    /// `cutoffMillis` is read, found from the first record of each segment, newest segment first,
    /// without reading the segments before it: start-up needs only the recent records, and
    /// reading from record 1 makes it grow with the journal.
    ///
    /// Records lie in the order they were written, but their times come from the wall clock and
    /// from entries made a moment before they were appended, so a record can carry a time a little
    /// later than the next one's. A segment is skipped only when the segment after it starts more
    /// than `slackMillis` before the cutoff: each of its records was written before that first
    /// record, so it is older than the cutoff unless the clock went back by more than the slack.
    /// A segment whose first record cannot be read says nothing, and the search goes on to the one
    /// before it. Returns 1 (the whole journal) when no segment starts early enough.
    public static func firstSequence(ofRecordsSince cutoffMillis: Int64, slackMillis: Int64, in directory: String) throws -> UInt64 {
        let segments = try JournalFormat.segments(in: directory)
        for path in segments.dropFirst().reversed() {
            let reader = try SegmentReader(path: path, bufferSize: 1 << 16)
            guard (try? reader.readHeader()) == true, case let .record(r) = try reader.next(),
                  let written = EntryCodec.kindAndTime(r.payload)?.timeMillis else { continue }
            if written < cutoffMillis - slackMillis { return reader.firstSequence }
        }
        return 1
    }
}
