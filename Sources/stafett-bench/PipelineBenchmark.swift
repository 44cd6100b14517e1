import Foundation
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettSignature
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
            let sealer = try MessageSealer(key: key, certificate: nil)
            let batch = 500
            let file = intakeFile(records: batch)
            let digest = SHA256.hex(file)
            // Alternate short rounds of the two, so a neighbour's load or a frequency change hits
            // both alike, and count this thread's CPU time beside the wall clock.
            let (bare, pipeline) = try interleaved(seconds: seconds, {
                _ = try key.sign(payload)
            }, per: batch, {
                let records = try IntakeParser.records(data: file, fileName: "bench.csv", referenceDate: Date())
                let messages = IntakeFile.caseMessages(records, fileDigestHex: digest, sender: sender,
                                                       defaultRecipient: recipient, createdAt: Date())
                var i = 0
                while i < messages.count {
                    _ = try sealer.seal(Array(messages[i..<min(i + 32, messages.count)]))
                    i += 32
                }
            })
            if label.hasPrefix("ECDSA") && showBreakdown { try breakdown(file: file, digest: digest, sender: sender, recipient: recipient, key: key, seconds: seconds / 2) }
            print(String(format: "%@: pipeline %.0f records/s, bare sign %.0f/s, ratio %.0f%% (target >= 50%% for ECDSA); per CPU second of the thread: %.0f and %.0f, ratio %.0f%%",
                         label, pipeline.wall, bare.wall, 100 * pipeline.wall / bare.wall,
                         pipeline.cpu, bare.cpu, 100 * pipeline.cpu / bare.cpu))
        }
    }

    /// Per-stage costs in µs of this thread's CPU per record, to show where a record's time goes.
    static func breakdown(file: Data, digest: String, sender: OrganisationNumber, recipient: OrganisationNumber,
                          key: Key, seconds: Double) throws {
        let records = try IntakeParser.records(data: file, fileName: "bench.csv", referenceDate: Date())
        let messages = IntakeFile.caseMessages(records, fileDigestHex: digest, sender: sender,
                                               defaultRecipient: recipient, createdAt: Date())
        let n = records.count
        func micros(_ body: () throws -> Void) throws -> Double { try cpuMicros(seconds: seconds, per: n, body) }
        let parse = try micros { _ = try IntakeParser.records(data: file, fileName: "bench.csv", referenceDate: Date()) }
        let encode = try micros { for m in messages { _ = CaseXML.encodeCanonical(m) } }
        let encoded = messages.map(CaseXML.encodeCanonical)
        let validate = try micros { for e in encoded { try SchemaValidator.caseMessage.validate(bytes: e.document) } }
        let encodeValidated = try micros { for m in messages { _ = try CaseXML.encodeCanonicalValidated(m) } }
        let signer = try XMLSignature.Signer(key: key)
        let batches = stride(from: 0, to: n, by: 32).map { Array(encoded[$0..<min($0 + 32, n)]) }
        let sign = try micros { for b in batches { _ = try signer.sign(canonicalDocuments: b) } }
        let payload = Data(repeating: 0x41, count: 700)
        let bare = try cpuMicros(seconds: seconds) { _ = try key.sign(payload) }
        print(String(format: "  µs of CPU per record: intake parse %.1f, encode %.1f (+ XSD validation of its bytes %.1f; encode validated as written, as sealing does: %.1f), digest + sign + splice %.1f (bare sign %.1f)",
                     parse, encode, validate, encodeValidated, sign, bare))
    }

    /// Rates of two bodies (`per` units per call of the second), measured in alternating rounds of
    /// about a quarter second for `seconds` each: per wall-clock second and per CPU second of this thread.
    static func interleaved(seconds: Double, _ first: () throws -> Void, per: Int, _ second: () throws -> Void)
        throws -> (first: (wall: Double, cpu: Double), second: (wall: Double, cpu: Double)) {
        try first(); try second()  // warm up: schema compilation, tables
        var calls = [0, 0], wall = [0.0, 0.0], cpu = [0.0, 0.0]
        let round = 0.25
        func measure(_ i: Int, _ body: () throws -> Void) rethrows {
            let w0 = DispatchTime.now().uptimeNanoseconds, c0 = threadCPUSeconds()
            var elapsed = 0.0
            repeat {
                try body()
                calls[i] += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9
            } while elapsed < round
            wall[i] += elapsed
            cpu[i] += threadCPUSeconds() - c0
        }
        while wall[0] < seconds || wall[1] < seconds {
            try measure(0, first)
            try measure(1, second)
        }
        return ((Double(calls[0]) / wall[0], Double(calls[0]) / cpu[0]),
                (Double(calls[1] * per) / wall[1], Double(calls[1] * per) / cpu[1]))
    }

    /// CPU time this thread has used, in seconds.
    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// µs of this thread's CPU per unit of `body` (`per` units a call), over about `seconds`.
    static func cpuMicros(seconds: Double, per: Int = 1, _ body: () throws -> Void) throws -> Double {
        1e6 / (try rate(seconds: seconds, per: per, cpu: true, body))
    }

    /// Calls `body` repeatedly for about `seconds` and returns `per` × calls per second (of this
    /// thread's CPU time with `cpu`, else of the wall clock).
    static func rate(seconds: Double, per: Int = 1, cpu: Bool = false, _ body: () throws -> Void) throws -> Double {
        try body()  // warm up: schema compilation, tables
        let start = DispatchTime.now().uptimeNanoseconds, cpu0 = threadCPUSeconds()
        var calls = 0
        var elapsed = 0.0
        repeat {
            try body()
            calls += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return Double(calls * per) / (cpu ? threadCPUSeconds() - cpu0 : elapsed)
    }
}
