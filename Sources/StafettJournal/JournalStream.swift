import Foundation

/// A position in the journal that a script can keep and resume from: `<seq>:<16 hex>` — the
/// sequence number of the last record seen and the first 8 bytes of its chain hash, so a cursor
/// from another journal (or from before a rewrite) is refused instead of silently misapplied.
public struct JournalCursor: Sendable, Hashable, CustomStringConvertible {
    /// The last record seen.
    public var sequence: UInt64
    /// First 16 hex digits of that record's chain hash.
    public var hashPrefix: String

    /// Creates a cursor.
    public init(sequence: UInt64, hashPrefix: String) {
        self.sequence = sequence
        self.hashPrefix = hashPrefix
    }

    /// The cursor of a record.
    public init(_ r: RawRecord) {
        sequence = r.sequence
        hashPrefix = Data(r.chainHash.prefix(8)).hexString
    }

    /// Parses `<seq>:<16 hex>`.
    public init(parsing text: String) throws(JournalError) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let s = UInt64(parts[0]), parts[1].count == 16,
              parts[1].allSatisfy({ $0.isHexDigit }) else {
            throw .badCursor("\(text) is not <sequence>:<16 hex digits>")
        }
        sequence = s
        hashPrefix = parts[1].lowercased()
    }

    public var description: String { "\(sequence):\(hashPrefix)" }
}

/// Reads records in order from a chosen point and can be called again to pick up what was
/// appended since (by this or another process), across segment rollover. A partial record at
/// the live end is "not yet", not damage. CRC is checked; the chain is not (that is `verify`).
/// Confined to one thread.
public final class JournalStream {
    /// The journal directory.
    public let directory: String
    private var reader: SegmentReader?
    private var after: UInt64
    private var cursorCheck: JournalCursor?
    private var lastHashPrefix: UInt64 = 0
    private var delivered = false
    /// Whether finished segments are read in place (`readAvailable(keeping:)`).
    private let mapsFinished: Bool
    /// The last record delivered, as a cursor.
    public var cursor: JournalCursor? {
        guard delivered else { return nil }
        let hex = String(UInt64(bigEndian: lastHashPrefix), radix: 16)
        return JournalCursor(sequence: after, hashPrefix: String(repeating: "0", count: 16 - hex.count) + hex)
    }

    /// Starts after record `after` (0: from the beginning). `mapsFinishedSegments`: read segments
    /// the writer has finished in place (see `SegmentMap`), for `readAvailable(keeping:)`.
    public init(directory: String, after: UInt64 = 0, mapsFinishedSegments: Bool = false) {
        self.directory = directory
        self.after = after
        mapsFinished = mapsFinishedSegments
    }

    /// Starts after the record a cursor names; the cursor's hash is checked when that record is read.
    public convenience init(directory: String, cursor: JournalCursor) {
        self.init(directory: directory, after: cursor.sequence > 0 ? cursor.sequence - 1 : 0)
        cursorCheck = cursor
    }

    /// Delivers every whole record available now, then returns.
    public func readAvailable(_ body: (RawRecord) throws -> Void) throws {
        try readAvailable(keeping: { r, _ in try body(r) })
    }

    /// Delivers every whole record available now, each with the mapped segment it lies in when
    /// it is read in place: its bytes stay valid as long as that is held, not only during the call.
    public func readAvailable(keeping body: (RawRecord, SegmentMap?) throws -> Void) throws {
        while true {
            if reader == nil {
                guard try openSegment() else { return }
            }
            guard let r = reader else { return }
            // Held here, once per segment: read from the reader per record, it was retained and
            // released per record (perf: a twentieth of the reading thread).
            let map = r.map
            // A segment opened while its writer was still creating it: its header comes first.
            if !r.headerRead { guard try r.readHeader() else { return } }
            var retried = false
            /// Whether this segment was read again after a later one was seen to exist.
            var rereadAfterNext = false
            /// A later segment exists, but what was read of this one's end may predate the writer
            /// finishing it (last records, cut) and then starting the next: true (once) to read it again.
            func rereadOnce() -> Bool {
                guard !rereadAfterNext else { return false }
                rereadAfterNext = true
                r.dropBuffered()
                return true
            }
            loop: while true {
                switch try r.next() {
                case let .record(rec):
                    if rec.sequence <= after { continue }
                    if let check = cursorCheck {
                        cursorCheck = nil
                        guard rec.sequence == check.sequence,
                              Data(rec.chainHash.prefix(8)).hexString == check.hashPrefix else {
                            throw JournalError.badCursor("record \(check.sequence) of this journal has another hash: "
                                                         + "the cursor belongs to a different journal")
                        }
                        continue
                    }
                    after = rec.sequence
                    lastHashPrefix = rec.chainHash.loadUnaligned(as: UInt64.self)
                    delivered = true
                    try body(rec, map)
                case .zeroFill:
                    // The live end of the live segment; a finished segment has no zero fill.
                    guard let next = nextSegmentPath(after: r.path) else { return }
                    if rereadOnce() { continue loop }
                    throw JournalError.damaged(directory: directory, damage: [JournalDamage(kind: .badLength,
                        segment: r.path, offset: r.offset, sequence: after + 1,
                        detail: "zero-filled space in a finished segment (\((next as NSString).lastPathComponent) follows)")])
                case let .end(pending):
                    // A later segment means this one is complete: the writer starts a new segment
                    // only after finishing (and syncing) the old one.
                    guard let next = nextSegmentPath(after: r.path) else { return }
                    if rereadOnce() { continue loop }
                    if pending > 0 {
                        throw JournalError.damaged(directory: directory, damage: [JournalDamage(kind: .tornTail,
                            segment: r.path, offset: r.offset, sequence: after + 1,
                            detail: "segment ends inside a record but a later segment exists")])
                    }
                    // Its header is read at the top of the next round.
                    reader = try SegmentReader(path: next, mapped: mapsFinished && nextSegmentPath(after: next) != nil)
                    break loop
                case let .bad(kind, offset, detail):
                    if !retried {
                        // Buffered bytes may predate a writer's tail repair: read afresh once.
                        retried = true
                        r.dropBuffered()
                        continue loop
                    }
                    let next = nextSegmentPath(after: r.path)
                    if next != nil && rereadOnce() { continue loop }  // a record still being written when read
                    if next == nil, try !r.validRecordExists(after: offset) {
                        return  // a torn tail: nothing more to read (a writer will cut it on open)
                    }
                    throw JournalError.damaged(directory: directory, damage: [JournalDamage(kind: kind,
                        segment: r.path, offset: offset, sequence: after + 1, detail: detail)])
                }
            }
        }
    }

    /// Opens the segment that holds record `after + 1`; false when there is none yet.
    private func openSegment() throws -> Bool {
        let segs = try JournalFormat.segments(in: directory)
        guard !segs.isEmpty else { return false }
        var pick = segs[0]
        for s in segs {
            guard let first = JournalFormat.firstSequence(ofSegmentNamed: (s as NSString).lastPathComponent) else { continue }
            if first <= after + 1 { pick = s } else { break }
        }
        let r = try SegmentReader(path: pick, mapped: mapsFinished && pick != segs.last)
        guard try r.readHeader() else { return false }
        reader = r
        return true
    }

    private func nextSegmentPath(after path: String) -> String? {
        guard let segs = try? JournalFormat.segments(in: directory), let i = segs.firstIndex(of: path),
              i + 1 < segs.count else { return nil }
        return segs[i + 1]
    }
}
