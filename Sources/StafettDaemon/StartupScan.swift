import Foundation
import StafettJournal
import StafettModel

/// What `stafettd` needs from its journal at start, read in one pass over the recent segments
/// only: the messages accepted within the duplicate window (the receiver's memory of them), and
/// the outcomes already journaled for messages still in the queue (a crash between journaling an
/// outcome and taking the message out of the queue leaves such messages, DeliveryRecovery.swift).
///
/// Both lie in the journal's recent end: an accepted message is remembered only while its record
/// is younger than the window, and a message's outcome is journaled after it was queued. The pass
/// starts at the segment that can hold the oldest of those (`JournalStream.firstSequence(ofRecordsSince:)`),
/// so start-up costs the window's records, not the whole journal's.
struct StartupScan {
    /// Accepted messages by duplicate key (`Receiver.key`), those journaled since the cutoff.
    var accepted: [String: AcceptedMessage] = [:]
    /// The outcome (`delivered`, `rejected` or `expired`) journaled for each queued message id that has one.
    var outcomes: [String: JournalKind] = [:]
    /// Records whose payload did not decode although the pass needed them, by sequence number: a
    /// `received` among them is a message a resend would be accepted again for, an outcome among
    /// them one a queued message would be sent again for (the CRC held, so it is not damage).
    var unreadable: [UInt64] = []
    /// The first record the pass read from (1: the whole journal).
    var fromSequence: UInt64 = 1
    /// Records the pass read.
    var recordsRead = 0

    /// Time read before the earliest record needed, for records whose times run a little out of
    /// order (entries made before they were appended, the clock set back): a day, cheap beside a
    /// window of at least two.
    static let clockSlack: TimeInterval = 86_400

    /// Reads what start-up needs: messages accepted since `acceptedSince` (none when nil), and
    /// outcomes of the queued messages `queued` (an outcome is journaled after its message was
    /// queued, so the pass reaches back to the oldest of them when that is earlier than the window).
    static func read(journal: String, acceptedSince: Date?, queued: [QueueEntry]) throws -> StartupScan {
        var scan = StartupScan()
        let ids = Set(queued.map(\.messageId.rawValue))
        guard let earliest = (queued.map(\.queuedAt) + [acceptedSince].compactMap { $0 }).min() else { return scan }
        scan.fromSequence = try JournalStream.firstSequence(ofRecordsSince: millis(earliest),
                                                            slackMillis: millis(clockSlack), in: journal)
        let cutoff = acceptedSince.map(millis) ?? .max
        try JournalStream(directory: journal, after: scan.fromSequence - 1).readAvailable { raw in
            scan.recordsRead += 1
            // Only what is asked for is decoded whole: received records, and outcomes while messages are queued.
            if let (kind, _) = EntryCodec.kindAndTime(raw.payload) {
                guard (kind == .received && acceptedSince != nil) || (!ids.isEmpty && Self.outcomeKinds.contains(kind)) else { return }
            }
            guard let e = try? EntryCodec.decode(raw.payload) else { scan.unreadable.append(raw.sequence); return }
            switch e.kind {
            case .received:
                guard e.timeMillis >= cutoff, let from = e.sender, let id = e.messageId else { return }
                scan.accepted["\(from)/\(id)"] = AcceptedMessage(digest: e.digest, acceptedAt: e.time, sequence: raw.sequence)
            case .delivered, .rejected, .expired:
                if let id = e.messageId, ids.contains(id) { scan.outcomes[id] = e.kind }
            default:
                break
            }
        }
        return scan
    }

    static let outcomeKinds: Set<JournalKind> = [.delivered, .rejected, .expired]

    private static func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }
    private static func millis(_ interval: TimeInterval) -> Int64 { Int64(interval * 1000) }
}
