import Foundation
import StafettCrypto

/// How the journal ends.
public enum JournalTail: Sendable, Hashable {
    /// The last segment ends on a record boundary.
    case clean
    /// The last segment ends inside a record (`bytes` of it present) and nothing valid follows:
    /// a crash mid-write, a writer still appending, or a truncation.
    case torn(segment: String, offset: Int64, bytes: Int64, detail: String)
}

/// What a walk over the journal found.
public struct JournalWalkResult: Sendable {
    /// Records read (from the first segment, or from `fromSequence`).
    public var records: UInt64 = 0
    /// Sequence number of the first record seen, 0 for none.
    public var firstSequence: UInt64 = 0
    /// The last whole, valid record.
    public var lastSequence: UInt64 = 0
    /// Its chain hash (zeros for an empty journal).
    public var lastHash: [UInt8] = [UInt8](repeating: 0, count: 32)
    /// Checkpoints whose signature verified.
    public var checkpointsVerified: UInt64 = 0
    /// Checkpoints seen but not checked for lack of a key or certificate.
    public var checkpointsUnchecked: UInt64 = 0
    /// Sequence number of the last checkpoint, 0 for none.
    public var lastCheckpoint: UInt64 = 0
    /// The first damage found (the walk stops there), or nil.
    public var damage: JournalDamage?
    /// How the journal ends.
    public var tail: JournalTail = .clean
    /// The last segment and where its last whole record ends.
    public var lastSegment: String?
    /// Byte offset just after the last whole record of `lastSegment`.
    public var lastSegmentValidEnd: Int64 = 0
    /// Number of segments.
    public var segments: Int = 0
    /// The sequence number the next appended record gets.
    public var nextSequence: UInt64 = 1
}

/// Walks every segment in order, checking framing, CRC, sequence continuity, and (optionally)
/// the hash chain and checkpoint signatures, streaming with bounded memory.
public struct JournalWalker {
    /// The journal directory.
    public let directory: String
    /// Recompute and compare the hash chain (verify, recovery); off for plain reading.
    public var checkChain = true
    /// Key that checks checkpoint signatures (the certificate's public key, or the node key).
    public var checkpointKey: Key?
    /// Records before this sequence number are only framed and CRC-checked, not hashed.
    public var fromSequence: UInt64 = 0
    /// Walk only the last segment (its header carries the chain state): a fast open for writers.
    /// The other segments are checked only for how they fit together (`segmentLinkDamage`).
    public var lastSegmentOnly = false

    /// Creates a walker.
    public init(directory: String, checkChain: Bool = true, checkpointKey: Key? = nil, fromSequence: UInt64 = 0) {
        self.directory = directory
        self.checkChain = checkChain
        self.checkpointKey = checkpointKey
        self.fromSequence = fromSequence
    }

    /// Walks the journal, calling `body` for each valid record in order.
    public func walk(_ body: (RawRecord) throws -> Void = { _ in }) throws -> JournalWalkResult {
        var result = JournalWalkResult()
        var segments = try JournalFormat.segments(in: directory)
        result.segments = segments.count
        if lastSegmentOnly, let last = segments.last {
            if let damage = try segmentLinkDamage(segments) {
                result.damage = damage
                return result
            }
            segments = [last]
        }
        let hasher = StreamingSHA256()
        var prevHash = [UInt8](repeating: 0, count: 32)
        var expected: UInt64 = 0   // next sequence number expected, 0 = not yet known
        var computed = [UInt8](repeating: 0, count: 32)

        for (index, path) in segments.enumerated() {
            let isLast = index == segments.count - 1
            let reader = try SegmentReader(path: path)
            result.lastSegment = path
            result.lastSegmentValidEnd = 0
            let headerComplete: Bool
            do { headerComplete = try reader.readHeader() } catch {
                guard case let .damaged(_, found) = error else { throw error }
                result.damage = found.first
                return result
            }
            guard headerComplete else {
                if isLast {
                    result.tail = .torn(segment: path, offset: 0, bytes: reader.size(),
                                        detail: "segment header incomplete")
                    return result
                }
                result.damage = JournalDamage(kind: .badHeader, segment: path, offset: 0, sequence: expected,
                                              detail: "segment shorter than its header")
                return result
            }
            result.lastSegmentValidEnd = reader.offset
            let named = JournalFormat.firstSequence(ofSegmentNamed: (path as NSString).lastPathComponent)
            if named != reader.firstSequence || (expected != 0 && reader.firstSequence != expected) {
                result.damage = JournalDamage(
                    kind: expected != 0 && reader.firstSequence > expected ? .missingSegment : .badHeader,
                    segment: path, offset: 0, sequence: expected == 0 ? reader.firstSequence : expected,
                    detail: "segment starts at \(reader.firstSequence) (named \(named ?? 0)), expected \(expected)")
                return result
            }
            if expected == 0 {
                // Nothing ever removes a segment (the journal is kept whole), so one that does not
                // start at record 1 has lost its beginning: damage, which open refuses too.
                guard reader.firstSequence == 1 || lastSegmentOnly else {
                    result.damage = JournalDamage(kind: .missingSegment, segment: path, offset: 0, sequence: 1,
                        detail: "the journal starts at record \(reader.firstSequence): records #1–#\(reader.firstSequence - 1) "
                            + "(the first segment or segments) are missing")
                    return result
                }
                expected = reader.firstSequence
                prevHash = reader.previousHash
            } else if checkChain && reader.previousHash != prevHash {
                result.damage = JournalDamage(kind: .brokenChain, segment: path, offset: 0, sequence: expected,
                                              detail: "segment header's previous hash does not match the previous segment")
                return result
            }

            loop: while true {
                switch try reader.next() {
                case let .record(r):
                    guard r.sequence == expected, r.sequence < UInt64.max else {
                        result.damage = JournalDamage(kind: r.sequence == 0 ? .badPayload : .sequenceGap, segment: path,
                            offset: r.offset, sequence: r.sequence == 0 ? expected : r.sequence,
                            detail: "expected record \(expected), found \(r.sequence) (records deleted or reordered)")
                        return result
                    }
                    if checkChain && r.sequence >= fromSequence {
                        computed.withUnsafeMutableBytes { out in
                            prevHash.withUnsafeBytes { hasher.hash($0, r.payload, into: out.baseAddress!) }
                        }
                        guard computed.elementsEqual(r.chainHash) else {
                            result.damage = JournalDamage(kind: .brokenChain, segment: path, offset: r.offset,
                                sequence: r.sequence, detail: "chain hash does not follow from record \(r.sequence &- 1)")
                            return result
                        }
                    }
                    if EntryCodec.isCheckpoint(r.payload) {
                        if let bad = checkCheckpoint(r, previousHash: prevHash, into: &result) {
                            result.damage = JournalDamage(kind: .badCheckpoint, segment: path, offset: r.offset,
                                                          sequence: r.sequence, detail: bad)
                            return result
                        }
                    }
                    prevHash = Array(r.chainHash)
                    if result.firstSequence == 0 { result.firstSequence = r.sequence }
                    result.records += 1
                    result.lastSequence = r.sequence
                    result.lastSegmentValidEnd = reader.offset
                    expected = r.sequence + 1
                    try body(r)
                case let .end(pending):
                    if pending > 0 {
                        let tornAt = reader.offset
                        // A record that runs past the end of the file is a torn tail only when
                        // nothing valid follows: a damaged length field in the middle of the live
                        // segment looks the same, and cutting there would delete good records.
                        if isLast, try !reader.validRecordExists(after: tornAt) {
                            result.tail = .torn(segment: path, offset: tornAt, bytes: Int64(pending),
                                                detail: "\(pending) bytes of an incomplete record")
                        } else {
                            result.damage = JournalDamage(kind: isLast ? .badLength : .tornTail, segment: path, offset: tornAt,
                                sequence: expected, detail: isLast
                                    ? "the record's length runs past the end of the file, and valid records follow"
                                    : "segment ends inside a record but a later segment exists")
                            return result
                        }
                    }
                    break loop
                case .zeroFill:
                    let at = reader.offset
                    if let stray = try reader.firstNonZero(from: at) {
                        let detail = "length field 0 (zero-filled space) but byte \(stray) is not zero"
                        if isLast, try !reader.validRecordExists(after: at) {
                            // A crash can persist a later page of a batch before an earlier one.
                            result.tail = .torn(segment: path, offset: at, bytes: reader.size() - at,
                                                detail: detail + "; nothing valid follows")
                        } else {
                            result.damage = JournalDamage(kind: .badLength, segment: path, offset: at,
                                                          sequence: expected, detail: detail)
                        }
                    } else if !isLast {
                        result.damage = JournalDamage(kind: .badLength, segment: path, offset: at, sequence: expected,
                            detail: "zero-filled space in a finished segment (a later segment exists)")
                    }
                    break loop
                case let .bad(kind, offset, detail):
                    if isLast, try !reader.validRecordExists(after: offset) {
                        result.tail = .torn(segment: path, offset: offset, bytes: reader.size() - offset,
                                            detail: "\(kind.rawValue): \(detail); nothing valid follows")
                    } else {
                        result.damage = JournalDamage(kind: kind, segment: path, offset: offset, sequence: expected,
                                                      detail: detail)
                    }
                    break loop
                }
            }
            if result.damage != nil { return result }
        }
        result.lastHash = prevHash
        if expected != 0 { result.nextSequence = expected }
        return result
    }

    /// Checks a checkpoint record; returns what is wrong, or nil.
    private func checkCheckpoint(_ r: RawRecord, previousHash: [UInt8], into result: inout JournalWalkResult) -> String? {
        guard let entry = try? EntryCodec.decode(r.payload), let seal = entry.checkpoint else {
            return "checkpoint record without a readable seal"
        }
        guard r.sequence > 0, seal.upTo == r.sequence - 1 else { return "seal covers \(seal.upTo), not the record before it" }
        if checkChain || r.sequence >= fromSequence {
            guard seal.chainHash == Data(previousHash).hexString else {
                return "sealed chain hash differs from the chain"
            }
        }
        result.lastCheckpoint = r.sequence
        guard let key = checkpointKey else { result.checkpointsUnchecked += 1; return nil }
        guard let sig = Data(base64Encoded: seal.signature),
              key.verify(signature: sig, over: CheckpointSeal.signedBytes(upTo: seal.upTo, chainHash: seal.chainHash)) else {
            return "signature does not verify with the node certificate"
        }
        result.checkpointsVerified += 1
        return nil
    }
}
