import Foundation
import StafettJournal

/// The whole history of one child, found by any of its identifiers: two streaming passes, the
/// first joins identifiers into cases, the second collects the records of the case asked for
/// (and the receipts and expiries of its messages).
public enum CaseHistory {
    /// What a look-up found.
    public enum Lookup: Sendable, Equatable {
        /// The child's records, by the event's time (the record's own time where it has none),
        /// then in journal order.
        case found([JournalEntry])
        /// No child has that identifier.
        case notFound
        /// A bare intake id that several organisations issued, each for its own child: their
        /// organisation numbers (10 digits, sorted). Ask again with one of them.
        case ambiguous(issuers: [String])
    }

    /// The records of the case that `ref` names: an intake id (of `issuer`, a 10-digit
    /// organisation number; nil: whichever organisation issued it, when only one did), a dossier
    /// number or a case reference as stored, or the personnummer key `personKey` computed by the
    /// caller. `organisation`: this node's organisation number (see `FollowupProjection.init`);
    /// nil reads it from the journal.
    public static func lookup(directory: String, ref: String, issuer: String? = nil, personKey: String?,
                              organisation: String? = nil) throws -> Lookup {
        var join = CaseJoin()
        join.ownOrganisation = try organisation.map { LiteRecord.digits(Array($0.utf8).withUnsafeBytes { $0 }) }
            ?? NodeOrganisation.infer(directory: directory)
        var events = EventNames()
        let wanted = CaseJoin.stored(ref)
        // The issuers of intake ids, and of case references, spelt as asked.
        var intakeIssuers = Set<UInt64>(), caseIssuers = Set<UInt64>()
        let collectIssuers = issuer == nil && personKey == nil
        try JournalStream(directory: directory).readAvailable { raw in
            guard var r = LiteRecord.parse(raw.payload, events: &events), r.kind != .checkpoint else { return }
            join.ownIntake(&r)
            _ = join.caseOf(r)
            guard collectIssuers else { return }
            if let v = r.intakeId, v.elementsEqual(wanted) { intakeIssuers.insert(r.intakeIdIssuer) }
            if let v = r.caseRef, v.elementsEqual(wanted) { caseIssuers.insert(r.intakeIdIssuer) }
        }
        var root: Int32?
        if let issuer {
            root = join.lookup(ref, issuer: LiteRecord.digits(Array(issuer.utf8).withUnsafeBytes { $0 }), personKey: personKey)
        } else if personKey != nil || intakeIssuers.count == 1 {
            root = join.lookup(ref, issuer: intakeIssuers.first, personKey: personKey)
        } else if intakeIssuers.count > 1 {
            return .ambiguous(issuers: intakeIssuers.sorted().map(organisationText))
        } else if let n = join.lookup(ref, issuer: nil, personKey: nil) {
            root = n  // a dossier number: national
        } else if caseIssuers.count > 1 {
            return .ambiguous(issuers: caseIssuers.sorted().map(organisationText))
        } else {
            root = join.lookup(ref, issuer: caseIssuers.first, personKey: nil)
        }
        guard let root else { return .notFound }
        var out: [JournalEntry] = []
        var messages = Set<String>()
        try JournalStream(directory: directory).readAvailable { raw in
            guard var r = LiteRecord.parse(raw.payload, events: &events), r.kind != .checkpoint else { return }
            join.ownIntake(&r)
            let mine: Bool
            let msg = r.messageId.map { LiteRecord.text($0) }
            if let n = join.rootOf(r) { mine = n == root } else { mine = msg.map { messages.contains($0) } ?? false }
            guard mine else { return }
            if let m = msg { messages.insert(m) }
            out.append(try EntryCodec.decode(raw.payload))
        }
        // A child's history reads in the order things happened to the child: a message sent today
        // about a disappearance on the 26th belongs on the 26th. Stable, so ties keep journal order.
        let ordered = out.enumerated().sorted { x, y in
            let a = x.element.eventTimeMillis ?? x.element.timeMillis, b = y.element.eventTimeMillis ?? y.element.timeMillis
            return a != b ? a < b : x.offset < y.offset
        }.map(\.element)
        return .found(ordered)
    }

    /// An organisation number as the journal writes it: 10 digits, leading zeros kept.
    static func organisationText(_ n: UInt64) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 10 - s.count)) + s
    }
}
