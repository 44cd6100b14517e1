import Foundation
import StafettJournal

/// The whole history of one child, found by any of its identifiers: two streaming passes, the
/// first joins identifiers into cases, the second collects the records of the case asked for
/// (and the receipts and expiries of its messages).
public enum CaseHistory {
    /// Records of the case that `ref` names (an intake id, dossier number or case reference as
    /// stored, or the personnummer key `personKey` computed by the caller), in journal order;
    /// nil when no case has that identifier.
    public static func records(directory: String, ref: String, personKey: String?) throws -> [JournalEntry]? {
        var join = CaseJoin()
        var events = EventNames()
        try JournalStream(directory: directory).readAvailable { raw in
            guard let r = LiteRecord.parse(raw.payload, events: &events), r.kind != .checkpoint else { return }
            _ = join.caseOf(r)
        }
        guard let root = join.lookup(ref, personKey: personKey) else { return nil }
        var out: [JournalEntry] = []
        var messages = Set<String>()
        try JournalStream(directory: directory).readAvailable { raw in
            guard let r = LiteRecord.parse(raw.payload, events: &events), r.kind != .checkpoint else { return }
            let mine: Bool
            let msg = r.messageId.map { LiteRecord.text($0) }
            if let n = join.rootOf(r) { mine = n == root } else { mine = msg.map { messages.contains($0) } ?? false }
            guard mine else { return }
            if let m = msg { messages.insert(m) }
            out.append(try EntryCodec.decode(raw.payload))
        }
        return out
    }
}
