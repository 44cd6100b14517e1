import Foundation
import StafettJournal
import StafettReports

/// `stafett case REF`: the whole history of one child, by any of its identifiers (intake id,
/// dossier number, case reference, or personnummer/samordningsnummer with the node secret).
public enum CaseCommand {
    /// Usage text.
    public static let usage = """
        usage: stafett case REF [-o text|json] [--secret FILE] [--journal DIR] [--config FILE]
          REF: an intake id, a dossier number, a case reference, or a personnummer/samordningsnummer
               (looked up by its keyed hash: needs the node secret, --secret FILE or
               [node] journal-secret in the config file)
        exit: 0 ok, 2 usage error, 4 no child with that identifier, 5 the journal could not be read

        """

    /// Runs `case` with the arguments after the word `case`; returns the exit code.
    public static func run(_ args: [String], context: JournalCLIContext, console: Console) -> Int32 {
        console.buffered {
            do {
                let o = try Arguments(args, options: commonOptions, flags: [], aliases: commonAliases)
                if o.wantsHelp { console.write(usage); return ExitCode.ok }
                guard o.positionals.count == 1 else { throw UsageError("give exactly one case reference\n" + usage) }
                let ref = o.positionals[0]
                let ctx = try context.applying(o)
                let dir = try ctx.directory()
                let json = try JournalCommand.outputFormat(o, allowed: ["text", "json"]) == "json"
                let key = try ctx.personKey(for: ref)
                try JournalCLIContext.requireJournal(dir)
                guard let records = try CaseHistory.records(directory: dir, ref: key == nil ? ref : "", personKey: key) else {
                    console.error("stafett case: no child with identifier \(key == nil ? ref : String(ref.prefix(4)) + "…") in the journal")
                    return ExitCode.notFound
                }
                if json {
                    console.write("[\n")
                    for (k, e) in records.enumerated() {
                        console.write("  " + String(decoding: EntryCodec.encode(e), as: UTF8.self) + (k + 1 < records.count ? ",\n" : "\n"))
                    }
                    console.write("]\n")
                    return ExitCode.ok
                }
                var ids: [String] = [], orgs: [String] = []
                for e in records {
                    for v in [e.intakeId, e.dossierNumber, e.caseRef].compactMap({ $0 }) where !ids.contains(v) { ids.append(v) }
                    if let p = e.personKey, !ids.contains("pin:" + p.prefix(8)) { ids.append("pin:" + p.prefix(8)) }
                    for v in [e.sender, e.recipient].compactMap({ $0 }) where !orgs.contains(v) { orgs.append(v) }
                }
                console.write(terminalSafe("Child: \(ids.joined(separator: ", "))") + "\n" + terminalSafe("Organisations: \(orgs.joined(separator: ", "))") + "\n")
                console.write("\(records.count) journal records\n\n")
                let rows = records.map { e in
                    [localTime(e.timeMillis), "#\(e.sequence)", e.kind.rawValue, e.eventType ?? "-",
                     "\(e.sender ?? "?")→\(e.recipient ?? "?")", e.messageId ?? "-",
                     [e.status, e.reason].compactMap { $0 }.joined(separator: " ")]
                }
                console.write(alignedTable(["TIME", "SEQ", "KIND", "EVENT", "FROM→TO", "MESSAGE", "STATUS"], rows))
                return ExitCode.ok
            } catch let e as UsageError {
                console.error("stafett case: \(e.message)")
                return ExitCode.usage
            } catch {
                console.error("stafett case: \(error)")
                return ExitCode.journalUnreadable
            }
        }
    }
}
