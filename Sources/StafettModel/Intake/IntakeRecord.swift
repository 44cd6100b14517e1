import Foundation

/// One validated intake record: the child, the event, routing and where it came from.
public struct IntakeRecord: Sendable, Hashable, Codable {
    /// The file name as given to the parser.
    public var file: String
    /// 0-based position among the file's records (blank CSV rows not counted); with the file's
    /// digest it makes the message id.
    public var index: Int
    /// The line (CSV, JSON Lines) or array index (JSON) of the record.
    public var location: IntakeLocation
    /// The child.
    public var child: Child
    /// What happened.
    public var event: CaseEvent
    /// The record's own recipient, which wins over the configured default.
    public var recipient: OrganisationNumber?
    /// Earlier messages this record follows up.
    public var references: [MessageID]

    /// Creates a record.
    public init(file: String, index: Int, location: IntakeLocation, child: Child, event: CaseEvent,
                recipient: OrganisationNumber? = nil, references: [MessageID] = []) {
        self.file = file
        self.index = index
        self.location = location
        self.child = child
        self.event = event
        self.recipient = recipient
        self.references = references
    }

    /// The case message for this record. The record's own recipient column wins over `defaultRecipient`.
    public func caseMessage(id: MessageID, sender: OrganisationNumber, defaultRecipient: OrganisationNumber,
                            createdAt: Date) -> CaseMessage {
        CaseMessage(header: MessageHeader(messageId: id, createdAt: createdAt, sender: sender,
                                          recipient: recipient ?? defaultRecipient, references: references),
                    child: child.sentBy(sender), event: event)
    }
}

extension Child {
    /// The child as a message from `sender` carries it: an intake id issuer equal to the sender
    /// is left out (see `ChildIdentifiers.normalised`).
    func sentBy(_ sender: OrganisationNumber) -> Child {
        guard identifiers.intakeIdIssuer != nil else { return self }
        var c = self
        c.identifiers = identifiers.normalised(sender: sender)
        return c
    }
}

/// Helpers for a whole intake file.
public enum IntakeFile {
    /// The message id of record `index` in a file with this SHA-256 digest (hex):
    /// `<first 32 hex digits, lowercase>-<index>`. Reprocessing the same file after a crash
    /// yields the same ids, so the receiver sees duplicates, not new messages.
    public static func messageID(fileDigestHex: String, index: Int) -> MessageID {
        messageID(prefix: idPrefix(fileDigestHex), index: index)
    }

    /// The first 32 hex digits of a digest, lowercase: the part of the id shared by a file's records.
    static func idPrefix(_ fileDigestHex: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for b in fileDigestHex.utf8 where out.count < 32 {
            let lower: UInt8 = (b >= 0x41 && b <= 0x46) ? b + 0x20 : b
            let isDigit = lower >= 0x30 && lower <= 0x39
            let isLetter = lower >= 0x61 && lower <= 0x66
            if isDigit || isLetter { out.append(lower) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func messageID(prefix: String, index: Int) -> MessageID {
        var prefix = prefix
        let text = prefix.withUTF8 { p in
            // Laid out on the stack and made a String once: appending the pieces cost more than
            // the rest of making a case message.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: p.count + 21) { out in
                _ = out.initialize(from: p)
                out[p.count] = 0x2D
                var n = max(0, index), end = out.count
                repeat {
                    end -= 1
                    out[end] = UInt8(0x30 + n % 10)
                    n /= 10
                } while n > 0
                let digits = out.count - end
                for k in 0..<digits { out[p.count + 1 + k] = out[end + k] }
                return UnsafeBufferPointer(rebasing: out[..<(p.count + 1 + digits)]).string
            }
        }
        // Hex digits, a hyphen and a decimal index always satisfy MessageID's character rule.
        return MessageID(unchecked: text)
    }

    /// Reads a file for intake, never more than `limits.maxBytes + 1` bytes, so a huge file costs
    /// no memory (the parser then reports it as too large). Throws the file system's error.
    public static func readBounded(_ url: URL, limits: IntakeLimits = .default) throws -> Data {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        return try handle.read(upToCount: limits.maxBytes + 1) ?? Data()
    }

    /// A header row with every column, in the Swedish names and the order of `IntakeField`,
    /// separated by `;`: the start of a template for Excel.
    public static var swedishCSVHeader: String {
        IntakeField.allCases.map(\.swedishHeader).joined(separator: ";")
    }

    /// The case messages for parsed records, with ids from the file digest.
    public static func caseMessages(_ records: [IntakeRecord], fileDigestHex: String, sender: OrganisationNumber,
                                    defaultRecipient: OrganisationNumber, createdAt: Date) -> [CaseMessage] {
        let prefix = idPrefix(fileDigestHex)
        var messages: [CaseMessage] = []
        messages.reserveCapacity(records.count)
        // Field by field through the buffer, not `map` or `caseMessage`: those copy each whole
        // record before reading it.
        records.withUnsafeBufferPointer { records in
            for i in records.indices {
                let header = MessageHeader(messageId: messageID(prefix: prefix, index: records[i].index),
                                           createdAt: createdAt, sender: sender,
                                           recipient: records[i].recipient ?? defaultRecipient,
                                           references: records[i].references)
                messages.append(CaseMessage(header: header, child: records[i].child.sentBy(sender), event: records[i].event))
            }
        }
        return messages
    }
}
