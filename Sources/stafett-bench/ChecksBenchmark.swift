import Foundation
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettSignature
import StafettXML

/// Where a hand-off's CPU goes in the two checks each side makes on what it receives: the
/// receiver's parse + XSD + signature + digest of a case message, and the sender's parse + XSD +
/// signature of the receipt. Beside the bare EVP verify of the same key in the same run, since
/// that verify is the floor of both (issue 4's breakdown).
enum ChecksBenchmark {
    static func run(seconds: Double) throws {
        print("== checks: what each side does to a document it receives, one thread, µs of CPU per document")
        let ca = try CertificateAuthority.create()
        let sender = try OrganisationNumber("2120001165"), recipient = try OrganisationNumber("2021002163")
        let node = try ca.issueNode(NodeIdentity(organisationName: "Trelleborgs kommun", organisationNumber: sender, host: "kommun"))
        let agency = try ca.issueNode(NodeIdentity(organisationName: "Migrationsverket", organisationNumber: recipient, host: "verket"))
        let file = PipelineBenchmark.intakeFile(records: 1)
        let records = try IntakeParser.records(data: file, fileName: "bench.csv", referenceDate: Date())
        let messages = IntakeFile.caseMessages(records, fileDigestHex: SHA256.hex(file), sender: sender,
                                               defaultRecipient: recipient, createdAt: Date())
        let signed = try MessageSealer(key: node.key, certificate: node.certificate).seal(messages[0]).signedXML
        let receiptSigner = try XMLSignature.Signer(key: agency.key, certificate: agency.certificate)
        let receipt = Receipt(receiptId: MessageID.random(), refToMessageId: messages[0].header.messageId, issuedAt: Date(),
                              issuer: recipient, addressee: sender, status: .accepted, digest: String(repeating: "A", count: 43) + "=")
        let signedReceipt = try ReceiptSealer.seal(receipt, with: receiptSigner)
        let trusted = [node.certificate], agencyTrusted = [agency.certificate]
        let payload = Data(repeating: 0x41, count: 700)
        let signature = try node.key.sign(payload)
        guard node.key.verify(signature: signature, over: payload) else { throw StartupError("bare verify failed") }

        let stages: [(String, () throws -> Void)] = [
            ("bare EVP verify (anchor)", { _ = node.key.verify(signature: signature, over: payload) }),
            ("receiver: parse", { _ = try XMLDocument.parse(signed) }),
            ("receiver: parse + XSD + decode", {
                let doc = try XMLDocument.parse(signed)
                try SchemaValidator.caseMessage.validate(doc)
                _ = try CaseXML.decode(doc)
            }),
            ("receiver: all checks (+ signature + digest)", {
                let doc = try XMLDocument.parse(signed)
                try SchemaValidator.caseMessage.validate(doc)
                _ = try CaseXML.decode(doc)
                _ = ReceiptDigest.of(try XMLSignature.verification(of: doc, trustingAnyOf: trusted))
            }),
            ("receiver: sign the receipt", { _ = try ReceiptSealer.seal(receipt, with: receiptSigner) }),
            ("sender: receipt checks (parse + XSD + signature + decode)", {
                let doc = try XMLDocument.parse(signedReceipt)
                try SchemaValidator.receipt.validate(doc)
                _ = try XMLSignature.verify(doc, trustingAnyOf: agencyTrusted)
                _ = try ReceiptXML.decode(doc)
            }),
        ]
        // STAFETT_BENCH_CALLS=N calls each stage exactly N times (after one warm-up call), so that
        // instruction counts under `valgrind --tool=callgrind` divide by a known number.
        let calls = ProcessInfo.processInfo.environment["STAFETT_BENCH_CALLS"].flatMap { Int($0) }
        for (label, body) in stages {
            let cpu = try calls.map { n in try fixedCalls(n, body) } ?? PipelineBenchmark.cpuMicros(seconds: seconds, body)
            print("  " + label.padding(toLength: 58, withPad: " ", startingAt: 0) + String(format: " %7.1f µs", cpu))
        }
    }

    /// µs of CPU per call over exactly `n` calls after a warm-up call.
    private static func fixedCalls(_ n: Int, _ body: () throws -> Void) throws -> Double {
        try body()
        let cpu0 = PipelineBenchmark.threadCPUSeconds()
        for _ in 0..<n { try body() }
        return (PipelineBenchmark.threadCPUSeconds() - cpu0) * 1e6 / Double(max(n, 1))
    }
}
