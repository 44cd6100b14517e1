import Foundation
import StafettCrypto
import StafettDaemon
import StafettSignature
import StafettXML

/// `stafett sign` and `stafett verify`: the XML-DSig profile from the command line, for
/// operators checking archived messages and for agency engineers integrating with curl.
enum SignatureCommands {
    static let signUsage = """
        usage: stafett sign --key KEY.pem --cert CERT.pem FILE [-o OUT]

        Signs a case message or receipt with Stafett's XML-DSig profile (enveloped, exclusive
        C14N, SHA-256, RSA-SHA256 or ECDSA-P256-SHA256). The certificate goes into KeyInfo for
        readers; verifiers never trust it. Writes to OUT (atomically) or standard output.
        """

    static let sign = Subcommand(name: "sign", summary: "sign a case message or receipt (XML-DSig)") { argv, console in
        var code = ExitCode.ok
        guard let args = StafettTool.parse(argv, usage: signUsage, console: console,
                                           options: ["--key", "--cert", "--output"], aliases: ["-o": "--output"],
                                           exitCode: &code) else { return code }
        guard args.positionals.count == 1, let keyPath = args.value("--key"), let certPath = args.value("--cert") else {
            console.error("stafett sign: --key, --cert and exactly one FILE are required\n\(signUsage)")
            return ExitCode.usage
        }
        let file = args.positionals[0]
        do {
            let key = try Key.privateKey(path: keyPath)
            let cert = try Certificate.load(path: certPath)
            guard try cert.publicKey().hasSamePublicKey(as: key) else {
                console.error("stafett sign: \(certPath) does not certify the key in \(keyPath)")
                return ExitCode.failure
            }
            let input = try readInput(file)
            let signed = try XMLSignature.sign(xml: input, key: key, certificate: cert)
            if let out = args.value("--output") {
                try AtomicFile.write(signed, to: URL(fileURLWithPath: out), mode: 0o644)
            } else {
                console.write(signed)
            }
            return ExitCode.ok
        } catch let error as SignatureError {
            // Here, not in ExitCode's table: here the error is about the input (so the line names it), while
            // in translate a SignatureError is a failure of our own signing (3).
            console.error("stafett sign: \(file): \(error)")
            return ExitCode.invalid
        } catch {
            return ExitCode.report(error, from: "stafett sign", during: .other, console: console)
        }
    }

    static let verifyUsage = """
        usage: stafett verify --cert CERT.pem FILE...

        Verifies signed case messages or receipts against the key in CERT.pem only (a
        certificate inside the document is never trusted). Prints one line per file;
        exit 1 if any signature is missing, outside the profile or wrong.
        """

    static let verify = Subcommand(name: "verify", summary: "verify a signed case message or receipt") { argv, console in
        var code = ExitCode.ok
        guard let args = StafettTool.parse(argv, usage: verifyUsage, console: console,
                                           options: ["--cert"], exitCode: &code) else { return code }
        guard !args.positionals.isEmpty, let certPath = args.value("--cert") else {
            console.error("stafett verify: --cert and at least one FILE are required\n\(verifyUsage)")
            return ExitCode.usage
        }
        let certs: [Certificate]
        do {
            guard let data = FileManager.default.contents(atPath: certPath) else {
                console.error("stafett verify: cannot read \(certPath)")
                return ExitCode.failure
            }
            certs = try Certificate.all(pem: data, source: certPath)
        } catch {
            return ExitCode.report(error, from: "stafett verify", during: .other, console: console)
        }
        var result = ExitCode.ok
        for file in args.positionals {
            do {
                let doc = try XMLDocument.parse(try readInput(file))
                let signer = try XMLSignature.verify(doc, trustingAnyOf: certs)
                console.print("\(file): signature OK, signed by \(signer.subjectLine)")
            } catch let error as XMLError {
                console.print("\(file): INVALID: \(error)")
                result = ExitCode.invalid
            } catch let error as SignatureError {
                console.print("\(file): INVALID: \(error)")
                result = ExitCode.invalid
            } catch {
                console.error("stafett verify: \(file): \(error)")
                result = max(result, ExitCode.failure)
            }
        }
        return result
    }

    /// Reads a file, or standard input for `-`.
    static func readInput(_ path: String) throws -> Data {
        if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }
}
