import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Signal handling for the daemon through Dispatch: SIGHUP (reload), SIGTERM and SIGINT (drain
/// and exit), with SIGPIPE ignored so a peer closing mid-write cannot kill the process.
///
/// Keep the instance alive for the life of the process (a `let` in the daemon object, or
/// `withExtendedLifetime` around `dispatchMain()`): release builds free unreferenced sources,
/// and then the signal is silently ignored.
///
/// Create it and install handlers on the main thread first thing in `main`, before other threads
/// start: the handled signals are then blocked in every thread (threads inherit the mask) and
/// reach libdispatch's signalfd reliably. Without that, a process-directed signal (systemd's
/// SIGTERM) can land in a thread that does not block it and, after `SIG_IGN`, be lost; measured
/// here: the third of three `kill(getpid(), SIGHUP)` never reached the source. libdispatch
/// registers a source asynchronously; blocking first keeps a signal that arrives meanwhile pending.
public final class Signals: @unchecked Sendable {
    private let queue: DispatchQueue
    private let lock = PthreadLock()
    private var sources: [Int32: DispatchSourceSignal] = [:]

    /// Handlers will run on `queue`.
    public init(queue: DispatchQueue) {
        self.queue = queue
    }

    deinit {
        for s in sources.values { s.cancel() }
    }

    /// Ignores SIGPIPE process-wide; a closed connection then shows up as EPIPE from write.
    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Runs `handler` on the queue each time `signo` arrives (replacing an earlier handler).
    /// A default disposition is set to ignore first, so the signal no longer terminates us; a
    /// handler already installed (libdispatch's, which forwards the signal to its signalfd) is kept.
    public func on(_ signo: Int32, _ handler: @escaping @Sendable () -> Void) {
        Self.block([signo])
        var current = sigaction()
        if sigaction(signo, nil, &current) == 0,
           unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_DFL, to: Int.self) {
            signal(signo, SIG_IGN)
        }
        let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
        source.setEventHandler(handler: handler)
        lock.withLock {
            sources[signo]?.cancel()
            sources[signo] = source
        }
        source.resume()
    }

    /// SIGHUP → `reload`; SIGTERM and SIGINT → `terminate` (with the signal number); SIGPIPE ignored.
    public func installDaemonHandlers(reload: @escaping @Sendable () -> Void,
                                      terminate: @escaping @Sendable (Int32) -> Void) {
        Self.ignoreSIGPIPE()
        on(SIGHUP, reload)
        on(SIGTERM) { terminate(SIGTERM) }
        on(SIGINT) { terminate(SIGINT) }
    }

    /// Blocks signals in the calling thread (and so in threads it starts later), leaving them
    /// pending for libdispatch's signalfd. Call from `main` before anything starts a thread.
    public static func block(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Stops handling `signo`. It stays blocked and ignored: restoring the default would let a
    /// late SIGTERM kill the process without draining.
    public func remove(_ signo: Int32) {
        lock.withLock {
            sources[signo]?.cancel()
            sources[signo] = nil
        }
    }

    /// The signals currently handled.
    public var handled: [Int32] { lock.withLock { sources.keys.sorted() } }
}

/// A pthread mutex, for the little shared state of signal handling and logging.
final class PthreadLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
