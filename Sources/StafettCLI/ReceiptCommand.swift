import Foundation
import StafettDaemon
import StafettJournal

/// `stafett receipt MESSAGE-ID`: prints the peer's signed receipt for a message, as the sending
/// node keeps it (in its archive, bound by digest in its journal; whole in the journal for records
/// written before that), so it can be checked offline (`| stafett verify --cert PEER.crt -`) or
/// handed to an auditor.
enum ReceiptCommand {
    static let usage = """
        usage: stafett receipt MESSAGE-ID [--journal DIR --archive DIR | --config FILE] [-o FILE]

        Prints the signed receipt the peer returned for MESSAGE-ID (accepted or rejected). The
        journal of the node that sent it binds the receipt by its SHA-256; the receipt itself is
        in the spool's archive (ARCHIVE/<peer>/MESSAGE-ID.receipt), checked against that digest.
        Exit 0 ok, 1 the archived receipt does not match the journal (altered or replaced),
        2 usage error, 3 FILE could not be written or the archive could not be read,
        4 the journal holds no receipt for it, or the archive no longer does (retention removed
        it), 5 the journal could not be read.
        Check it with: stafett receipt ID | stafett verify --cert PEER-SIGNING.crt -
        """

    static let command = Subcommand(name: "receipt", summary: "print the signed receipt of a sent message, from the archive") { argv, console in
        var code = ExitCode.ok
        let argv = JournalCLIContext.withDefaultConfig(argv)
        guard let args = StafettTool.parse(argv, usage: usage, console: console, options: ["--journal", "--config", "--archive", "--output"],
                                           aliases: ["-o": "--output"], exitCode: &code) else { return code }
        guard args.positionals.count == 1 else {
            console.error("stafett receipt: name exactly one MESSAGE-ID\n\(usage)")
            return ExitCode.usage
        }
        let id = args.positionals[0]
        let record: JournalEntry
        let context: JournalCLIContext
        let directory: String
        do {
            context = try JournalCLIContext().applying(args)
            directory = try context.directory()
            try JournalCLIContext.requireJournal(directory)
            var found: JournalEntry?
            try JournalStream(directory: directory).readAvailable { raw in
                guard let e = try? EntryCodec.decode(raw.payload), e.messageId == id, ArchivedReceipt.isNamed(by: e) else { return }
                found = e  // the last one wins, should a message ever have been settled twice
            }
            guard let e = found else {
                console.error("stafett receipt: no receipt for \(id) in \(directory)")
                return ExitCode.notFound
            }
            record = e
        } catch {
            return ExitCode.report(error, from: "stafett receipt", during: .readingJournal, console: console)
        }
        let receipt: Data
        if record.receiptDigest != nil {
            guard let archive = context.archiveDirectory else {
                console.error("stafett receipt: the journal binds the receipt for \(id) by its digest; it is in the spool's archive: "
                              + "give --archive DIR or --config FILE")
                return ExitCode.usage
            }
            do throws(ArchivedReceipt.Failure) { receipt = try ArchivedReceipt.read(for: record, archive: archive) } catch {
                // Retention journals each removal with the file's digest: say which record, and when.
                if case let .gone(_, _, digest) = error, let removal = Self.removal(of: digest, in: directory) {
                    console.error("stafett receipt: the receipt for \(id) (sha256 \(digest)) was removed by retention at "
                                  + "\(ISO8601DateFormatter().string(from: removal.entry.time)): journal record #\(removal.sequence) "
                                  + "removed \(removal.entry.file ?? "?"); only its digest remains")
                    return ExitCode.notFound
                }
                return ExitCode.report(error, from: "stafett receipt", during: .readingJournal, console: console)
            }
        } else {
            receipt = Data((record.receipt ?? "").utf8)
        }
        guard let out = args.value("--output") else {
            console.write(String(decoding: receipt, as: UTF8.self))
            return ExitCode.ok
        }
        do {
            try receipt.write(to: URL(fileURLWithPath: out), options: .atomic)
            return ExitCode.ok
        } catch {
            return ExitCode.report(error, from: "stafett receipt", during: .other, console: console)
        }
    }

    /// The last `removed` record of a file whose SHA-256 is `digest`, with its sequence number.
    static func removal(of digest: String, in directory: String) -> (sequence: UInt64, entry: JournalEntry)? {
        let wanted = digest.lowercased()
        var found: (sequence: UInt64, entry: JournalEntry)?
        try? JournalStream(directory: directory).readAvailable { raw in
            guard let e = try? EntryCodec.decode(raw.payload), e.kind == .removed, e.digest?.lowercased() == wanted else { return }
            found = (raw.sequence, e)
        }
        return found
    }
}
