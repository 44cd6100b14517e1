import Foundation
import StafettFuzzTargets
import StafettJournal

/// Writes the seeds that take the project's own API to make: case and receipt examples signed
/// with the fuzzing key (xmldsig), and record payloads of a journal written by `Journal`, a
/// signed checkpoint among them (journal-record). The other seeds are plain copies of files in
/// the repository (docs/fuzzing.md).
enum SeedMaker {
    static func write(examples: URL, into corpus: URL) throws {
        try signedDocuments(examples: examples, into: corpus.appendingPathComponent("xmldsig"))
        try journalPayloads(into: corpus.appendingPathComponent("journal-record"))
    }

    static func signedDocuments(examples: URL, into dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let plan = [("registered.xml", true), ("transfer-sent.xml", false), ("receipt-accepted.xml", false), ("receipt-rejected.xml", true)]
        for (name, withCertificate) in plan {
            let signed = try SignedSeeds.sign(try Data(contentsOf: examples.appendingPathComponent(name)), withCertificate: withCertificate)
            let out = name.replacingOccurrences(of: ".xml", with: withCertificate ? "-fuzzkey-keyinfo.xml" : "-fuzzkey.xml")
            try signed.write(to: dir.appendingPathComponent(out))
        }
    }

    static func journalPayloads(into dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let journalDir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-fuzz-seeds-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: journalDir) }
        let journal = try Journal(directory: journalDir, options: JournalOptions(signingKey: SignedSeeds.key))
        let time = Date(timeIntervalSince1970: 1_764_000_000)
        let message = "0f6a1c2e-5b7d-4e11-9a3f-1d2c3b4a5e60"
        var delivered = JournalEntry(kind: .delivered, time: time, messageId: message, caseRef: "MAL-SOC-77",
                                     eventType: "TransferSent", sender: "2120001124", recipient: "2120001355",
                                     digest: String(repeating: "ab", count: 32), status: "200")
        delivered.receipt = #"<Receipt xmlns="urn:stafett:receipt:1"><Status>accepted</Status></Receipt>"#
        let entries = [
            JournalEntry(kind: .intakeAccepted, time: time, intakeId: "TRE-2015-04711", dossierNumber: "15-123456",
                         personKey: String(repeating: "c3", count: 32), file: "trelleborg-2015-10-23.csv"),
            JournalEntry(kind: .queued, time: time, messageId: message, caseRef: "MAL-SOC-77", intakeId: "TRE-2015-04711",
                         intakeIdIssuer: "2120001173", eventType: "TransferSent", eventTime: time.addingTimeInterval(-3600),
                         sender: "2120001124", recipient: "2120001355"),
            delivered,
            JournalEntry(kind: .rejected, time: time, messageId: message, status: "200", reason: "schema: \"Child\" \\ missing\n"),
            JournalEntry(kind: .intakeFailed, time: time, reason: "rad 3: personnumret är ogiltigt", file: "malmö.json"),
        ]
        for e in entries { _ = try journal.append(e) }
        try journal.checkpoint()
        journal.close()
        try JournalStream(directory: journalDir).readAvailable { raw in
            try Data(raw.payload).write(to: dir.appendingPathComponent("record-\(raw.sequence).json"))
        }
    }
}
