import Foundation

// What a writer's fast open (`JournalOptions.verifyAllAtOpen == false`) checks of the segments it
// does not read: a few bytes per segment instead of every record, so start-up does not grow with
// the journal. The records inside finished segments are left to `stafett journal verify`.

extension JournalWalker {
    /// The first damage in how the segments fit together, or nil: each header whole and named for
    /// its first record, the journal starting at record 1, first sequence numbers rising, and each
    /// finished segment ending in the chain hash that the next segment's header carries forward
    /// (a finished segment ends at its last record, whose last 32 bytes are that hash). A segment
    /// missing in the middle, one cut short or replaced, or a lost beginning shows up here; a
    /// record changed inside a finished segment does not (its segment still ends the same way).
    /// The last segment may have an incomplete header: that is a torn tail the walk reports.
    func segmentLinkDamage(_ segments: [String]) throws -> JournalDamage? {
        var previous: (path: String, first: UInt64, end: [UInt8]?)?
        for (index, path) in segments.enumerated() {
            let reader = try SegmentReader(path: path, bufferSize: 4096)
            do {
                guard try reader.readHeader() else {
                    if index == segments.count - 1 { return nil }
                    return JournalDamage(kind: .badHeader, segment: path, offset: 0, sequence: previous?.first ?? 1,
                                         detail: "segment shorter than its header")
                }
            } catch {
                guard case let .damaged(_, found) = error, let first = found.first else { throw error }
                return first
            }
            let first = reader.firstSequence
            let named = JournalFormat.firstSequence(ofSegmentNamed: (path as NSString).lastPathComponent)
            if named != first {
                return JournalDamage(kind: .badHeader, segment: path, offset: 0, sequence: first,
                                     detail: "segment starts at \(first) but is named for \(named ?? 0)")
            }
            if let previous {
                guard first > previous.first else {
                    return JournalDamage(kind: .badHeader, segment: path, offset: 0, sequence: first,
                                         detail: "segment starts at \(first), not after the previous one (\(previous.first))")
                }
                guard previous.end == reader.previousHash else {
                    return JournalDamage(kind: .brokenChain, segment: path, offset: 0, sequence: first,
                        detail: "the header's previous hash is not where \((previous.path as NSString).lastPathComponent) ends: "
                            + "a segment missing before this one, or the previous one cut short or replaced")
                }
            } else if first != 1 {
                return JournalDamage(kind: .missingSegment, segment: path, offset: 0, sequence: 1,
                    detail: "the journal starts at record \(first): records #1–#\(first - 1) "
                        + "(the first segment or segments) are missing")
            }
            // A finished segment with no record (never written so) hands on its header's hash.
            let end = reader.size() == Int64(JournalFormat.headerSize) ? reader.previousHash : try reader.lastBytes(32)
            previous = (path, first, end)
        }
        return nil
    }
}
