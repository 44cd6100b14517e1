import Foundation

/// The journal's pthread mutex, with the condition variable where a flush leader waits briefly for
/// its batch to fill (with a monotonic deadline, which `NSCondition` cannot give). Appenders
/// waiting for durability sleep on their own semaphores instead (see `Journal.awaitDurable`).
final class GroupCommitLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let leader = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(leader, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(leader)
        pthread_mutex_destroy(mutex)
        leader.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    /// The leader waits until `deadline` (monotonic ns) or a signal (mutex held).
    func waitLeader(untilNanos deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(leader, mutex, &ts)
    }

    /// Wakes the leader waiting for its batch to fill.
    func signalLeader() { pthread_cond_signal(leader) }

    /// Monotonic clock, ns.
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
