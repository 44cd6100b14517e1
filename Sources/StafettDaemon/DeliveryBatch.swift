import Foundation
import StafettCrypto
import StafettModel
import StafettTransport
import StafettXML

// Sending several messages to one peer in one request (a batch, `BatchFraming`), when the peer
// offers batches: the messages due now, never waiting for more, so a short queue goes out at
// once and latency at low load does not grow. Each message is checked before, and settled or
// retried after, exactly as when sent alone; only the request and the receipt are shared.

extension DeliveryScheduler {
    /// Adds to `taken` the lane's due messages, up to `limit` in all. Called under `cond`.
    func takeDue(into taken: inout [QueueEntry], lane: Lane, limit: Int, now: Date) {
        guard !lane.batchesRefused else { return }
        while taken.count < limit, let e = lane.next(now: now) {
            // `next` hands out each due message once; in flight from here, like the first.
            lane.inFlight.insert(e.messageId)
            taken.append(e)
        }
    }

    /// Remembers how many messages the peer takes per request, from any of its answers.
    func learnBatchOffer(_ response: HTTPResponse, lane: Lane) {
        let offer = BatchFraming.offeredMax(response.headers) ?? 1
        cond.lock()
        lane.batchOffer = offer
        cond.unlock()
    }

    /// Attempts several due messages of one lane: each is checked as for a single attempt, those
    /// ready go out in requests of at most `max-body` bytes. Returns, per message, what `attempt`
    /// returns for one.
    func attemptBatch(_ attempts: [(entry: QueueEntry, mayHaveMeta: Bool, body: Data?)], connection: HTTPClient?,
                      rt: NodeRuntime, lane: Lane) -> [(MessageID, Bool?)] {
        var results: [(MessageID, Bool?)] = []
        var chunk: [ReadyMessage] = []
        var bytes = 0
        func sendChunk() {
            guard let connection, !chunk.isEmpty else { return }
            results += send(chunk, over: connection, rt: rt, lane: lane)
            chunk = []
            bytes = 0
        }
        for a in attempts {
            switch prepare(a.entry, mayHaveMeta: a.mayHaveMeta, body: a.body, connection: connection, rt: rt, lane: lane) {
            case .done(let finished):
                results.append((a.entry.messageId, finished))
            case .ready(let ready):
                let framed = ready.body.count + 11  // up to 9 digits and two line feeds
                if !chunk.isEmpty, bytes + framed > rt.config.limits.maxBody { sendChunk() }
                chunk.append(ready)
                bytes += framed
            }
        }
        sendChunk()
        return results
    }

    /// Posts `chunk` as one framed request and records each message's outcome.
    private func send(_ chunk: [ReadyMessage], over connection: HTTPClient, rt: NodeRuntime, lane: Lane) -> [(MessageID, Bool?)] {
        let request = HTTPRequest(method: "POST", target: "/v1/messages", headers: ["Content-Type": BatchFraming.contentType],
                                  body: BatchFraming.encode(chunk.map(\.body)))
        let response: HTTPResponse
        do { response = try connection.send(request) } catch {
            // One unreachable peer is one failure of the peer, not one per message.
            return chunk.enumerated().map { i, r in
                (r.entry.messageId, conclude(.peerDown(error.description), for: r, peerDown: i == 0, rt: rt, lane: lane))
            }
        }
        learnBatchOffer(response, lane: lane)
        guard let outcomes = Self.checkBatchAnswer(response, for: chunk, to: rt.config.node.organisation) else {
            // Not an answer to a batch: the peer does not take them (an older node reads the body as
            // one message and refuses it, whatever a proxy may add to its headers; a node with
            // batches switched off says 415 and stops offering), or it could not read the framing
            // (400). Nothing was settled; each message goes again alone, now.
            let believeOffers = response.status == 415
            cond.lock()
            lane.batchOffer = 1
            if !believeOffers { lane.batchesRefused = true }
            cond.unlock()
            log.limited(.warning, key: "batch-\(lane.name)", every: .seconds(300),
                        "peer \(lane.name) did not take a batch (HTTP \(response.status)); sending one message per request"
                            + (believeOffers ? "" : " until the next reload: \(String(decoding: response.body.prefix(200), as: UTF8.self))"))
            for r in chunk { schedule(r.entry, lane: lane) }
            return chunk.map { ($0.entry.messageId, false) }
        }
        metrics.count("stafett_delivered_batches_total", labels: ["peer": lane.name])
        return zip(chunk, outcomes).map { r, outcome in (r.entry.messageId, conclude(outcome, for: r, rt: rt, lane: lane)) }
    }

    /// What a peer's answer to a batch comes to, per message in the order sent; nil when the answer
    /// is not about a batch at all (see `send`). A batch receipt is evidence for a message only
    /// when it is schema-valid, signed by the peer, issued by it to this node `me`, has one entry per
    /// message sent, and that entry names the bytes sent (`ReceivedDigest`) and passes the checks a
    /// single receipt must (`mismatch`).
    static func checkBatchAnswer(_ response: HTTPResponse, for chunk: [ReadyMessage], to me: OrganisationNumber) -> [AttemptOutcome]? {
        func all(_ why: String) -> [AttemptOutcome] { Array(repeating: .retry(why), count: chunk.count) }
        if response.status == 400 || response.status == 413 || response.status == 415 { return nil }
        guard response.status == 200 else {
            return all("HTTP \(response.status) \(response.reason): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        // Kept once in the archive, never in the journal; still bounded, by what the entries need.
        let limit = maxReceiptBytes + chunk.count * (4 << 10)
        guard response.body.count <= limit else { return all("the batch receipt is \(response.body.count) bytes, more than \(limit): not accepted") }
        guard let peer = chunk.first?.peer else { return [] }
        do {
            let doc = try XMLDocument.parse(response.body)
            guard BatchReceiptXML.isBatch(doc) else { return nil }
            try SchemaValidator.receipt.validate(doc)
            _ = try peer.verifySignature(doc)
            let batch = try BatchReceiptXML.decode(doc)
            guard batch.entries.count == chunk.count else {
                return all("the batch receipt has \(batch.entries.count) entries for \(chunk.count) messages sent")
            }
            let signed = SignedBatchReceipt(response.body)
            return zip(chunk, batch.entries).map { r, e in
                guard e.receivedDigest == SHA256.hash(r.body).base64EncodedString() else {
                    return .retry("the batch receipt's entry for \(r.entry.messageId) names other bytes than were sent")
                }
                let receipt = batch.receipt(of: e)
                if let why = mismatch(receipt, for: r.entry, from: peer, to: me) { return .retry(why) }
                return .batchReceipt(receipt, signed: signed)
            }
        } catch {
            return all("unusable batch receipt: \(error)")
        }
    }

    /// What a verified batch receipt says about `entry`, answering a single request (a resend of a
    /// message first delivered in that batch).
    static func checkBatchReceipt(_ batch: BatchReceipt, signed: SignedBatchReceipt, for entry: QueueEntry, from peer: LoadedPeer,
                                  to me: OrganisationNumber) -> AttemptOutcome {
        guard let receipt = batch.receipt(for: entry.messageId) else {
            return .retry("the batch receipt has no entry for \(entry.messageId)")
        }
        if let why = mismatch(receipt, for: entry, from: peer, to: me) { return .retry(why) }
        return .batchReceipt(receipt, signed: signed)
    }
}
