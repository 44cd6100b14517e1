import Foundation
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettXML

/// Issue 2's figure: translate + validate + sign throughput beside the bare OpenSSL sign rate of
/// the same key, both on one thread in the same run, so the ratio survives a noisy machine.
enum PipelineBenchmark {
    /// A small realistic record, as a case worker's Excel export has it.
    static let header = "Ärendenummer;Förnamn;Efternamn;Födelsedatum;Uppskattat födelsedatum;Kön;Medborgarskap;Språk;Händelse;Händelsetid;Plats;Placering"

    static func intakeFile(records: Int) -> Data {
        var text = header + "\r\n"
        for i in 0..<records {
            text += "TBG-2015-\(String(format: "%06d", i));Ahmad;Rahimi;2001-03-17;ja;pojke;AF;prs;registrerad;2015-10-23 06:40;Trelleborgs hamn;HVB\r\n"
        }
        return Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)
    }

    static func run(seconds: Double, keys: String = "all", breakdown showBreakdown: Bool = true) throws {
        print("== pipeline: translate + validate (XSD) + sign, one thread, small records")
        let sender = try OrganisationNumber("2120001165"), recipient = try OrganisationNumber("2021002163")
        for (label, spec) in [("ECDSA P-256", KeySpecification.ecdsaP256SHA256), ("RSA-2048", .rsaSHA256(bits: 2048))]
            where keys == "all" || label.lowercased().hasPrefix(keys) {
            let key = try Key.generate(spec)
            // The bare rate: EVP sign of a SignedInfo-sized buffer in a loop.
            let payload = Data(repeating: 0x41, count: 700)
            let bare = try rate(seconds: seconds) { _ = try key.sign(payload) }

            let sealer = try MessageSealer(key: key, certificate: nil)
            let batch = 500
            let file = intakeFile(records: batch)
            let digest = SHA256.hex(file)
            let pipeline = try rate(seconds: seconds, per: batch) {
                let records = try IntakeParser.records(data: file, fileName: "bench.csv", referenceDate: Date())
                let messages = IntakeFile.caseMessages(records, fileDigestHex: digest, sender: sender,
                                                       defaultRecipient: recipient, createdAt: Date())
                var i = 0
                while i < messages.count {
                    _ = try sealer.seal(Array(messages[i..<min(i + 32, messages.count)]))
                    i += 32
                }
            }
            if label.hasPrefix("ECDSA") && showBreakdown { try breakdown(file: file, digest: digest, sender: sender, recipient: recipient, key: key, seconds: seconds / 2) }
            print(String(format: "%@: pipeline %.0f records/s, bare sign %.0f/s, ratio %.0f%% (target >= 50%% for ECDSA)",
                         label, pipeline, bare, 100 * pipeline / bare))
        }
    }

    /// Per-stage rates, to show where a record's time goes.
    static func breakdown(file: Data, digest: String, sender: OrganisationNumber, recipient: OrganisationNumber,
                          key: Key, seconds: Double) throws {
        let records = try IntakeParser.records(data: file, fileName: "bench.csv", referenceDate: Date())
        let messages = IntakeFile.caseMessages(records, fileDigestHex: digest, sender: sender,
                                               defaultRecipient: recipient, createdAt: Date())
        let n = records.count
        let parse = try rate(seconds: seconds, per: n) { _ = try IntakeParser.records(data: file, fileName: "bench.csv", referenceDate: Date()) }
        let encode = try rate(seconds: seconds, per: n) { for m in messages { _ = CaseXML.encodeCanonical(m) } }
        let encoded = messages.map(CaseXML.encodeCanonical)
        let validate = try rate(seconds: seconds, per: n) { for e in encoded { try SchemaValidator.caseMessage.validate(bytes: e.document) } }
        let signer = try XMLSignature.Signer(key: key)
        let sign = try rate(seconds: seconds, per: n) {
            for e in encoded { _ = try signer.sign(canonicalDocument: e.document, canonicalRange: e.canonicalRange) }
        }
        print(String(format: "  stages/s: intake parse %.0f, canonical encode %.0f, streaming XSD validation %.0f, digest + sign + splice %.0f",
                     parse, encode, validate, sign))
    }

    /// Calls `body` repeatedly for about `seconds` and returns `per` × calls per second.
    static func rate(seconds: Double, per: Int = 1, _ body: () throws -> Void) throws -> Double {
        try body()  // warm up: schema compilation, tables
        let start = DispatchTime.now().uptimeNanoseconds
        var calls = 0
        var elapsed = 0.0
        repeat {
            try body()
            calls += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return Double(calls * per) / elapsed
    }
}
