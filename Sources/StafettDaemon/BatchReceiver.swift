import Foundation
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML

// The receiving side of a batch (`Content-Type: application/vnd.stafett.batch`, framed as
// `BatchFraming` says): each message is checked, journaled and answered on its own, exactly as a
// single message would be, and the answers go back in one signed batch receipt. One bad message
// never fails its neighbours; only a body that cannot be split into messages fails as a whole.

extension Receiver {
    /// One message of a batch on its way through the checks.
    private struct BatchItem {
        var bytes: Data
        var check: CheckOutcome
        /// SHA-256 of `bytes`, base64: `ReceivedDigest` in the receipt.
        var receivedDigest: String
        /// Sender and id, for a message that passed the checks.
        var key: String? {
            guard case let .passed(m, _) = check else { return nil }
            return Receiver.key(sender: m.header.sender, id: m.header.messageId)
        }
    }

    /// `response` with this node's batch offer (`Stafett-Batch: max=N`), so a sender learns from
    /// any answer whether and how far it may batch.
    func offeringBatches(_ response: HTTPResponse) -> HTTPResponse {
        let max = runtime().config.limits.maxBatch
        guard max > 1 else { return response }
        var r = response
        r.headers.set(BatchFraming.offerHeader, "max=\(max)")
        return r
    }

    /// Checks, stores and answers every message of a batch.
    func receiveBatch(_ body: Data, from peer: PeerIdentity) -> HTTPResponse {
        let rt = runtime()
        let maxCount = rt.config.limits.maxBatch
        guard maxCount > 1 else {
            return .text(415, "this node takes one message per request (Content-Type: application/xml)\n")
        }
        if let short = answerIfShortOfDisk() { return short }
        let frames: [Range<Data.Index>]
        do { frames = try BatchFraming.decode(body, maxCount: maxCount) } catch {
            log.limited(.notice, key: "framing-\(peer.organisation)", every: .seconds(60), "unreadable batch from \(peer): \(error)")
            return .text(400, "\(error)\n")
        }
        let items = frames.map { range -> BatchItem in
            let bytes = Data(body[range])
            return BatchItem(bytes: bytes, check: check(bytes, from: peer, rt: rt),
                             receivedDigest: SHA256.hash(bytes).base64EncodedString())
        }

        // Every key of the batch at once, so two batches sharing ids can never wait for each other.
        let keys = Set(items.compactMap { $0.key })
        inFlight.lock()
        while keys.contains(where: busy.contains) { inFlight.wait() }
        busy.formUnion(keys)
        let window = Receiver.duplicateWindow(maxLifetime: rt.config.delivery.maxLifetime.timeInterval)
        accepted.forget(acceptedBefore: now().addingTimeInterval(-window))
        var earlier: [String: AcceptedMessage] = [:]
        for k in keys { earlier[k] = accepted[k] }
        inFlight.unlock()
        defer {
            inFlight.lock()
            busy.subtract(keys)
            inFlight.broadcast()
            inFlight.unlock()
        }

        let acceptedAt = now()
        var plan = BatchPlan()
        for item in items {
            plan.add(item.bytes, item.check, receivedDigest: item.receivedDigest, earlier: earlier, receiver: self,
                     addressee: peer.organisation)
        }

        do {
            let receipt = BatchReceipt(receiptId: MessageID.random(), issuedAt: acceptedAt, issuer: rt.config.node.organisation,
                                       addressee: peer.organisation, entries: plan.entries)
            let signed = try ReceiptSealer.seal(receipt, with: rt.receiptSigner)
            let archived = try BatchReceiptArchive.stage(signed, archive: layout.archivePath)
            var records = plan.records(at: acceptedAt, receiver: self, addressee: peer.organisation, rt: rt)
            for i in records.indices { records[i].receiptDigest = archived.digest }
            var item = CommitItem(files: plan.inboxFiles, entries: records, renameAfterJournal: true)
            item.referenced = [archived.file]
            let sequences: [UInt64]
            do { sequences = try batcher.commit(item) } catch {
                // Not journaled: the sender's retry stages them again.
                for f in plan.inboxFiles + [archived.file] { unlink(f.temporary) }
                throw error
            }
            inFlight.lock()
            for (key, digest, index) in plan.acceptances {
                accepted.insert(key, AcceptedMessage(digest: digest, acceptedAt: acceptedAt,
                                                     sequence: sequences.indices.contains(index) ? sequences[index] : nil))
                recentReceipts.remember(key, signed)
            }
            inFlight.unlock()
            for e in plan.entries {
                metrics.count("stafett_received_total", labels: e.status == .accepted ? ["status": "accepted"] : ["status": "rejected", "reason": e.reason?.rawValue ?? ""])
            }
            if plan.duplicates > 0 { metrics.count("stafett_received_duplicates_total", by: Double(plan.duplicates)) }
            metrics.count("stafett_received_batches_total")
            return HTTPResponse(status: 200, headers: ["Content-Type": "application/xml"], body: signed)
        } catch {
            log.limited(.error, key: "store", every: .seconds(10), "cannot store a batch of \(items.count) from \(peer): \(error)")
            metrics.count("stafett_receive_errors_total")
            return HTTPResponse.text(503, "cannot store the messages now; retry later\n")
        }
    }
}

/// What a batch comes to, message by message, before anything is stored: the receipt's entries,
/// the journal records, the inbox files staged, and the acceptances to remember once committed.
private struct BatchPlan {
    /// A journal record to write: a refusal, or an acceptance.
    private enum Record {
        case refused(RejectionReason, MessageID?, about: CaseMessage?, digest: String?)
        case received(CaseMessage, digest: String)
    }

    var entries: [BatchReceipt.Entry] = []
    private var pending: [Record] = []
    var inboxFiles: [(temporary: String, final: String)] = []
    /// (key, digest, index of its journal record).
    var acceptances: [(key: String, digest: String, record: Int)] = []
    var duplicates = 0
    /// Digests accepted earlier in this batch, by key: a message twice in one batch is a duplicate.
    private var inThisBatch: [String: String] = [:]

    mutating func add(_ bytes: Data, _ check: Receiver.CheckOutcome, receivedDigest: String, earlier: [String: AcceptedMessage],
                      receiver: Receiver, addressee: OrganisationNumber) {
        func refuse(_ reason: RejectionReason, _ detail: String, id: MessageID?, about message: CaseMessage? = nil,
                    digest: String? = nil, journal: Bool = true) {
            receiver.noteRefusal(reason, detail, id: id, from: addressee)
            entries.append(BatchReceipt.Entry(refToMessageId: id, status: .rejected, digest: digest, receivedDigest: receivedDigest,
                                              reason: reason, detail: String(detail.prefix(1000))))
            if journal { pending.append(.refused(reason, id, about: message, digest: digest)) }
        }
        switch check {
        case let .refused(reason, detail, id):
            refuse(reason, detail, id: id)
        case let .passed(message, digest):
            let header = message.header
            let key = Receiver.key(sender: header.sender, id: header.messageId)
            // A record without a digest answers any resend as a duplicate, as for a single message.
            if let known = inThisBatch[key] ?? earlier[key].map({ $0.digest ?? digest }) {
                // As for a single message: the same content again is answered as accepted (nothing
                // new is stored); other content under a used id is refused for good.
                if known == digest {
                    duplicates += 1
                    entries.append(BatchReceipt.Entry(refToMessageId: header.messageId, status: .accepted, digest: digest,
                                                      receivedDigest: receivedDigest))
                    return
                }
                return refuse(.duplicateId,
                              "message id \(header.messageId) already used for different content: accepted before with digest \(known), this message has digest \(digest); send new content under a new message id",
                              id: header.messageId, about: message, digest: digest)
            }
            let inboxName = SpoolLayout.inboxName(sender: header.sender, id: header.messageId)
            do {
                let waiting = try AtomicFile.readIfPresent(SpoolLayout.join(receiver.layout.inboxPath, inboxName))
                if let waiting, waiting != bytes {
                    return refuse(.duplicateId,
                                  "message id \(header.messageId) is still in the inbox with other content; send new content under a new message id",
                                  id: header.messageId, about: message, digest: digest)
                }
                // The same bytes already waiting in the inbox need no second copy, only the record.
                if waiting == nil { inboxFiles.append(try AtomicFile.stageForRecovery(bytes, in: receiver.layout.inboxPath, as: inboxName)) }
            } catch {
                // This node's trouble, not the message's: the sender retries this one alone.
                return refuse(.internalError, "cannot store the message now: \(error)", id: header.messageId, journal: false)
            }
            inThisBatch[key] = digest
            acceptances.append((key, digest, pending.count))
            entries.append(BatchReceipt.Entry(refToMessageId: header.messageId, status: .accepted, digest: digest,
                                              receivedDigest: receivedDigest))
            pending.append(.received(message, digest: digest))
        }
    }

    /// The journal records, in the order of the batch; acceptances stamped with the acceptance time.
    func records(at acceptedAt: Date, receiver: Receiver, addressee: OrganisationNumber, rt: NodeRuntime) -> [JournalEntry] {
        pending.map { record in
            switch record {
            case let .refused(reason, id, message, digest):
                return receiver.refusalRecord(reason, id: id, from: addressee, rt: rt, about: message, digest: digest)
            case let .received(message, digest):
                return JournalEntry.about(message, kind: .received, digest: digest, keyer: rt.keyer,
                                          caseRef: message.caseReference, status: "accepted", time: acceptedAt)
            }
        }
    }
}
