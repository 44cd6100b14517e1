import Foundation
import StafettCrypto

/// Where signed batch receipts are kept: once per batch, as `archive/receipts/<digest>.xml`, the
/// digest being SHA-256 (lowercase hex) of the signed bytes. Each message's journal record names
/// the file by that digest (`JournalEntry.receiptDigest`), so the record stays small and the
/// receipt, which covers many messages, is stored once; the digest binds the file to the journal.
public enum BatchReceiptArchive {
    /// The directory of batch receipts inside an archive directory (`SpoolLayout.archivePath`).
    public static func directory(in archive: String) -> String { SpoolLayout.join(archive, "receipts") }

    /// The file of the batch receipt with `digest` inside an archive directory.
    public static func path(in archive: String, digest: String) -> String {
        SpoolLayout.join(directory(in: archive), digest + ".xml")
    }

    /// The name a signed batch receipt is archived and referred to by.
    public static func digest(of signed: Data) -> String { SHA256.hex(signed) }

    /// Writes `signed` (not yet synced) for a `CommitBatcher` round, which makes it durable under
    /// its final name before the journal records that name it: a record never points at nothing.
    /// `digest` is `digest(of: signed)` when the caller has it already.
    static func stage(_ signed: Data, digest known: String? = nil, archive: String) throws(SpoolError) -> (file: (temporary: String, final: String), digest: String) {
        let digest = known ?? digest(of: signed)
        return (try AtomicFile.stage(signed, in: directory(in: archive), as: digest + ".xml"), digest)
    }

    /// The archived batch receipt with `digest`, checked against it; nil when there is no such file.
    public static func read(digest: String, archive: String) throws -> Data? {
        guard let data = try AtomicFile.readIfPresent(path(in: archive, digest: digest)) else { return nil }
        guard Self.digest(of: data) == digest else { throw BatchReceiptArchiveError.digestMismatch(path: path(in: archive, digest: digest)) }
        return data
    }
}

/// An archived batch receipt that is not what the journal says.
public enum BatchReceiptArchiveError: Error, CustomStringConvertible {
    /// The file's content does not have the digest it is named by (and the journal records).
    case digestMismatch(path: String)

    public var description: String {
        switch self {
        case .digestMismatch(let path): return "\(path): the content does not match the digest in its name and in the journal (altered or damaged)"
        }
    }
}
