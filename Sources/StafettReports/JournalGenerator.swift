import Foundation
import StafettCrypto
import StafettJournal
import StafettModel

/// Writes a large, realistic journal quickly (for benchmarks and tests): children registered at
/// a transit municipality, their messages to Migrationsverket, asylum applications, assignments,
/// transfers, receipts and now and then a child reported missing, interleaved over a time span
/// that ends now. Some hand-offs are left unconfirmed on purpose, so `followup` has work.
public struct JournalGenerator {
    /// How many records (checkpoints not counted).
    public var records: Int
    /// Seed of the deterministic generator.
    public var seed: UInt64
    /// Time span the records cover, ending at `end`.
    public var span: TimeInterval
    /// Time of the last record.
    public var end: Date
    /// The node secret for personnummer keys.
    public var secret: Data
    /// Children in progress at any one time.
    public var activeCases: Int

    /// Creates a generator.
    public init(records: Int, seed: UInt64 = 2015, span: TimeInterval = 90 * 86_400, end: Date = Date(),
                secret: Data = Data(repeating: 0x5A, count: 32), activeCases: Int = 2_000) {
        self.records = records
        self.seed = seed
        self.span = span
        self.end = end
        self.secret = secret
        self.activeCases = activeCases
    }

    /// What was written.
    public struct Summary: Sendable {
        /// Records written (without checkpoints).
        public var records: Int
        /// Children started.
        public var cases: Int
        /// The last sequence number.
        public var lastSequence: UInt64
    }

    private struct Child {
        var n: Int
        var step = 0
        var intake: String
        var dossier: String?
        var pin: String?
        var caseRef: String?
        var assigned: String
        var pendingMessage: String?
    }


    static let transit = "2120001124"        // Trelleborgs kommun
    static let migrationsverket = "2021005489"
    static let police = "2021000076"
    static let municipalities = ["2120000142", "2120001355", "2120000118", "2120001157", "2120000837", "2120001314"]

    /// Writes the journal into `directory` (which must not hold one yet).
    public func write(to directory: String, options: JournalOptions = JournalOptions()) throws -> Summary {
        let journal = try Journal(directory: directory, options: options)
        defer { journal.close() }
        var rng = SplitMix64(seed: seed)
        let hmac = HMACSHA256(secret: secret)
        var active: [Child] = []
        var started = 0
        func hex(_ v: UInt64) -> String {
            let h = String(v, radix: 16)
            return String(repeating: "0", count: 16 - h.count) + h
        }
        func padded(_ v: Int, _ width: Int) -> String {
            let d = String(v)
            return String(repeating: "0", count: max(0, width - d.count)) + d
        }
        func newChild() -> Child {
            started += 1
            let n = started
            var c = Child(n: n, intake: "TRE-2015-" + padded(n, 6),
                          assigned: JournalGenerator.municipalities[rng.below(JournalGenerator.municipalities.count)])
            if rng.chance(30) {  // some children arrive with a samordningsnummer already
                c.pin = hmac.authenticate(Data(("2001" + padded(n, 8)).utf8)).hexString
            }
            return c
        }
        for _ in 0..<activeCases { active.append(newChild()) }
        let endMs = Int64(end.timeIntervalSince1970 * 1000), spanMs = Int64(span * 1000)
        var batch: [JournalEntry] = []
        batch.reserveCapacity(10_000)
        var written = 0
        var lastSeq: UInt64 = 0
        func msgId() -> String { "g-" + hex(rng.next()) + "-" + hex(rng.next()).prefix(12) }
        while written < records {
            let slot = rng.below(active.count)
            var c = active[slot]
            let ms = endMs - spanMs + spanMs * Int64(written) / Int64(max(records, 1))
            let time = Date(timeIntervalSince1970: Double(ms) / 1000)
            var out: [JournalEntry] = []
            func entry(_ kind: JournalKind, _ event: String?, from: String, to: String, msg: String?) -> JournalEntry {
                JournalEntry(kind: kind, time: time, messageId: msg, caseRef: c.caseRef, intakeId: c.intake,
                             dossierNumber: c.dossier, personKey: c.pin, eventType: event, sender: from, recipient: to,
                             digest: hex(rng.next()) + hex(rng.next()) + hex(rng.next()) + hex(rng.next()))
            }
            var done = false
            switch c.step {
            case 0:
                var e = entry(.intakeAccepted, "Registered", from: Self.transit, to: Self.migrationsverket, msg: nil)
                e.file = "intake-\(c.n).csv"
                out.append(e)
            case 1:
                c.pendingMessage = msgId()
                out.append(entry(.queued, "Registered", from: Self.transit, to: Self.migrationsverket, msg: c.pendingMessage))
            case 2: out.append(entry(.sent, "Registered", from: Self.transit, to: Self.migrationsverket, msg: c.pendingMessage))
            case 3:
                if rng.chance(97) {
                    out.append(entry(rng.chance(1) ? .rejected : .delivered, "Registered", from: Self.transit,
                                     to: Self.migrationsverket, msg: c.pendingMessage))
                }
            case 4:
                if rng.chance(88) {
                    c.dossier = "15-" + padded(100_000 + c.n, 6)
                    if c.pin == nil, rng.chance(70) {
                        c.pin = hmac.authenticate(Data(("2001" + padded(c.n, 8)).utf8)).hexString
                    }
                    out.append(entry(.received, "AsylumApplicationLodged", from: Self.migrationsverket, to: Self.transit, msg: msgId()))
                } else { done = true }
            case 5: out.append(entry(.received, "Assigned", from: Self.migrationsverket, to: Self.transit, msg: msgId()))
            case 6:
                c.pendingMessage = msgId()
                out.append(entry(.queued, "TransferSent", from: Self.transit, to: c.assigned, msg: c.pendingMessage))
            case 7: out.append(entry(.sent, "TransferSent", from: Self.transit, to: c.assigned, msg: c.pendingMessage))
            case 8:
                if rng.chance(98) { out.append(entry(.delivered, "TransferSent", from: Self.transit, to: c.assigned, msg: c.pendingMessage)) }
            case 9:
                if rng.chance(93) {
                    c.caseRef = "\(c.assigned.suffix(4))-SOC-\(c.n)"
                    out.append(entry(.received, "TransferReceived", from: c.assigned, to: Self.transit, msg: msgId()))
                }
                done = !rng.chance(6)
            case 10:
                c.pendingMessage = msgId()
                out.append(entry(.queued, "ReportedMissing", from: Self.transit, to: Self.police, msg: c.pendingMessage))
                out.append(entry(.sent, "ReportedMissing", from: Self.transit, to: Self.police, msg: c.pendingMessage))
                out.append(entry(.delivered, "ReportedMissing", from: Self.transit, to: Self.police, msg: c.pendingMessage))
            default:
                if rng.chance(55) {
                    out.append(entry(.received, "Found", from: Self.police, to: Self.transit, msg: msgId()))
                }
                done = true
            }
            c.step += 1
            active[slot] = done ? newChild() : c
            for e in out where written < records {
                batch.append(e)
                written += 1
            }
            if batch.count >= 10_000 {
                lastSeq = try journal.appendBatch(batch).last ?? lastSeq
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { lastSeq = try journal.appendBatch(batch).last ?? lastSeq }
        return Summary(records: written, cases: started, lastSequence: lastSeq)
    }
}

/// How often a generated journal takes each path.
extension SplitMix64 {
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}
