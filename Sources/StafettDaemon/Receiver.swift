import Foundation
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML

/// The receiving side of `POST /v1/messages`: checks a case message and answers with a signed
/// receipt, never "accepted" before the message is in `inbox/` and journaled.
///
/// Checks, in order: well-formed and schema-valid (`schema`); addressed to us
/// (`wrong-recipient`); the sender is a configured peer (`unknown-sender`); the TLS identity is
/// the sender (`sender-mismatch`); the signature verifies with the sender's configured keys
/// (`signature`). A duplicate (same sender and message id) gets the stored original receipt; the
/// same sender and id with other signed content (another digest) is refused (`duplicate-id`).
public final class Receiver: @unchecked Sendable {
    private let runtime: () -> NodeRuntime
    private let layout: SpoolLayout
    private let batcher: CommitBatcher
    private let metrics: Metrics
    private let log: Logger
    private let inFlight = NSCondition()
    private var busy: Set<String> = []
    /// Every message accepted within the duplicate window, by `sender/message id`; those that
    /// leave the window are forgotten as requests come in (guarded by `inFlight`).
    private var accepted: AcceptedWindow
    /// The clock for acceptance times and the window (injected by tests).
    private let now: @Sendable () -> Date
    /// The receipts of the most recently accepted messages, so the usual duplicate (an answer lost
    /// a moment ago) costs no journal scan; at most `recentLimit` (guarded by `inFlight`).
    private var recentReceipts: [String: Data] = [:]
    private var recentOrder: [String] = []
    private var recentHead = 0
    private static let recentLimit = 4096

    /// Creates a receiver. `runtime` is read per request so that SIGHUP reloads apply at once.
    ///
    /// The signed receipts this node issues live in its journal (`received` records); `accepted`
    /// are the messages accepted recently enough that their sender may still retry them, by key
    /// (`acceptedMessages(journal:since:)`). `now` is the clock that ages them out of the
    /// duplicate window (`duplicateWindow(maxLifetime:)`).
    public init(runtime: @escaping @Sendable () -> NodeRuntime, layout: SpoolLayout, batcher: CommitBatcher,
                metrics: Metrics, log: Logger, accepted: [String: AcceptedMessage],
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.accepted = AcceptedWindow(accepted)
        self.now = now
        self.runtime = runtime
        self.layout = layout
        self.batcher = batcher
        self.metrics = metrics
        self.log = log
    }

    /// The duplicate key of a message.
    static func key(sender: OrganisationNumber, id: MessageID) -> String { "\(sender.digits)/\(id.rawValue)" }

    /// How long an accepted message is remembered as a possible duplicate. A sender retries a
    /// message at most until it expires (`maxLifetime` after it was queued); twice that, and at
    /// least two days, is a safe margin for clocks and queues that sat still.
    public static func duplicateWindow(maxLifetime: TimeInterval) -> TimeInterval {
        2 * max(maxLifetime, 86_400)
    }

    /// The keys remembered now (tests).
    var rememberedKeys: Set<String> {
        inFlight.lock()
        defer { inFlight.unlock() }
        return Set(accepted.keys)
    }

    /// The messages accepted since `since`, by key, read from the journal at start. `unreadable`
    /// hears the sequence numbers of records whose payload did not decode: a `received` among them
    /// is a message a resend would be accepted again for, which the operator must hear of (the
    /// journal's CRC and chain held, so it is not damage).
    public static func acceptedMessages(journal: URL, since: Date,
                                        unreadable: ([UInt64]) -> Void = { _ in }) throws -> [String: AcceptedMessage] {
        var found: [String: AcceptedMessage] = [:]
        var skipped: [UInt64] = []
        let cutoff = Int64(since.timeIntervalSince1970 * 1000)
        try JournalStream(directory: journal.path).readAvailable { raw in
            guard let e = try? EntryCodec.decode(raw.payload) else { skipped.append(raw.sequence); return }
            guard e.kind == .received, e.timeMillis >= cutoff, let from = e.sender, let id = e.messageId else { return }
            found["\(from)/\(id)"] = AcceptedMessage(digest: e.digest, acceptedAt: e.time, sequence: raw.sequence)
        }
        if !skipped.isEmpty { unreadable(skipped) }
        return found
    }

    /// The receipt issued for an accepted message, from the journal: read from the record the
    /// accepted window names (a seek to its segment, then a few records), or, for a window entry
    /// without one, by a scan from the start. Either way the read stops at the receipt, so a peer
    /// resending old ids costs a bounded read each, not the whole journal.
    /// Throws when the journal cannot be read: "not found" would accept the message a second time.
    func originalReceipt(sender: OrganisationNumber, id: MessageID, at sequence: UInt64?) throws -> Data? {
        struct Found: Error { let receipt: String }
        do {
            try JournalStream(directory: layout.journal.path, after: sequence.map { $0 > 0 ? $0 - 1 : 0 } ?? 0).readAvailable { raw in
                guard let e = try? EntryCodec.decode(raw.payload), e.kind == .received, e.messageId == id.rawValue,
                      e.sender == sender.digits, let r = e.receipt else { return }
                throw Found(receipt: r)
            }
        } catch let found as Found {
            return Data(found.receipt.utf8)
        }
        // Not where the window said (it should not happen): rather a scan than a second acceptance.
        return sequence == nil ? nil : try originalReceipt(sender: sender, id: id, at: nil)
    }

    /// The HTTP handler: routes `/v1/messages` and `/v1/health`.
    public func handle(_ request: HTTPRequest, peer: PeerIdentity) -> HTTPResponse {
        switch (request.method, request.path) {
        case ("POST", "/v1/messages"):
            return receive(request.body, from: peer)
        case ("GET", "/v1/health"), ("HEAD", "/v1/health"):
            let node = runtime().config.node
            return HTTPResponse(status: 200, headers: ["Content-Type": "application/json"],
                                body: Data(#"{"status":"ok","organisation":"\#(node.organisation.digits)"}"#.utf8))
        case (_, "/v1/messages"):
            return .methodNotAllowed(request, allowed: ["POST"])
        case (_, "/v1/health"):
            return .methodNotAllowed(request, allowed: ["GET", "HEAD"])
        default:
            return .notFound(request)
        }
    }

    /// The answer to a message whose body is over the size limit, before it is read: a signed
    /// rejected receipt (`too-large`, no message id) with status 413, so the sender stops
    /// retrying at once instead of until the message expires. nil for other targets.
    public func answerOversized(target: String, peer: PeerIdentity, detail: String) -> HTTPResponse? {
        guard target.split(separator: "?", maxSplits: 1).first == "/v1/messages" else { return nil }
        return reject(.tooLarge, detail, id: nil, to: peer.organisation, rt: runtime(), journalAs: nil)
    }

    /// Checks, stores and answers one message.
    func receive(_ body: Data, from peer: PeerIdentity) -> HTTPResponse {
        let rt = runtime()
        let me = rt.config.node.organisation
        // Parse and validate first: nothing else is trustworthy before that.
        let doc: XMLDocument
        let message: CaseMessage
        do {
            doc = try XMLDocument.parse(body, limits: XMLLimits(maxBytes: rt.config.limits.maxBody))
            try SchemaValidator.caseMessage.validate(doc)
            message = try CaseXML.decode(doc)
        } catch {
            let reason: RejectionReason = { if case .tooLarge = error { return .tooLarge }; return .schema }()
            return reject(reason, "\(error)", id: nil, to: peer.organisation, rt: rt, journalAs: nil)
        }
        let header = message.header
        // Until the signature has verified, the content is only what the peer claims: a refusal
        // before that journals who sent it over TLS, the id and the reason, never the child's
        // identifiers. The journal cannot be edited, and follow-up joins cases by those
        // identifiers: a forged message pairing one child's intake id with another's personnummer
        // would otherwise merge the two histories for good.
        guard header.recipient == me else {
            return reject(.wrongRecipient, "this node is \(me), the message is addressed to \(header.recipient)",
                          id: header.messageId, to: peer.organisation, rt: rt, journalAs: nil)
        }
        guard let sender = rt.peer(for: header.sender) else {
            return reject(.unknownSender, "\(header.sender) is not a configured peer of \(me)",
                          id: header.messageId, to: peer.organisation, rt: rt, journalAs: nil)
        }
        guard peer.organisation == header.sender else {
            log.limited(.warning, key: "mismatch-\(peer.organisation)", every: .seconds(60),
                        "sender-mismatch: TLS peer \(peer) submitted message \(header.messageId) in the name of \(header.sender)")
            return reject(.senderMismatch, "the TLS certificate speaks for \(peer.organisation), the message claims sender \(header.sender)",
                          id: header.messageId, to: peer.organisation, rt: rt, journalAs: nil)
        }
        let digest: String
        do {
            _ = try sender.verifySignature(doc, now: now())
            digest = try MessageSealer.digest(ofVerified: doc)
        } catch {
            return reject(.signature, error.description, id: header.messageId, to: peer.organisation, rt: rt, journalAs: nil)
        }

        // One request per (sender, id) at a time, so a duplicate arriving mid-commit waits and
        // then finds the stored receipt.
        let key = Receiver.key(sender: header.sender, id: header.messageId)
        inFlight.lock()
        while busy.contains(key) { inFlight.wait() }
        busy.insert(key)
        // Forgetting here, under the lock every request takes anyway, keeps the set to the window
        // while the daemon runs; each key is dropped once, so the cost is O(1) per message.
        let window = Receiver.duplicateWindow(maxLifetime: rt.config.delivery.maxLifetime.timeInterval)
        accepted.forget(acceptedBefore: now().addingTimeInterval(-window))
        let earlier = accepted[key]
        inFlight.unlock()
        defer {
            inFlight.lock()
            busy.remove(key)
            inFlight.broadcast()
            inFlight.unlock()
        }
        if let earlier {
            // Same id, other signed content: answering with the original receipt would tell the
            // sender its message arrived when it did not, and its digest check would then retry
            // until the message expires. A new message needs a new id; refuse it for good.
            if let known = earlier.digest, known != digest {
                return reject(.duplicateId,
                              "message id \(header.messageId) already used for different content: accepted before with digest \(known), this message has digest \(digest); send new content under a new message id",
                              id: header.messageId, to: peer.organisation, rt: rt, journalAs: message, digest: digest)
            }
            inFlight.lock()
            let cached = recentReceipts[key]
            inFlight.unlock()
            let original: Data?
            do { original = try cached ?? originalReceipt(sender: header.sender, id: header.messageId, at: earlier.sequence) } catch {
                log.limited(.error, key: "journal-read", every: .seconds(10),
                            "cannot look up the receipt of duplicate \(header.messageId) from \(header.sender) in the journal: \(error)")
                return HTTPResponse.text(503, "cannot look up the earlier receipt now; retry later\n")
            }
            if let original {
                metrics.count("stafett_received_duplicates_total")
                return HTTPResponse(status: 200, headers: ["Content-Type": "application/xml", "Stafett-Duplicate": "yes"], body: original)
            }
            log.error("message \(header.messageId) from \(header.sender) was accepted before but its receipt is not in the journal; accepting it again")
        }
        // Past the duplicate window the id is forgotten, but the local system may not have taken
        // the earlier message out of the inbox yet: never write over it.
        let inboxName = SpoolLayout.inboxName(sender: header.sender, id: header.messageId)
        let waitingInInbox: Data?
        do { waitingInInbox = try AtomicFile.readIfPresent(SpoolLayout.join(layout.inboxPath, inboxName)) } catch {
            log.limited(.error, key: "store", every: .seconds(10), "cannot read the inbox: \(error)")
            return HTTPResponse.text(503, "cannot store the message now; retry later\n")
        }
        if let waitingInInbox, waitingInInbox != body {
            return reject(.duplicateId,
                          "message id \(header.messageId) is still in the inbox with other content; send new content under a new message id",
                          id: header.messageId, to: peer.organisation, rt: rt, journalAs: message, digest: digest)
        }

        do {
            // One time for the receipt, the journal record and the window, so that after a restart
            // the journal ages a message out exactly when the running receiver would have.
            let acceptedAt = now()
            let receipt = Receipt(receiptId: MessageID.random(), refToMessageId: header.messageId, issuedAt: acceptedAt,
                                  issuer: me, addressee: header.sender, status: .accepted, digest: digest)
            let signed = try signReceipt(receipt, rt: rt)
            // The same bytes already waiting in the inbox need no second copy, only the receipt.
            let files = waitingInInbox == nil ? [try AtomicFile.stageForRecovery(body, in: layout.inboxPath, as: inboxName)] : []
            var entry = JournalEntry.about(message, kind: .received, digest: digest, keyer: rt.keyer,
                                           caseRef: message.caseReference, status: "accepted", time: acceptedAt)
            entry.receipt = String(decoding: signed, as: UTF8.self)
            let sequences: [UInt64]
            do { sequences = try batcher.commit(CommitItem(files: files, entries: [entry], renameAfterJournal: true)) } catch {
                for f in files { unlink(f.temporary) }  // not journaled: the sender's retry stages it again
                throw error
            }
            inFlight.lock()
            accepted.insert(key, AcceptedMessage(digest: digest, acceptedAt: acceptedAt, sequence: sequences.first))
            rememberLocked(key, signed)
            inFlight.unlock()
            metrics.count("stafett_received_total", labels: ["status": "accepted"])
            return HTTPResponse(status: 200, headers: ["Content-Type": "application/xml"], body: signed)
        } catch {
            // Not stored: the sender must retry, so this is a 5xx, not a permanent rejection.
            log.limited(.error, key: "store", every: .seconds(10),
                        "cannot store message \(header.messageId) from \(header.sender): \(error)")
            metrics.count("stafett_receive_errors_total")
            return HTTPResponse.text(503, "cannot store the message now; retry later\n")
        }
    }

    /// Keeps `receipt` among the recent ones, forgetting the oldest beyond the limit. Call with `inFlight` held.
    private func rememberLocked(_ key: String, _ receipt: Data) {
        if recentOrder.count < Self.recentLimit {
            recentOrder.append(key)
        } else {
            recentReceipts.removeValue(forKey: recentOrder[recentHead])
            recentOrder[recentHead] = key
            recentHead = (recentHead + 1) % Self.recentLimit
        }
        recentReceipts[key] = receipt
    }

    /// A signed rejected receipt, journaled as `refused`: about `message` (its identifiers and event)
    /// only when its signature has verified, else with the TLS peer as sender and the id alone;
    /// with the refused content's `digest` when it is known.
    private func reject(_ reason: RejectionReason, _ detail: String, id: MessageID?, to addressee: OrganisationNumber,
                        rt: NodeRuntime, journalAs message: CaseMessage?, digest: String? = nil) -> HTTPResponse {
        metrics.count("stafett_received_total", labels: ["status": "rejected", "reason": reason.rawValue])
        log.limited(.notice, key: "reject-\(addressee)-\(reason.rawValue)", every: .seconds(10),
                    "rejected \(id?.rawValue ?? "unreadable message") from \(addressee): \(reason.rawValue): \(detail)")
        let receipt = Receipt(receiptId: MessageID.random(), refToMessageId: id, issuedAt: Date(),
                              issuer: rt.config.node.organisation, addressee: addressee, status: .rejected,
                              reason: reason, detail: String(detail.prefix(1000)))
        do {
            let signed = try signReceipt(receipt, rt: rt)
            var entry: JournalEntry
            if let message {
                entry = JournalEntry.about(message, kind: .refused, digest: digest, keyer: rt.keyer,
                                           caseRef: message.caseReference, status: "rejected", reason: reason.rawValue)
            } else {
                entry = JournalEntry(kind: .refused, messageId: id?.rawValue, sender: addressee.digits,
                                     recipient: rt.config.node.organisation.digits, status: "rejected", reason: reason.rawValue)
            }
            try batcher.commit(CommitItem(files: [], entries: [entry]))
            let status = reason == .tooLarge ? 413 : 200
            return HTTPResponse(status: status, headers: ["Content-Type": "application/xml"], body: signed)
        } catch {
            log.limited(.error, key: "reject-store", every: .seconds(10), "cannot issue a rejected receipt: \(error)")
            return HTTPResponse.text(503, "cannot answer now; retry later\n")
        }
    }

    private func signReceipt(_ receipt: Receipt, rt: NodeRuntime) throws -> Data {
        try Receiver.sign(receipt, with: rt.receiptSigner)
    }

    /// The signed XML of `receipt`.
    ///
    /// A receipt without free text (every accepted one) holds only message ids, times,
    /// organisation numbers, enumerations and a base64 digest: `ReceiptXML.encode` writes its root
    /// element exactly as exclusive C14N would, so it is signed as text (digest the root element,
    /// splice the signature in) without building, canonicalizing and serializing a tree, which
    /// cost the receiver about as much as the signature itself. A receipt with a detail text
    /// (rejections, whose text may need escaping) takes the tree path.
    public static func sign(_ receipt: Receipt, with signer: XMLSignature.Signer) throws -> Data {
        let encoded = ReceiptXML.encode(receipt)
        if receipt.detail == nil, let root = canonicalRootRange(encoded) {
            return try signer.sign(canonicalDocument: encoded, canonicalRange: root).xml
        }
        let doc = try XMLDocument.parse(encoded)
        try signer.sign(doc)
        return doc.serialized()
    }

    /// The bytes of the root element in an encoded receipt (after the XML declaration, before the
    /// final line feed), or nil when the encoding does not look as expected.
    static func canonicalRootRange(_ encoded: Data) -> Range<Int>? {
        encoded.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Range<Int>? in
            let open = Array("<Receipt ".utf8)
            guard let start = (0..<max(0, raw.count - open.count)).first(where: { i in
                raw[i] == open[0] && zip(open.indices, open).allSatisfy { raw[i + $0] == $1 }
            }) else { return nil }
            guard let last = raw.lastIndex(of: UInt8(ascii: ">")), last > start else { return nil }
            return start..<(last + 1)
        }
    }
}

/// What the receiver remembers of a message it accepted: enough to tell a retry (the same signed
/// content, perhaps signed again) from a message id reused for other content.
public struct AcceptedMessage: Sendable, Hashable {
    /// Base64 SHA-256 of the signed content it was accepted with (the receipt's digest); nil when
    /// the journal record lacks one, and then any resend is answered as a duplicate.
    public var digest: String?
    /// When it was accepted: it is forgotten once this is older than the duplicate window.
    public var acceptedAt: Date
    /// The journal record holding its receipt, where a duplicate's answer is read from.
    public var sequence: UInt64?

    /// Creates a record.
    public init(digest: String?, acceptedAt: Date, sequence: UInt64? = nil) {
        self.digest = digest
        self.acceptedAt = acceptedAt
        self.sequence = sequence
    }
}

/// The messages a receiver accepted within its duplicate window, with their keys also kept in
/// order of acceptance, so forgetting those that left the window pops from the front instead of
/// scanning every key. Not thread-safe: the receiver guards it.
struct AcceptedWindow {
    private var byKey: [String: AcceptedMessage]
    /// Keys in order of acceptance; `order[..<head]` are already forgotten.
    private var order: [(key: String, at: Date)]
    private var head = 0

    /// Starts from messages read from the journal, in any order.
    init(_ messages: [String: AcceptedMessage]) {
        byKey = messages
        order = messages.map { (key: $0.key, at: $0.value.acceptedAt) }.sorted { $0.at < $1.at }
    }

    /// The message accepted under `key`, if it is still remembered.
    subscript(key: String) -> AcceptedMessage? { byKey[key] }

    /// The keys remembered.
    var keys: Dictionary<String, AcceptedMessage>.Keys { byKey.keys }

    /// Entries in the acceptance order, forgotten ones not yet reclaimed included (tests: memory stays bounded).
    var storedOrderCount: Int { order.count }

    /// Remembers `message` under `key` (again, if the key was accepted before).
    mutating func insert(_ key: String, _ message: AcceptedMessage) {
        byKey[key] = message
        order.append((key, message.acceptedAt))
    }

    /// Forgets every message accepted before `cutoff`.
    ///
    /// Acceptance times are appended as the clock gives them; should it step back, a later entry
    /// ahead in the order only delays forgetting the ones behind it until it leaves the window too.
    mutating func forget(acceptedBefore cutoff: Date) {
        while head < order.count, order[head].at < cutoff {
            let (key, at) = order[head]
            // A key accepted again later has a newer entry further on; this one no longer speaks for it.
            if byKey[key]?.acceptedAt == at { byKey.removeValue(forKey: key) }
            head += 1
        }
        // Reclaim the forgotten prefix once it is at least half the array: each entry is moved
        // at most once per halving, so this stays O(1) amortised per message.
        if head > 0, head * 2 >= order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}

extension CaseMessage {
    /// The reference operators use for the case: the intake id, else the dossier number.
    /// Never a personnummer (those enter the journal only keyed).
    public var caseReference: String? {
        child.identifiers.intakeId ?? child.identifiers.dossierNumber
    }
}
