import Foundation

/// Something wrong inside the journal files, with where it is and what the operator should know.
public struct JournalDamage: Sendable, Hashable, CustomStringConvertible {
    /// What kind of damage.
    public enum Kind: String, Sendable, Hashable {
        /// A segment header that is not the journal's (bad magic, CRC or sequence).
        case badHeader = "bad segment header"
        /// A record whose CRC-32C does not match its bytes.
        case badCRC = "bad CRC"
        /// A record whose length field cannot be right.
        case badLength = "bad length"
        /// A record whose payload is not the journal's JSON.
        case badPayload = "bad payload"
        /// A record whose chain hash does not follow from the previous record.
        case brokenChain = "broken hash chain"
        /// Sequence numbers that do not follow one another (records deleted or reordered).
        case sequenceGap = "sequence gap"
        /// A checkpoint whose signature or sealed hash does not verify.
        case badCheckpoint = "bad checkpoint"
        /// A segment that should be there is not.
        case missingSegment = "missing segment"
        /// The last segment ends inside a record: a crash mid-write, or a truncation.
        case tornTail = "torn tail"
    }

    /// What kind of damage.
    public var kind: Kind
    /// The segment file.
    public var segment: String
    /// Byte offset in the segment where the bad record (or header) starts.
    public var offset: Int64
    /// The sequence number of the bad record, when it can be told (otherwise the one expected there).
    public var sequence: UInt64
    /// Details for the operator.
    public var detail: String

    /// Creates a damage report.
    public init(kind: Kind, segment: String, offset: Int64, sequence: UInt64, detail: String) {
        self.kind = kind
        self.segment = segment
        self.offset = offset
        self.sequence = sequence
        self.detail = detail
    }

    /// Where and what, as `stafett journal verify` and the daemon's check after start name the
    /// first bad record: "#N in SEGMENT at offset O: kind: detail".
    public var located: String {
        "#\(sequence) in \((segment as NSString).lastPathComponent) at offset \(offset): \(kind.rawValue): \(detail)"
    }

    public var description: String {
        "\(kind.rawValue) at record \(sequence) (\((segment as NSString).lastPathComponent) offset \(offset)): \(detail)"
    }
}

/// Why a journal operation failed.
public enum JournalError: Error, Sendable, CustomStringConvertible {
    /// A system call failed on a journal file.
    case io(path: String, operation: String, errno: Int32)
    /// Another process holds the journal's writer lock.
    case locked(directory: String)
    /// Damage outside the tail: appending is refused until an operator acts.
    case damaged(directory: String, damage: [JournalDamage])
    /// The node secret for personnummer keys cannot be used.
    case badSecret(path: String, reason: String)
    /// The journal was closed, or an earlier write failed and it refuses further appends.
    case closed(reason: String)
    /// An entry too large for one record.
    case entryTooLarge(bytes: Int)
    /// A checkpoint could not be signed.
    case signing(String)
    /// A cursor that does not belong to this journal.
    case badCursor(String)

    public var description: String {
        switch self {
        case let .io(path, op, e): return "\(op) \(path): \(String(cString: strerror(e)))"
        case let .locked(dir):
            return "journal \(dir) is locked by another writer (is stafettd already running?)"
        case let .damaged(dir, damage):
            let list = damage.prefix(5).map { "  " + $0.description }.joined(separator: "\n")
            return "journal \(dir) is damaged; appending is refused until an operator acts "
                + "(run `stafett journal verify`, then move the damaged segments aside; see docs/journal-format.md):\n" + list
        case let .badSecret(path, reason): return "node secret \(path): \(reason)"
        case let .closed(reason): return "journal closed: \(reason)"
        case let .entryTooLarge(bytes): return "journal entry of \(bytes) bytes exceeds the record limit"
        case let .signing(why): return "cannot sign checkpoint: \(why)"
        case let .badCursor(why): return "bad cursor: \(why)"
        }
    }
}
