import Foundation
import XCTest
@testable import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

final class SignalsTests: XCTestCase {
    func testHandlersRunOnSignalAndSurviveRepeatedSignals() {
        let signals = Signals(queue: DispatchQueue(label: "signals"))
        let hup = expectation(description: "SIGHUP handled twice")
        hup.expectedFulfillmentCount = 2
        let usr = expectation(description: "SIGUSR1 handled")
        signals.on(SIGHUP) { hup.fulfill() }
        signals.on(SIGUSR1) { usr.fulfill() }
        XCTAssertEqual(signals.handled, [SIGHUP, SIGUSR1].sorted())
        // libdispatch registers the sources on its manager thread, asynchronously; in this process
        // other threads started before the signals were blocked, so give registration a moment.
        Thread.sleep(forTimeInterval: 0.1)
        // Process-directed, as systemd and kill(1) send them.
        kill(getpid(), SIGHUP)
        kill(getpid(), SIGUSR1)
        // Dispatch may coalesce two quick signals; wait for the first before the second.
        Thread.sleep(forTimeInterval: 0.1)
        kill(getpid(), SIGHUP)
        wait(for: [hup, usr], timeout: 2)
        signals.remove(SIGUSR1)
        XCTAssertEqual(signals.handled, [SIGHUP])
    }

    func testDaemonHandlersMapSignals() {
        let signals = Signals(queue: DispatchQueue(label: "signals2"))
        let reload = expectation(description: "reload")
        let term = expectation(description: "terminate")
        let got = LockedBox<Int32>(0)
        signals.installDaemonHandlers(reload: { reload.fulfill() }, terminate: { sig in got.set(sig); term.fulfill() })
        Thread.sleep(forTimeInterval: 0.1)  // see above
        kill(getpid(), SIGPIPE)  // ignored: the test process survives
        kill(getpid(), SIGHUP)
        kill(getpid(), SIGTERM)
        wait(for: [reload, term], timeout: 2)
        XCTAssertEqual(got.get(), SIGTERM)
    }
}

final class LockedBox<T: Sendable>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&value); lock.unlock() }
}

final class LoggingTests: XCTestCase {
    func testJournaldPrefixAndPlainFormat() {
        let lines = LockedBox<[String]>([])
        let j = Logger(minimumLevel: .info, journald: true, sink: { l in lines.mutate { $0.append(l) } })
        j.error("queue disk full\nsecond line")
        j.debug("not shown")
        j.warning("peer polisen down")
        XCTAssertEqual(lines.get(), ["<3>queue disk full\n<3>second line\n", "<4>peer polisen down\n"])

        let p = Logger(minimumLevel: .debug, journald: false, sink: { l in lines.set([l]) })
        p.debug("detail")
        let line = lines.get()[0]
        XCTAssertTrue(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z debug: detail\n$"#, options: .regularExpression) != nil, line)
        XCTAssertEqual(LogLevel(name: "WARN"), .warning)
        XCTAssertEqual(LogLevel(name: "error"), .error)
        XCTAssertNil(LogLevel(name: "loud"))
    }

    /// The time stamp put together digit by digit, zero-padded, in UTC, milliseconds cut (not rounded).
    func testTimestampDigits() {
        XCTAssertEqual(Logger.timestamp(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Logger.timestamp(Date(timeIntervalSince1970: 1_795_564_640.1239)), "2026-11-24T23:57:20.123Z")
        XCTAssertEqual(Logger.timestamp(Date(timeIntervalSince1970: 951_782_405.0095)), "2000-02-29T00:00:05.009Z")
        let p = Logger(minimumLevel: .info, journald: false, sink: { _ in })
        XCTAssertEqual(p.format(.warning, "two\nlines", date: Date(timeIntervalSince1970: 0)),
                       "1970-01-01T00:00:00.000Z warning: two\n1970-01-01T00:00:00.000Z warning: lines\n")
    }

    func testRateLimitPerKey() {
        let lines = LockedBox<[String]>([])
        let log = Logger(journald: true, sink: { l in lines.mutate { $0.append(l) } })
        let t0 = DispatchTime.now()
        let later = DispatchTime(uptimeNanoseconds: t0.uptimeNanoseconds + 61_000_000_000)
        XCTAssertTrue(log.limited(.warning, key: "msg-1", every: .seconds(60), "msg-1 retry failed", now: t0))
        XCTAssertFalse(log.limited(.warning, key: "msg-1", every: .seconds(60), "msg-1 retry failed", now: t0))
        XCTAssertFalse(log.limited(.warning, key: "msg-1", every: .seconds(60), "msg-1 retry failed", now: t0))
        XCTAssertTrue(log.limited(.warning, key: "msg-2", every: .seconds(60), "msg-2 retry failed", now: t0))
        XCTAssertTrue(log.limited(.warning, key: "msg-1", every: .seconds(60), "msg-1 retry failed", now: later))
        XCTAssertEqual(lines.get(), ["<4>msg-1 retry failed\n", "<4>msg-2 retry failed\n",
                                     "<4>msg-1 retry failed (2 similar suppressed)\n"])
    }

    func testRateLimiterStaysBounded() {
        var r = RateLimiter(capacity: 100)
        let now = DispatchTime.now()
        for i in 0..<1000 { XCTAssertEqual(r.admit(key: "k\(i)", interval: .seconds(60), now: now), 0) }
        // The newest keys are still remembered.
        XCTAssertNil(r.admit(key: "k999", interval: .seconds(60), now: now))
    }
}
