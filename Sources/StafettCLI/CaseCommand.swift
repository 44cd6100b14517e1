import Foundation
import StafettJournal
import StafettModel
import StafettReports

/// `stafett case REF`: the whole history of one child, by any of its identifiers (intake id,
/// dossier number, case reference, or personnummer/samordningsnummer with the node secret).
public enum CaseCommand {
    /// Usage text.
    public static let usage = """
        usage: stafett case REF [-o text|json|csv] [--utc] [--secret FILE] [--journal DIR] [--config FILE]
          REF: an intake id, a dossier number, a case reference, or a personnummer/samordningsnummer
               (looked up by its keyed hash: needs the node secret, --secret FILE or
               [node] journal-secret in the config file).
               An intake id is unique only within the organisation that issued it: ISSUER:ID names
               one (ISSUER: its organisationsnummer, 2120001165 or 212000-1165). A bare ID that
               several organisations issued lists them and asks which (exit 2).
          The history is ordered by the event's time (when the child was registered, went missing),
          falling back to when the record was journaled; both are shown, in local time (--utc: UTC).
          Organisations are named as in the config file. -o csv: for Excel (UTF-8 with BOM, ';').
        exit: 0 ok, 2 usage error (also: a bare intake id of several issuers),
              4 no child with that identifier, 5 the journal could not be read

        """

    /// Runs `case` with the arguments after the word `case`; returns the exit code.
    public static func run(_ args: [String], context: JournalCLIContext, console: Console) -> Int32 {
        console.buffered {
            do {
                let o = try Arguments(args, options: commonOptions, flags: [utcFlag], aliases: commonAliases)
                if o.wantsHelp { console.write(usage); return ExitCode.ok }
                guard o.positionals.count == 1 else { throw UsageError("give exactly one case reference\n" + usage) }
                let (issuer, ref) = splitIssuer(o.positionals[0])
                let ctx = try context.applying(o)
                let dir = try ctx.directory()
                let format = try JournalCommand.outputFormat(o, allowed: ["text", "json", "csv"])
                let times = TimeText(utc: o.has(utcFlag))
                let key = issuer == nil ? try ctx.personKey(for: ref) : nil
                try JournalCLIContext.requireJournal(dir)
                let records: [JournalEntry]
                switch try CaseHistory.lookup(directory: dir, ref: key == nil ? ref : "", issuer: issuer, personKey: key,
                                              organisation: ctx.organisation) {
                case .notFound:
                    let shown = key == nil ? o.positionals[0] : String(ref.prefix(4)) + "…"
                    console.error("stafett case: no child with identifier \(shown) in the journal")
                    return ExitCode.notFound
                case let .ambiguous(issuers):
                    console.error(terminalSafe(ambiguity(ref, issuers: issuers, names: ctx.organisationNames)))
                    return ExitCode.usage
                case let .found(found):
                    records = found
                }
                if format == "csv" {
                    let zone = times.zoneNote
                    console.write(Data(ExcelCSV.render(
                        header: ["EVENT TIME (\(zone))", "RECORDED (\(zone))", "SEQ", "KIND", "EVENT", "FROM", "TO", "MESSAGE", "STATUS", "REASON"],
                        rows: records.map { e in
                            [e.eventTimeMillis.map { times.cell(millis: $0) } ?? "", times.cell(millis: e.timeMillis), String(e.sequence),
                             e.kind.rawValue, e.eventType ?? "", e.sender ?? "", e.recipient ?? "", e.messageId ?? "", e.status ?? "", e.reason ?? ""]
                        })))
                    return ExitCode.ok
                }
                if format == "json" {
                    console.write("[\n")
                    for (k, e) in records.enumerated() {
                        console.write("  " + String(decoding: EntryCodec.encode(e), as: UTF8.self) + (k + 1 < records.count ? ",\n" : "\n"))
                    }
                    console.write("]\n")
                    return ExitCode.ok
                }
                var ids: [String] = [], orgs: [String] = []
                for e in records {
                    let intake = e.intakeId.map { id in e.intakeIdIssuerOrSender.map { $0 + ":" + id } ?? id }
                    for v in [intake, e.dossierNumber, e.caseRef].compactMap({ $0 }) where !ids.contains(v) { ids.append(v) }
                    if let p = e.personKey, !ids.contains("pin:" + p.prefix(8)) { ids.append("pin:" + p.prefix(8)) }
                    for v in [e.sender, e.recipient].compactMap({ $0 }) where !orgs.contains(v) { orgs.append(v) }
                }
                let named = orgs.map { o in ctx.organisationNames[o].map { "\($0) (\(o))" } ?? o }
                console.write(terminalSafe("Child: \(ids.joined(separator: ", "))") + "\n" + terminalSafe("Organisations: \(named.joined(separator: ", "))") + "\n")
                console.write("\(records.count) journal records\n\n")
                let rows = records.map { e in
                    [e.eventTimeMillis.map { times.text(millis: $0, .seconds) } ?? "-", times.text(millis: e.timeMillis, .seconds),
                     "#\(e.sequence)", e.kind.rawValue, e.eventType ?? "-",
                     "\(ctx.name(e.sender))→\(ctx.name(e.recipient))", e.messageId ?? "-",
                     [e.status, e.reason].compactMap { $0 }.joined(separator: " ")]
                }
                console.write(alignedTable(["EVENT TIME", "RECORDED", "SEQ", "KIND", "EVENT", "FROM→TO", "MESSAGE", "STATUS"], rows,
                                           width: console.width, shrinkable: [7]))
                return ExitCode.ok
            } catch {
                return ExitCode.report(error, from: "stafett case", during: .readingJournal, console: console)
            }
        }
    }

    /// `ISSUER:ID` split into the issuer's 10 digits and the id, when what precedes the first colon
    /// is an organisationsnummer (`2120001165` or `212000-1165`); otherwise no issuer and the whole
    /// reference (an intake id may itself hold a colon).
    static func splitIssuer(_ ref: String) -> (issuer: String?, id: String) {
        guard let colon = ref.firstIndex(of: ":"), colon != ref.startIndex, ref.index(after: colon) != ref.endIndex,
              let org = try? OrganisationNumber(String(ref[..<colon])) else { return (nil, ref) }
        return (org.digits, String(ref[ref.index(after: colon)...]))
    }

    /// What an operator reads when a bare intake id belongs to several organisations' children.
    static func ambiguity(_ id: String, issuers: [String], names: [String: String]) -> String {
        var s = "stafett case: intake id \(id) was issued by \(issuers.count) organisations, each for its own child; "
            + "name one as ISSUER:ID:\n"
        for i in issuers {
            s += "  stafett case \(i):\(id)" + (names[i].map { "    (\($0))" } ?? "") + "\n"
        }
        return s.hasSuffix("\n") ? String(s.dropLast()) : s
    }
}
