import Foundation
import StafettCrypto
import StafettJournal
import StafettModel
import StafettSignature
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
    let runtime: () -> NodeRuntime
    let layout: SpoolLayout
    let batcher: CommitBatcher
    let metrics: Metrics
    let log: Logger
    let inFlight = NSCondition()
    var busy: Set<String> = []
    /// Every message accepted within the duplicate window, by `sender/message id`; those that
    /// leave the window are forgotten as requests come in (guarded by `inFlight`).
    var accepted: AcceptedWindow
    /// The clock for acceptance times and the window (injected by tests).
    let now: @Sendable () -> Date
    /// The receipts of the most recently accepted messages (guarded by `inFlight`).
    var recentReceipts = RecentReceipts()

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

    /// The keys remembered now (tests).
    var rememberedKeys: Set<String> {
        inFlight.lock()
        defer { inFlight.unlock() }
        return Set(accepted.keys)
    }

    /// The HTTP handler: routes `/v1/messages` and `/v1/health`.
    public func handle(_ request: HTTPRequest, peer: PeerIdentity) -> HTTPResponse {
        switch (request.method, request.path) {
        case ("POST", "/v1/messages"):
            let isBatch = request.headers["Content-Type"].map(BatchFraming.isBatch) ?? false
            return offeringBatches(isBatch ? receiveBatch(request.body, from: peer) : receive(request.body, from: peer))
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

    /// A 503 while the disk is short: storing, and even refusing (journaled), needs the disk; the
    /// sender keeps its messages and retries, as after any 5xx. Nil when there is room.
    func answerIfShortOfDisk() -> HTTPResponse? {
        guard let why = DiskSpace(layout: layout).shortage(metrics: metrics) else { return nil }
        log.limited(.error, key: "disk-space", every: .seconds(60), "receiver: answering 503 to every message: \(why)")
        metrics.count("stafett_receive_errors_total")
        return HTTPResponse.text(503, "this node is short of disk space; retry later\n")
    }

    /// Checks, stores and answers one message.
    func receive(_ body: Data, from peer: PeerIdentity) -> HTTPResponse {
        let rt = runtime()
        if let short = answerIfShortOfDisk() { return short }
        let message: CaseMessage, digest: String
        switch check(body, from: peer, rt: rt) {
        case let .refused(reason, detail, id):
            return reject(reason, detail, id: id, to: peer.organisation, rt: rt, journalAs: nil)
        case let .passed(m, d):
            (message, digest) = (m, d)
        }
        let header = message.header
        let me = rt.config.node.organisation

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
            recentReceipts.remember(key, signed)
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

    /// What the checks found about one message.
    enum CheckOutcome {
        /// Schema-valid, addressed to us, from a configured peer over its own TLS identity, and its
        /// signature verified: `digest` is its signed content's digest.
        case passed(CaseMessage, digest: String)
        /// Refused for `reason`; `id` when the message could be read that far. Nothing in it is
        /// trusted, so a refusal journals the TLS peer and the id alone.
        case refused(RejectionReason, String, id: MessageID?)
    }

    /// Runs the checks on one message, in the order the type's documentation gives.
    func check(_ body: Data, from peer: PeerIdentity, rt: NodeRuntime) -> CheckOutcome {
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
            return .refused(reason, "\(error)", id: nil)
        }
        let header = message.header
        // Until the signature has verified, the content is only what the peer claims: a refusal
        // before that journals who sent it over TLS, the id and the reason, never the child's
        // identifiers. The journal cannot be edited, and follow-up joins cases by those
        // identifiers: a forged message pairing one child's intake id with another's personnummer
        // would otherwise merge the two histories for good.
        guard header.recipient == me else {
            return .refused(.wrongRecipient, "this node is \(me), the message is addressed to \(header.recipient)", id: header.messageId)
        }
        guard let sender = rt.peer(for: header.sender) else {
            return .refused(.unknownSender, "\(header.sender) is not a configured peer of \(me)", id: header.messageId)
        }
        guard peer.organisation == header.sender else {
            log.limited(.warning, key: "mismatch-\(peer.organisation)", every: .seconds(60),
                        "sender-mismatch: TLS peer \(peer) submitted message \(header.messageId) in the name of \(header.sender)")
            return .refused(.senderMismatch, "the TLS certificate speaks for \(peer.organisation), the message claims sender \(header.sender)",
                            id: header.messageId)
        }
        do {
            return .passed(message, digest: ReceiptDigest.of(try sender.verifySignature(doc, now: now())))
        } catch {
            return .refused(.signature, error.description, id: header.messageId)
        }
    }

    /// A signed rejected receipt, journaled as `refused`: about `message` (its identifiers and event)
    /// only when its signature has verified, else with the TLS peer as sender and the id alone;
    /// with the refused content's `digest` when it is known.
    private func reject(_ reason: RejectionReason, _ detail: String, id: MessageID?, to addressee: OrganisationNumber,
                        rt: NodeRuntime, journalAs message: CaseMessage?, digest: String? = nil) -> HTTPResponse {
        noteRefusal(reason, detail, id: id, from: addressee)
        let receipt = Receipt(receiptId: MessageID.random(), refToMessageId: id, issuedAt: Date(),
                              issuer: rt.config.node.organisation, addressee: addressee, status: .rejected,
                              reason: reason, detail: String(detail.prefix(1000)))
        do {
            let signed = try signReceipt(receipt, rt: rt)
            let entry = refusalRecord(reason, id: id, from: addressee, rt: rt, about: message, digest: digest)
            try batcher.commit(CommitItem(files: [], entries: [entry]))
            let status = reason == .tooLarge ? 413 : 200
            return HTTPResponse(status: status, headers: ["Content-Type": "application/xml"], body: signed)
        } catch {
            log.limited(.error, key: "reject-store", every: .seconds(10), "cannot issue a rejected receipt: \(error)")
            return HTTPResponse.text(503, "cannot answer now; retry later\n")
        }
    }

    /// Counts and logs (rate-limited) a refusal.
    func noteRefusal(_ reason: RejectionReason, _ detail: String, id: MessageID?, from addressee: OrganisationNumber) {
        metrics.count("stafett_received_total", labels: ["status": "rejected", "reason": reason.rawValue])
        log.limited(.notice, key: "reject-\(addressee)-\(reason.rawValue)", every: .seconds(10),
                    "rejected \(id?.rawValue ?? "unreadable message") from \(addressee): \(reason.rawValue): \(detail)")
    }

    /// The `refused` journal record of a refusal: about `message` only when its signature verified.
    func refusalRecord(_ reason: RejectionReason, id: MessageID?, from addressee: OrganisationNumber, rt: NodeRuntime,
                       about message: CaseMessage?, digest: String?) -> JournalEntry {
        guard let message else {
            return JournalEntry(kind: .refused, messageId: id?.rawValue, sender: addressee.digits,
                                recipient: rt.config.node.organisation.digits, status: "rejected", reason: reason.rawValue)
        }
        return JournalEntry.about(message, kind: .refused, digest: digest, keyer: rt.keyer,
                                  caseRef: message.caseReference, status: "rejected", reason: reason.rawValue)
    }

    private func signReceipt(_ receipt: Receipt, rt: NodeRuntime) throws -> Data {
        try ReceiptSealer.seal(receipt, with: rt.receiptSigner)
    }

}
