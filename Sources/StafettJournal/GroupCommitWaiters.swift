import Foundation

// Waiting for durability when several appenders share a batch (`append` from many threads,
// `appendAsync` from many tasks). The daemon's one writer, `appendBatch` per `CommitBatcher`
// round, waits here alone; these are kept for a second writer in the process and for the
// measured appender figures (docs/journal-format.md, "Which path production takes").

/// One blocking appender waiting for its batch: woken by whoever flushed it through its own
/// semaphore, so a finished flush wakes each waiter once, without a convoy on the journal's mutex.
final class Waiter: @unchecked Sendable {
    enum Outcome { case durable, failed(JournalError) }
    let semaphore = DispatchSemaphore(value: 0)
    var outcome: Outcome = .durable
    /// Waiters this one wakes in turn once it runs (set before its semaphore is signalled).
    var relay: ArraySlice<Waiter> = []

    /// Blocks until woken, passes the wake-up on, and returns the outcome.
    func wait() -> Outcome {
        semaphore.wait()
        Waiter.wakeAll(relay, outcome)
        relay = []
        return outcome
    }

    private func wake(_ outcome: Outcome) {
        self.outcome = outcome
        semaphore.signal()
    }

    /// How the flusher wakes a batch's waiters: it signals the first alone and hands it all the
    /// others to wake (by `wakeAll`, once it runs), so the flusher makes one futex call per batch
    /// and goes straight on to the next fsync (signalling log2(n) of them itself kept the disk
    /// idle for a few futex calls and cross-CPU interrupts per batch).
    static func wakeVia(_ list: [Waiter], _ outcome: Outcome) {
        guard let first = list.first else { return }
        first.relay = list.dropFirst()
        first.wake(outcome)
    }

    /// Wakes every waiter of `list` with `outcome`. Each waiter signalled takes half of those
    /// still unsignalled along to wake when it runs, so the caller makes about log2(n) calls
    /// and the wake-ups (a futex call and often a cross-CPU interrupt each) spread over the
    /// woken threads instead of delaying the flusher's next fsync.
    static func wakeAll(_ list: ArraySlice<Waiter>, _ outcome: Outcome) {
        var rest = list
        while let w = rest.first {
            rest = rest.dropFirst()
            let share = rest.count / 2
            w.relay = rest.prefix(share)
            rest = rest.dropFirst(share)
            w.wake(outcome)
        }
    }
}

/// How a suspended `appendAsync` learns its outcome: its sequence number once durable, or the error.
typealias AppendContinuation = UnsafeContinuation<Result<UInt64, JournalError>, Never>

/// The appenders waiting for one batch to become durable: threads asleep on their semaphores and
/// suspended tasks. A task costs no thread while it waits; resuming it only schedules it on its
/// executor, so a flush can release hundreds of them without a context switch each.
struct BatchWaiters {
    var threads: [Waiter] = []
    var tasks: [(continuation: AppendContinuation, sequence: UInt64)] = []

    var isEmpty: Bool { threads.isEmpty && tasks.isEmpty }

    /// Takes everything out, leaving this list empty (keeping its storage would keep the
    /// arrays shared with the copy being woken, forcing a copy on the next append).
    mutating func take() -> BatchWaiters {
        defer { self = BatchWaiters() }
        return self
    }

    /// Reports `error`, or durability when it is nil, to every waiter. Call without the journal's
    /// mutex: woken threads return without taking it, and resumed tasks run elsewhere.
    func wake(_ error: JournalError?) {
        for t in tasks { t.continuation.resume(returning: error.map { .failure($0) } ?? .success(t.sequence)) }
        Waiter.wakeVia(threads, error.map { .failed($0) } ?? .durable)
    }
}
