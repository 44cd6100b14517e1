import Foundation
import StafettJournal

/// Which organisation a journal belongs to, read from its first records: the sender of the first
/// message it queued or sent, or the recipient of the first it received. Old `intake-accepted`
/// and `intake-failed` records name no sender, yet their intake ids are the node's own; a report
/// that has no configuration to ask learns the node from the journal itself.
enum NodeOrganisation {
    /// How many records are read at most: a node's first intake is followed at once by the
    /// messages it queued, so the answer comes within a few records or not at all.
    static let recordsToRead = 10_000

    /// The node's organisation number, or 0 when the first records do not say.
    static func infer(directory: String) throws -> UInt64 {
        struct Found: Error {}
        var events = EventNames()
        var read = 0, own: UInt64 = 0
        do {
            try JournalStream(directory: directory).readAvailable { raw in
                read += 1
                if let r = LiteRecord.parse(raw.payload, events: &events) {
                    switch r.kind {
                    case .queued, .sent, .delivered, .rejected, .expired, .withdrawn: own = r.sender
                    case .received, .refused: own = r.recipient
                    default: break
                    }
                }
                if own != 0 || read >= recordsToRead { throw Found() }
            }
        } catch is Found {}
        return own
    }
}
