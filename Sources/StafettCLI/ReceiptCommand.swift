import Foundation
import StafettJournal

/// `stafett receipt MESSAGE-ID`: prints the peer's signed receipt for a message, as the sender's
/// journal holds it, so it can be checked offline (`| stafett verify --cert PEER.crt -`) or handed
/// to an auditor.
enum ReceiptCommand {
    static let usage = """
        usage: stafett receipt MESSAGE-ID [--journal DIR | --config FILE] [-o FILE]

        Prints the signed receipt the peer returned for MESSAGE-ID (accepted or rejected), from
        the journal of the node that sent it. Exit 0 ok, 2 usage error, 3 FILE could not be written,
        4 the journal holds no receipt for it, 5 the journal could not be read.
        Check it with: stafett receipt ID | stafett verify --cert PEER-SIGNING.crt -
        """

    static let command = Subcommand(name: "receipt", summary: "print the signed receipt of a sent message, from the journal") { argv, console in
        var code = ExitCode.ok
        let argv = JournalCLIContext.withDefaultConfig(argv)
        guard let args = StafettTool.parse(argv, usage: usage, console: console, options: ["--journal", "--config", "--output"],
                                           aliases: ["-o": "--output"], exitCode: &code) else { return code }
        guard args.positionals.count == 1 else {
            console.error("stafett receipt: name exactly one MESSAGE-ID\n\(usage)")
            return ExitCode.usage
        }
        let id = args.positionals[0]
        let receipt: String
        do {
            let directory = try JournalCLIContext().applying(args).directory()
            try JournalCLIContext.requireJournal(directory)
            var found: String?
            try JournalStream(directory: directory).readAvailable { raw in
                guard let e = try? EntryCodec.decode(raw.payload), e.messageId == id, let r = e.receipt else { return }
                found = r  // the last one wins, should a message ever have been settled twice
            }
            guard let r = found else {
                console.error("stafett receipt: no receipt for \(id) in \(directory)")
                return ExitCode.notFound
            }
            receipt = r
        } catch let e as UsageError {
            console.error("stafett receipt: \(e.message)")
            return ExitCode.usage
        } catch {
            console.error("stafett receipt: \(error)")
            return ExitCode.journalUnreadable
        }
        guard let out = args.value("--output") else {
            console.write(receipt)
            return ExitCode.ok
        }
        do {
            try Data(receipt.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            return ExitCode.ok
        } catch {
            console.error("stafett receipt: \(error)")
            return ExitCode.failure
        }
    }
}
