import Foundation
import StafettTransport

/// What one phase of `stafett-bench fanin` measured.
struct FanInPhaseResult {
    /// Milliseconds from each message's due time to its accepted receipt (includes waiting for
    /// a free connection of its peer: what a message in the sender's queue sees).
    var latencies: [Double] = []
    /// Milliseconds of the request that got the accepted receipt (one exchange on the wire).
    var exchanges: [Double] = []
    /// Failed attempts by reason (each retried after the back-off when the phase retries).
    var failures: [String: Int] = [:]
    /// Messages never accepted.
    var lost = 0
    /// Seconds from the phase's start to its last accepted receipt.
    var lastServed: Double = 0

    var summary: String {
        let l = latencies.sorted(), e = exchanges.sorted()
        return String(format: "latency p50 %.1f ms, p99 %.1f ms, max %.1f ms (one exchange: p50 %.1f ms, p99 %.1f ms)",
                      percentile(l, 0.5) ?? .nan, percentile(l, 0.99) ?? .nan, l.last ?? .nan,
                      percentile(e, 0.5) ?? .nan, percentile(e, 0.99) ?? .nan)
    }

    var failureSummary: String {
        let failed = failures.values.reduce(0, +)
        guard failed > 0 || lost > 0 else { return "no failed attempts" }
        return "\(failed) failed attempt(s), \(lost) message(s) never accepted: "
            + failures.sorted { $0.value > $1.value }.prefix(4).map { "\($1)× \($0)" }.joined(separator: "; ")
    }
}

/// Drives the peers' sends: per peer up to `connections` threads (as a sending node keeps
/// `connections-per-peer` connections, each used by one delivery at a time), blocking sends on
/// each peer's own `HTTPClient`. All threads start together on one signal, so "at once" is.
enum FanInDriver {
    /// Sends one message per entry of `due[p]` (seconds after the phase's start) for each peer
    /// `p`, each no earlier than its due time. A failed attempt is retried after `backoff`
    /// seconds (±20 %, as the daemon's jitter) when given, else the message counts as lost.
    static func run(_ peers: [FanInPeer], due: [[Double]], connections: Int, backoff: Double?) -> FanInPhaseResult {
        let state = PhaseState(due: due)
        let done = DispatchGroup()
        for peer in peers {
            for _ in 0..<min(connections, due[peer.index].count) {
                done.enter()
                let thread = Thread {
                    state.waitForStart()
                    work(peer, state: state, backoff: backoff)
                    done.leave()
                }
                thread.stackSize = 1 << 19
                thread.start()
            }
        }
        state.start()
        done.wait()
        return state.result
    }

    private static func work(_ peer: FanInPeer, state: PhaseState, backoff: Double?) {
        while let due = state.take(peer.index) {
            let wait = due - state.elapsed
            if wait > 0 { usleep(useconds_t(wait * 1e6)) }
            guard let body = peer.takeMessage() else { state.lost("the pre-signed pool is used up"); continue }
            while true {
                let t0 = state.elapsed
                let outcome: String?
                do {
                    let response = try peer.client.send(HTTPRequest(method: "POST", target: "/v1/messages",
                                                                    headers: ["Content-Type": "application/xml"], body: body))
                    outcome = response.status == 200 && response.body.range(of: Data(">accepted<".utf8)) != nil
                        ? nil : "HTTP \(response.status) " + String(decoding: response.body.prefix(120), as: UTF8.self)
                } catch {
                    outcome = String(describing: error).prefix(100).description
                }
                let t1 = state.elapsed
                guard let why = outcome else {
                    state.served(latency: (t1 - due) * 1000, exchange: (t1 - t0) * 1000, at: t1)
                    break
                }
                guard let backoff else { state.lost(why); break }
                state.failed(why)
                usleep(useconds_t(backoff * Double.random(in: 0.8...1.2) * 1e6))
            }
        }
    }

    /// The phase's shared bookkeeping.
    private final class PhaseState: @unchecked Sendable {
        private let lock = NSCondition()
        private var due: [[Double]]
        private var nextJob: [Int]
        private var started = false
        private var t0: UInt64 = 0
        private(set) var result = FanInPhaseResult()

        init(due: [[Double]]) {
            self.due = due
            nextJob = Array(repeating: 0, count: due.count)
            result.latencies.reserveCapacity(due.reduce(0) { $0 + $1.count })
        }

        func start() {
            lock.lock()
            t0 = DispatchTime.now().uptimeNanoseconds
            started = true
            lock.broadcast()
            lock.unlock()
        }

        func waitForStart() {
            lock.lock()
            while !started { lock.wait() }
            lock.unlock()
        }

        /// Seconds since the start.
        var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }

        func take(_ peer: Int) -> Double? {
            lock.withLock {
                guard nextJob[peer] < due[peer].count else { return nil }
                defer { nextJob[peer] += 1 }
                return due[peer][nextJob[peer]]
            }
        }

        func served(latency: Double, exchange: Double, at: Double) {
            lock.withLock {
                result.latencies.append(latency)
                result.exchanges.append(exchange)
                result.lastServed = max(result.lastServed, at)
            }
        }

        func failed(_ why: String) { lock.withLock { result.failures[why, default: 0] += 1 } }

        func lost(_ why: String) {
            lock.withLock {
                result.failures[why, default: 0] += 1
                result.lost += 1
            }
        }
    }
}
