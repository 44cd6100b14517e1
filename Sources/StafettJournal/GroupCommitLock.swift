import Foundation

/// A pthread mutex with three condition variables on it: two where appenders wait for durability
/// (by batch parity, so the end of a flush wakes only the appenders it made durable, plus one
/// appender of the next batch to lead it), and one where the flush leader waits briefly for a
/// batch to fill. Foundation's `NSCondition` has one condition per mutex, which would make every
/// flush wake every waiter: on two cores, those context switches cost more than the fsync.
final class GroupCommitLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let followers = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 2)
    private let leader = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(followers, &attr)
        pthread_cond_init(followers + 1, &attr)
        pthread_cond_init(leader, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(followers)
        pthread_cond_destroy(followers + 1)
        pthread_cond_destroy(leader)
        pthread_mutex_destroy(mutex)
        followers.deallocate()
        leader.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits for the end of the flush of batch `batch` (mutex held).
    func waitFollowers(batch: UInt64) { pthread_cond_wait(followers + Int(batch & 1), mutex) }
    /// Wakes everyone waiting for batch `batch`.
    func broadcastFollowers(batch: UInt64) { pthread_cond_broadcast(followers + Int(batch & 1)) }
    /// Wakes one appender waiting for batch `batch` (to lead its flush).
    func signalFollower(batch: UInt64) { pthread_cond_signal(followers + Int(batch & 1)) }

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
