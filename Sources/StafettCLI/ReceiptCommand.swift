import Foundation
import StafettJournal

/// `stafett receipt MESSAGE-ID`: prints the peer's signed receipt for a message, as the sender's
/// journal holds it, so it can be checked offline (`| stafett verify --cert PEER.crt -`) or handed
/// to an auditor.
enum ReceiptCommand {
    static let usage = """
        usage: stafett receipt MESSAGE-ID [--journal DIR | --config FILE] [-o FILE]

        Prints the signed receipt the peer returned for MESSAGE-ID (accepted or rejected), from
        the journal of the node that sent it. Exit 0 ok, 2 usage error, 3 the journal could not be
        read, 4 the journal holds no receipt for it.
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
        do {
            var directory = args.value("--journal")
            if directory == nil, let config = args.value("--config") {
                directory = try JournalCLIContext.fromConfig(path: config).journalDirectory
            }
            guard let directory else {
                console.error("stafett receipt: give --journal DIR or --config FILE")
                return ExitCode.usage
            }
            try JournalCLIContext.requireJournal(directory)
            let id = args.positionals[0]
            var found: String?
            try JournalStream(directory: directory).readAvailable { raw in
                guard let e = try? EntryCodec.decode(raw.payload), e.messageId == id, let r = e.receipt else { return }
                found = r  // the last one wins, should a message ever have been settled twice
            }
            guard let receipt = found else {
                console.error("stafett receipt: no receipt for \(id) in \(directory)")
                return JournalExit.notFound
            }
            if let out = args.value("--output") {
                try Data(receipt.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } else {
                console.write(receipt)
            }
            return ExitCode.ok
        } catch {
            console.error("stafett receipt: \(error)")
            return ExitCode.failure
        }
    }
}
