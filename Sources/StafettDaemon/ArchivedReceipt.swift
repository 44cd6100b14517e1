import Foundation
import StafettCrypto
import StafettJournal
import StafettModel

/// A peer's signed receipt as the sending node keeps it: in the archive beside the signed message,
/// bound by the SHA-256 its `delivered` or `rejected` record holds; or, in records written before
/// receipts went to the archive, whole in the record itself.
public enum ArchivedReceipt {
    /// Why the receipt a record binds cannot be given.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// No peer's archive directory holds the receipt (retention removed it, or it was lost).
        case gone(messageId: String, archive: String, digest: String)
        /// The archived file is not the receipt the record binds: altered or replaced.
        case mismatch(path: String, journaled: String, found: String)
        /// The archived file could not be read.
        case unreadable(SpoolError)

        public var description: String {
            switch self {
            case let .gone(id, archive, digest):
                return "the journal binds a receipt for \(id) (sha256 \(digest)), but \(archive) no longer holds it "
                    + "(no <peer>/\(id).receipt): removed by retention, or lost; only its digest remains"
            case let .mismatch(path, journaled, found):
                return "\(path) is not the receipt the journal binds: its sha256 is \(found), the journal holds \(journaled) "
                    + "(the file was altered or replaced)"
            case let .unreadable(error):
                return "cannot read the archived receipt: \(error)"
            }
        }
    }

    /// True when `record` names a receipt, held whole or bound by digest.
    public static func isNamed(by record: JournalEntry) -> Bool { record.receiptDigest != nil || record.receipt != nil }

    /// The receipt `record` names: the one it holds, else the archived one, checked against the
    /// record's digest. `archive` is the archive directory (`SpoolLayout.archivePath`).
    public static func read(for record: JournalEntry, archive: String) throws(Failure) -> Data {
        guard let digest = record.receiptDigest else { return Data((record.receipt ?? "").utf8) }
        let id = record.messageId ?? ""
        // A message delivered in a batch shares the batch's receipt, archived once under its digest.
        let batchPath = BatchReceiptArchive.path(in: archive, digest: digest.lowercased())
        let inBatch = access(batchPath, F_OK) == 0 ? batchPath : nil
        guard let path = inBatch ?? (try? MessageID(id)).flatMap({ SpoolLayout.archivedReceipt(of: $0, in: archive) }) else {
            throw .gone(messageId: id, archive: archive, digest: digest)
        }
        let read: Data?
        do { read = try AtomicFile.readIfPresent(path) } catch { throw .unreadable(error) }
        // Gone between the look-up and the read: retention ran meanwhile.
        guard let data = read else { throw .gone(messageId: id, archive: archive, digest: digest) }
        let found = SHA256.hex(data)
        guard found == digest.lowercased() else { throw .mismatch(path: path, journaled: digest, found: found) }
        return data
    }
}
