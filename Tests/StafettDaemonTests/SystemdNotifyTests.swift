import Foundation
import XCTest
@testable import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket bound like systemd's notify socket, for receiving what the daemon sends.
final class DatagramReceiver {
    let fd: Int32
    let path: String

    /// `path` starting with `@` binds in the abstract namespace.
    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let len = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The next datagram, or nil after the 2 s receive timeout.
    func receive() -> String? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n < 0 ? nil : String(decoding: buf[0..<n], as: UTF8.self)
    }
}

final class SystemdNotifyTests: XCTestCase {
    func testNoSocketIsANoOp() {
        let n = SystemdNotify(environment: [:])
        XCTAssertFalse(n.isEnabled)
        XCTAssertFalse(n.ready())
        XCTAssertFalse(n.startWatchdog(on: .global()))
    }

    func testReadyStatusStoppingReloadingToPathSocket() throws {
        let dir = try TempDir()
        let path = dir.url.appendingPathComponent("notify.sock").path
        let rx = try DatagramReceiver(path: path)
        let n = SystemdNotify(environment: ["NOTIFY_SOCKET": path])
        XCTAssertTrue(n.isEnabled)
        XCTAssertTrue(n.ready(status: "listening on 0.0.0.0:8443\nqueue 3"))
        XCTAssertEqual(rx.receive(), "READY=1\nSTATUS=listening on 0.0.0.0:8443 queue 3")
        XCTAssertTrue(n.status("2 peers up"))
        XCTAssertEqual(rx.receive(), "STATUS=2 peers up")
        XCTAssertTrue(n.reloading())
        let reload = try XCTUnwrap(rx.receive())
        XCTAssertTrue(reload.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), reload)
        XCTAssertNotNil(UInt64(reload.split(separator: "=").last!))
        XCTAssertTrue(n.stopping())
        XCTAssertEqual(rx.receive(), "STOPPING=1")
    }

    func testAbstractSocket() throws {
        let name = "@stafett-test-\(UUID().uuidString)"
        let rx = try DatagramReceiver(path: name)
        let n = SystemdNotify(environment: ["NOTIFY_SOCKET": name])
        XCTAssertTrue(n.watchdog())
        XCTAssertEqual(rx.receive(), "WATCHDOG=1")
    }

    func testSendToMissingSocketFails() throws {
        let dir = try TempDir()
        let n = SystemdNotify(environment: ["NOTIFY_SOCKET": dir.url.appendingPathComponent("none").path])
        XCTAssertFalse(n.ready())
    }

    func testWatchdogIntervalAndPings() throws {
        XCTAssertNil(SystemdNotify(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"]).watchdogInterval)
        XCTAssertEqual(SystemdNotify(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"]).watchdogInterval,
                       .seconds(15))
        XCTAssertNil(SystemdNotify(environment: ["WATCHDOG_USEC": "0"]).watchdogInterval)

        let dir = try TempDir()
        let path = dir.url.appendingPathComponent("notify.sock").path
        let rx = try DatagramReceiver(path: path)
        let n = SystemdNotify(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"])
        XCTAssertEqual(n.watchdogInterval, .milliseconds(50))
        let start = Date()
        XCTAssertTrue(n.startWatchdog(on: DispatchQueue(label: "wd")))
        for _ in 0..<3 { XCTAssertEqual(rx.receive(), "WATCHDOG=1") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0)
        n.stopWatchdog()

        // An unhealthy daemon stops pinging.
        let m = SystemdNotify(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"])
        while true {  // drain what the first one may still have sent
            var tv = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(rx.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if rx.receive() == nil { break }
        }
        m.startWatchdog(on: DispatchQueue(label: "wd2"), isHealthy: { false })
        XCTAssertNil(rx.receive())
        m.stopWatchdog()
    }
}

/// `STATUS=`: what the node is doing, sent when it changes.
final class NodeStatusTests: XCTestCase {
    let utc = TimeZone(identifier: "UTC")!

    func testLineNamesQueueDownPeersAndLastIntake() throws {
        let now = try XCTUnwrap(ISO8601DateFormatter().date(from: "2026-12-06T10:00:00Z"))
        let status = NodeStatus(peers: [
            .init(name: "migrationsverket", waiting: 0, downSince: nil),
            .init(name: "polisen", waiting: 9, downSince: now.addingTimeInterval(-(6 * 3600 + 48 * 60))),
            .init(name: "stockholm", waiting: 3, downSince: nil),
        ], lastIntake: now.addingTimeInterval(-150))
        XCTAssertEqual(status.line(now: now, timeZone: utc), "12 queued for 2 peers; peer polisen down since 03:12; last intake 2 min ago")
        let quiet = NodeStatus(peers: [.init(name: "polisen", waiting: 0, downSince: now.addingTimeInterval(-86_400))], lastIntake: nil)
        XCTAssertEqual(quiet.line(now: now, timeZone: utc), "nothing queued; peer polisen down since 2026-12-05 10:00; no intake since start")
        let stockholm = try XCTUnwrap(TimeZone(identifier: "Europe/Stockholm"))
        XCTAssertTrue(status.line(now: now, timeZone: stockholm).contains("down since 04:12"), "in the daemon's time zone")
    }

    func testManyDownPeersAreCounted() {
        let now = Date()
        let peers = (1...5).map { NodeStatus.Peer(name: "p\($0)", waiting: 1, downSince: now) }
        let line = NodeStatus(peers: peers, lastIntake: now).line(now: now, timeZone: utc)
        XCTAssertTrue(line.hasPrefix("5 queued for 5 peers; peer p1 down since"), line)
        XCTAssertTrue(line.contains("peer p3 down") && !line.contains("peer p4 down"), line)
        XCTAssertTrue(line.hasSuffix("; 2 more peers down; last intake just now"), line)
    }

    /// The timer sends the line when it changes and not again while it stays the same.
    func testPublishStatusSendsOnlyChanges() throws {
        let dir = try TempDir()
        let path = dir.url.appendingPathComponent("notify.sock").path
        let rx = try DatagramReceiver(path: path)
        let n = SystemdNotify(environment: ["NOTIFY_SOCKET": path])
        let text = LockedText("3 queued for 1 peer")
        XCTAssertTrue(n.publishStatus(every: .milliseconds(50), on: DispatchQueue(label: "status")) { text.value })
        XCTAssertEqual(rx.receive(), "STATUS=3 queued for 1 peer")
        text.value = "nothing queued\nreally"
        XCTAssertEqual(rx.receive(), "STATUS=nothing queued really")
        var tv = timeval(tv_sec: 0, tv_usec: 300_000)
        setsockopt(rx.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        XCTAssertNil(rx.receive(), "an unchanged status is not sent again")
        n.stopPublishingStatus()
        text.value = "changed after stop"
        XCTAssertNil(rx.receive())
        XCTAssertFalse(SystemdNotify(environment: [:]).publishStatus(every: .seconds(1), on: .global()) { "x" })
    }
}

/// A string shared with a timer's handler.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String
    init(_ text: String) { self.text = text }
    var value: String {
        get { lock.withLock { text } }
        set { lock.withLock { text = newValue } }
    }
}

/// Which reload answers a SIGHUP sent now (`stafettd --reload`).
final class ReloadAnswerTests: XCTestCase {
    func testTheAnswerToASignalIsTheNextReloadOrTheOneAfterAReloadUnderWay() throws {
        let done = ReloadAnswer(pid: 42, generation: 3, state: .failed, message: "x")
        XCTAssertEqual(ReloadAnswer.generationAnswering(signalSentAfter: done, pid: 42), 4)
        var underWay = done
        underWay.state = .reloading
        XCTAssertEqual(ReloadAnswer.generationAnswering(signalSentAfter: underWay, pid: 42), 5, "it may have read the file before the edit")
        XCTAssertEqual(ReloadAnswer.generationAnswering(signalSentAfter: done, pid: 7), 1, "an answer from an earlier run")
        XCTAssertEqual(ReloadAnswer.generationAnswering(signalSentAfter: nil, pid: 42), 1)

        let dir = try TempDir()
        let file = dir.url.appendingPathComponent("reload-result")
        XCTAssertNil(ReloadAnswer.read(file))
        try underWay.write(to: file)
        XCTAssertEqual(ReloadAnswer.read(file), underWay)
    }
}
