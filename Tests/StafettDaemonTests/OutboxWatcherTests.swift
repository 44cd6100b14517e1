import Foundation
import XCTest
@testable import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

final class OutboxWatcherTests: XCTestCase {
    /// Records what the watcher hands on, with the time.
    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [(String, Date)] = []
        func add(_ u: URL) { lock.lock(); items.append((u.path, Date())); lock.unlock() }
        var paths: [String] { lock.lock(); defer { lock.unlock() }; return items.map(\.0) }
        func time(of path: String) -> Date? { lock.lock(); defer { lock.unlock() }; return items.first { $0.0 == path }?.1 }

        /// Waits until `path` has been seen, up to `timeout`.
        func wait(for path: String, timeout: TimeInterval) -> Bool {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end {
                if paths.contains(path) { return true }
                Thread.sleep(forTimeInterval: 0.005)
            }
            return paths.contains(path)
        }
    }

    var dir: TempDir!
    var layout: SpoolLayout!
    var seen: Seen!
    var watcher: OutboxWatcher!

    override func setUpWithError() throws {
        dir = try TempDir()
        layout = SpoolLayout(spool: dir.url.appendingPathComponent("spool"), state: dir.url.appendingPathComponent("state"))
        try layout.create()
        seen = Seen()
    }

    override func tearDown() {
        watcher?.stop()
        watcher = nil
    }

    func start(quiet: Duration = .milliseconds(300), scan: Duration = .seconds(30)) throws {
        var o = OutboxWatcher.Options()
        o.quietPeriod = quiet
        o.scanInterval = scan
        let seen = self.seen!
        watcher = OutboxWatcher(root: layout.outbox, options: o, handlerQueue: DispatchQueue(label: "consumer")) { seen.add($0) }
        try watcher.start()
    }

    /// Writes a file under a dot-name and renames it into place, the documented way.
    func dropByRename(_ rel: String, _ text: String = "x") throws -> String {
        let final = layout.outbox.appendingPathComponent(rel)
        let tmp = final.deletingLastPathComponent().appendingPathComponent(".\(final.lastPathComponent).part")
        try Data(text.utf8).write(to: tmp)
        XCTAssertEqual(rename(tmp.path, final.path), 0)
        return final.path
    }

    func testRenameIntoPlaceIsSeenQuickly() throws {
        try start(quiet: .seconds(5))
        let t0 = Date()
        let path = try dropByRename("a.csv")
        XCTAssertTrue(seen.wait(for: path, timeout: 2))
        XCTAssertLessThan(seen.time(of: path)!.timeIntervalSince(t0), 0.2)
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(seen.paths, [path])  // the dot-file was never handed on
    }

    func testInPlaceWriteWaitsForQuietPeriod() throws {
        try start(quiet: .milliseconds(400))
        let url = layout.outbox.appendingPathComponent("b.json")
        let fd = open(url.path, O_WRONLY | O_CREAT, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = write(fd, "[", 1)
        close(fd)  // IN_CLOSE_WRITE, but the writer comes back
        let t0 = Date()
        Thread.sleep(forTimeInterval: 0.25)
        let h = try FileHandle(forWritingTo: url)
        try h.seekToEnd()
        try h.write(contentsOf: Data("{}]".utf8))
        try h.close()
        let t1 = Date()
        XCTAssertTrue(seen.wait(for: url.path, timeout: 3))
        let at = seen.time(of: url.path)!
        XCTAssertGreaterThanOrEqual(at.timeIntervalSince(t1), 0.38, "handed on before the quiet period after the last write")
        XCTAssertGreaterThan(at.timeIntervalSince(t0), 0.6)
    }

    func testFilesPresentBeforeStartAndSubFolders() throws {
        let before = layout.outbox.appendingPathComponent("trelleborg/old.csv")
        try AtomicFile.write(Data("x".utf8), to: before)
        try AtomicFile.write(Data("x".utf8), to: layout.accepted.appendingPathComponent("done.csv"))
        try AtomicFile.write(Data("x".utf8), to: layout.failed.appendingPathComponent("bad.csv"))
        try start(quiet: .milliseconds(100))
        XCTAssertTrue(seen.wait(for: before.path, timeout: 2))
        XCTAssertThrowsError(try watcher.start())  // once only

        // A new sub-folder created after start, with a file renamed in at once.
        try FileManager.default.createDirectory(at: layout.outbox.appendingPathComponent("malmo/2015"), withIntermediateDirectories: true)
        let nested = try dropByRename("malmo/2015/new.csv")
        XCTAssertTrue(seen.wait(for: nested, timeout: 2))
        // A folder moved in with files already inside.
        let outside = dir.url.appendingPathComponent("staging")
        try AtomicFile.write(Data("x".utf8), to: outside.appendingPathComponent("inner.csv"))
        XCTAssertEqual(rename(outside.path, layout.outbox.appendingPathComponent("staging").path), 0)
        XCTAssertTrue(seen.wait(for: layout.outbox.path + "/staging/inner.csv", timeout: 2))
        // Never anything from accepted/ or failed/.
        try AtomicFile.write(Data("x".utf8), to: layout.accepted.appendingPathComponent("later.csv"))
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertFalse(seen.paths.contains { $0.contains("/accepted/") || $0.contains("/failed/") }, "\(seen.paths)")
    }

    func testIgnoredNames() throws {
        XCTAssertTrue(OutboxWatcher.isIgnored(name: ".hidden.csv"))
        XCTAssertTrue(OutboxWatcher.isIgnored(name: "list.csv.PART"))
        XCTAssertTrue(OutboxWatcher.isIgnored(name: "list.tmp"))
        XCTAssertTrue(OutboxWatcher.isIgnored(name: "list.csv.errors.txt"))
        XCTAssertFalse(OutboxWatcher.isIgnored(name: "list.csv"))
        try start(quiet: .milliseconds(50))
        for name in ["x.part", "x.tmp", "x.csv.errors.txt", ".x"] {
            try AtomicFile.write(Data("x".utf8), to: layout.outbox.appendingPathComponent(name))
        }
        for name in ["desktop.ini", "Thumbs.db", "~$lista.xlsx", ".DS_Store"] {
            XCTAssertTrue(OutboxWatcher.isIgnored(name: name), name)
            try AtomicFile.write(Data("x".utf8), to: layout.outbox.appendingPathComponent(name))
        }
        let marker = try dropByRename("marker.csv")
        XCTAssertTrue(seen.wait(for: marker, timeout: 2))
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(seen.paths, [marker])
    }

    /// How odd names are shown and renamed, and the report name of a name near NAME_MAX.
    func testOddNamesAreShownEscapedAndReportNamesFitNameMax() {
        XCTAssertEqual(OutboxName.escaped("två\nrader\t.csv"), "två\\nrader\\t.csv")
        XCTAssertEqual(OutboxName.escaped("a\u{1B}b\\c.csv"), "a\\u{1B}b\\\\c.csv")
        XCTAssertEqual(OutboxName.escaped("Överföring.csv"), "Överföring.csv", "printable text is unchanged")
        let latin1: [UInt8] = [0xD6] + Array("verf".utf8) + [0xF6] + Array("ring.csv".utf8)
        XCTAssertEqual(OutboxName.escaped(bytes: latin1), "\\xD6verf\\xF6ring.csv")
        XCTAssertEqual(OutboxName.utf8Name(forRawName: latin1), "Överföring.csv")
        XCTAssertEqual(OutboxName.utf8Name(forRawName: [0x61, 0x81, 0x0A, 0x62]), "a__b", "undefined bytes and controls")
        XCTAssertEqual(SpoolLayout.reportName(for: "lista.csv"), "lista.csv.errors.txt")
        let long = String(repeating: "ö", count: 125) + ".csv"  // 254 bytes
        let report = SpoolLayout.reportName(for: long)
        XCTAssertLessThanOrEqual(report.utf8.count, SpoolLayout.nameMax)
        XCTAssertTrue(report.hasSuffix(".errors.txt"))
        XCTAssertNotNil(String(validating: Array(report.utf8), as: UTF8.self), "cut at a character boundary")
        XCTAssertEqual(report, SpoolLayout.reportName(for: long), "the same name every time")
        XCTAssertNotEqual(report, SpoolLayout.reportName(for: String(repeating: "ö", count: 125) + ".txt"))
        for clutter in ["desktop.ini", "Desktop.ini", "Thumbs.db", "~$Lista.xlsx"] { XCTAssertTrue(OutboxName.isClutter(clutter), clutter) }
        XCTAssertFalse(OutboxName.isClutter("lista.csv"))
    }

    func testHandedOnceUntilDoneOrRetry() throws {
        try start(quiet: .milliseconds(50), scan: .milliseconds(100))
        let path = try dropByRename("c.csv")
        XCTAssertTrue(seen.wait(for: path, timeout: 2))
        // Periodic scans and a rewrite in place do not hand it on again while the consumer has it.
        try Data("y".utf8).write(to: URL(fileURLWithPath: path))
        Thread.sleep(forTimeInterval: 0.4)
        XCTAssertEqual(seen.paths, [path])
        watcher.retry(URL(fileURLWithPath: path))
        let end = Date().addingTimeInterval(2)
        while seen.paths.count < 2, Date() < end { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(seen.paths, [path, path])
        // Done: the consumer moved it; the same name dropped again is a new file.
        _ = try layout.moveToAccepted(URL(fileURLWithPath: path))
        watcher.done(URL(fileURLWithPath: path))
        Thread.sleep(forTimeInterval: 0.05)
        _ = try dropByRename("c.csv")
        let end2 = Date().addingTimeInterval(2)
        while seen.paths.count < 3, Date() < end2 { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(seen.paths.count, 3)
    }

    func testFileRemovedDuringQuietPeriodIsNotHandedOn() throws {
        try start(quiet: .milliseconds(200))
        let gone = layout.outbox.appendingPathComponent("gone.csv")
        try Data("x".utf8).write(to: gone)
        Thread.sleep(forTimeInterval: 0.05)
        try FileManager.default.removeItem(at: gone)
        let marker = try dropByRename("marker.csv")
        XCTAssertTrue(seen.wait(for: marker, timeout: 2))
        Thread.sleep(forTimeInterval: 0.4)
        XCTAssertEqual(seen.paths, [marker])
    }

    func testMissingOutboxFailsToStart() throws {
        let w = OutboxWatcher(root: dir.url.appendingPathComponent("nope"), handlerQueue: .global()) { _ in }
        XCTAssertThrowsError(try w.start()) { e in
            XCTAssertTrue("\(e)".contains("cannot watch"), "\(e)")
        }
    }

    func testOverflowFallsBackToScanning() throws {
        // A tiny event queue for this user would need root; instead flood the real queue past
        // its limit (max_queued_events, usually 16384) while the watcher's queue is blocked.
        let maxEvents = (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 16384
        try XCTSkipIf(maxEvents > 70_000, "max_queued_events too large to overflow quickly")
        try start(quiet: .milliseconds(50))
        let sub = layout.outbox.appendingPathComponent("flood")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        Thread.sleep(forTimeInterval: 0.1)  // the watch on flood/ is in place before we block
        let blocker = DispatchSemaphore(value: 0)
        watcher.blockForTesting(until: blocker)
        let count = maxEvents / 2 + 100
        // Each create+write+close in place queues IN_CREATE and IN_CLOSE_WRITE: over the limit.
        for i in 0..<count {
            let fd = open(sub.appendingPathComponent("f\(i).csv").path, O_WRONLY | O_CREAT, 0o600)
            close(fd)
        }
        let last = sub.appendingPathComponent("f\(count - 1).csv").path
        blocker.signal()
        let end = Date().addingTimeInterval(20)
        while seen.paths.count < count, Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(Set(seen.paths).count, count)
        XCTAssertTrue(seen.paths.contains(last))
        XCTAssertGreaterThan(watcher.overflowCount, 0, "the queue was expected to overflow")
    }
}
