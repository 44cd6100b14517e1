import Foundation
import StafettJournal
import StafettModel

extension QueueEntry {
    /// The journal record of how this message's delivery ended (`delivered`, `rejected` or
    /// `expired`), sent by `sender` (this node): with the intake id, its issuer and the event's
    /// time, as its `queued` record has them, so that follow-up and `stafett case` join the outcome
    /// to the child and count from the event. `reason` is a code or the daemon's own words, never
    /// a peer's free text.
    func outcomeRecord(_ kind: JournalKind, sender: OrganisationNumber, status: String, reason: String? = nil) -> JournalEntry {
        JournalEntry(kind: kind, messageId: messageId.rawValue, caseRef: caseRef, intakeId: intakeId,
                     intakeIdIssuer: intakeIdIssuer?.digits, eventType: eventType.rawValue, eventTime: eventTime,
                     sender: sender.digits, recipient: recipient.digits, digest: digest, status: status, reason: reason)
    }
}
