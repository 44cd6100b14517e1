import Foundation
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettSignature
import StafettXML

/// `stafett validate` and `stafett translate`: what a case worker or an integrator runs on an
/// intake file before (or instead of) dropping it into the outbox.
enum IntakeCommands {
    static let validateUsage = """
        usage: stafett validate FILE...

        Checks intake files (CSV as Excel exports it, JSON, JSON Lines) and case XML or receipt
        XML against the schema. Prints one line per record (or per XML document) and every
        error with its file, row (as Excel numbers it) or index, intake id, field and reason:
        in Swedish, as the case workers' .errors.txt says it, with the English below it.
        Exit 1 if anything is invalid.
        """

    static let validate = Subcommand(name: "validate", summary: "check intake files or case XML, one line per record") { argv, console in
        var code = ExitCode.ok
        guard let args = StafettTool.parse(argv, usage: validateUsage, console: console, exitCode: &code) else { return code }
        guard !args.positionals.isEmpty else {
            console.error("stafett validate: name at least one FILE\n\(validateUsage)")
            return ExitCode.usage
        }
        var result = ExitCode.ok
        for path in args.positionals {
            guard let data = FileManager.default.contents(atPath: path) else {
                console.error("stafett validate: \(path): cannot read the file")
                result = max(result, ExitCode.failure)
                continue
            }
            if IntakeProcessor.looksLikeXML(data) {
                if !validateXML(data, path: path, console: console) { result = max(result, ExitCode.invalid) }
                continue
            }
            switch IntakeParser.parse(data: consume data, fileName: path, referenceDate: Date()) {
            case .success(let records):
                for r in records {
                    let ids = [r.child.identifiers.intakeId, r.child.identifiers.dossierNumber].compactMap { $0 }
                    console.print("\(path) \(r.location): ok \(r.event.type.rawValue) \(ids.joined(separator: " "))")
                }
            case .failure(let failure):
                for (swedish, english) in zip(failure.swedishLines, failure.englishLines) {
                    console.print(swedish)
                    console.print("  " + english)
                }
                console.print("\(path): INVALID: \(failure.errors.count) error(s); nothing in this file would be sent")
                result = max(result, ExitCode.invalid)
            }
        }
        return result
    }

    /// Validates one case message or receipt document; prints one line.
    static func validateXML(_ data: Data, path: String, console: Console) -> Bool {
        do {
            let doc = try XMLDocument.parse(data)
            let ns = doc.rootNamespace
            let note = XMLSignature.carriesSignature(doc) ? " (signed; check with stafett verify)" : ""
            if ns == ReceiptXML.namespace {
                try SchemaValidator.receipt.validate(doc)
                let r = try ReceiptXML.decode(doc)
                console.print("\(path): ok receipt \(r.receiptId) \(r.status.rawValue)\(note)")
            } else {
                try SchemaValidator.caseMessage.validate(doc)
                let m = try CaseXML.decode(doc)
                console.print("\(path): ok case message \(m.header.messageId) \(m.event.type.rawValue) from \(m.header.sender) to \(m.header.recipient)\(note)")
            }
            return true
        } catch {
            console.print("\(path): INVALID: \(error)")
            return false
        }
    }

    static let translateUsage = """
        usage: stafett translate FILE --sender ORGNR --recipient ORGNR [-o DIR] [--key KEY.pem --cert CERT.pem]

        Turns every record of an intake file into a case XML message valid against case-1.xsd,
        one file per record named after its message id (derived from the file's digest and the
        record's index, so translating the same file twice gives the same ids). A record's own
        recipient column wins over --recipient. With --key and --cert the messages are signed.
        Writes to DIR (default: the current directory). All or nothing: an invalid record
        means no file is written.
        """

    static let translate = Subcommand(name: "translate", summary: "turn an intake file into case XML, one file per record") { argv, console in
        var code = ExitCode.ok
        guard let args = StafettTool.parse(argv, usage: translateUsage, console: console,
                                           options: ["--sender", "--recipient", "--output", "--key", "--cert"],
                                           aliases: ["-o": "--output"], exitCode: &code) else { return code }
        guard args.positionals.count == 1 else {
            console.error("stafett translate: name exactly one FILE\n\(translateUsage)")
            return ExitCode.usage
        }
        let path = args.positionals[0]
        do {
            let sender = try OrganisationNumber(try args.required("--sender"))
            let recipient = try OrganisationNumber(try args.required("--recipient"))
            let outDir = URL(fileURLWithPath: args.value("--output") ?? ".")
            var sealer: MessageSealer? = nil
            if let k = args.value("--key") {
                let c = try args.required("--cert")
                sealer = try MessageSealer(key: try Key.privateKey(path: k), certificate: try Certificate.load(path: c))
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                console.error("stafett translate: \(path): cannot read the file")
                return ExitCode.failure
            }
            let records: [IntakeRecord]
            switch IntakeParser.parse(data: data, fileName: path, referenceDate: Date()) {
            case .success(let r): records = r
            case .failure(let failure):
                for e in failure.errors { console.error(e.description) }
                console.error("\(path): \(failure.errors.count) error(s); nothing written")
                return ExitCode.invalid
            }
            let messages = IntakeFile.caseMessages(records, fileDigestHex: SHA256.hex(data), sender: sender,
                                                   defaultRecipient: recipient, createdAt: Date())
            // Build every document before writing any, so an error leaves nothing half-done.
            var outputs: [(String, Data)] = []
            for m in messages {
                if let sealer {
                    outputs.append((m.header.messageId.rawValue, try sealer.seal(m).signedXML))
                } else {
                    let xml = CaseXML.encode(m)
                    try SchemaValidator.caseMessage.validate(try XMLDocument.parse(xml))
                    outputs.append((m.header.messageId.rawValue, xml))
                }
            }
            for (id, xml) in outputs {
                let url = outDir.appendingPathComponent(id + ".xml")
                try AtomicFile.write(xml, to: url, mode: 0o644)
                console.print(url.path)
            }
            return ExitCode.ok
        } catch {
            return ExitCode.report(error, from: "stafett translate", during: .other, usageText: translateUsage, console: console)
        }
    }
}
