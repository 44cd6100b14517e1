import Foundation
import XCTest
@testable import StafettCLI
import StafettDaemon
import StafettModel

/// `stafett queue` over real queue directories written by `QueueStore`.
final class QueueCommandTests: XCTestCase {
    var cli: CLIRun!
    var spool: URL { cli.dir.appendingPathComponent("spool") }
    var state: URL { cli.dir.appendingPathComponent("state") }
    var store: QueueStore!
    let verket = try! OrganisationNumber("2021002163")
    let polisen = try! OrganisationNumber("2021000076")

    override func setUpWithError() throws {
        cli = try CLIRun()
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        store = try QueueStore(directory: spool.appendingPathComponent("queue"))
    }

    /// Queues a message `age` seconds old for `peer`.
    @discardableResult
    func enqueue(_ id: String, peer: String, age: Double, attempts: Int = 0, nextIn: Double = 0,
                 error: String? = nil, held: Bool = false) throws -> QueueEntry {
        let now = Date()
        var e = QueueEntry(messageId: try MessageID(id), peer: peer, recipient: peer == "polisen" ? polisen : verket,
                           eventType: .registered, caseRef: "TBG-\(id)", queuedAt: now.addingTimeInterval(-age),
                           expiresAt: now.addingTimeInterval(86400 * 7), digest: "ZGlnZXN0")
        try AtomicFile.write(Data("<CaseMessage/>".utf8), to: store.messageURL(e))
        e.attempts = attempts
        e.nextAttempt = now.addingTimeInterval(nextIn)
        e.lastError = error
        e.held = held
        try store.update(e)
        return e
    }

    func testListShowsEveryColumnAndPeerSummary() throws {
        try enqueue("msg-old", peer: "migrationsverket", age: 7300, attempts: 4, nextIn: 95,
                    error: "connect 127.0.0.1:8443: Connection refused")
        try enqueue("msg-new", peer: "migrationsverket", age: 30)
        try enqueue("msg-pol", peer: "polisen", age: 600, held: true)
        let r = try cli.run(["queue", "--spool", spool.path])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("PEER"), r.out)
        for column in ["MESSAGE ID", "EVENT", "CASE", "QUEUED", "ATTEMPTS", "NEXT RETRY", "LAST ERROR", "HELD"] {
            XCTAssertTrue(lines[0].contains(column), column)
        }
        // Oldest first; the columns line up under the header.
        let old = try XCTUnwrap(lines.first { $0.contains("msg-old") })
        XCTAssertTrue(lines[1].contains("msg-old"), r.out)
        XCTAssertTrue(old.contains("2h01m"), old)
        XCTAssertTrue(old.contains("in 1m"), old)
        XCTAssertTrue(old.contains("Connection refused"), old)
        XCTAssertTrue(old.contains("Registered"), old)
        XCTAssertTrue(old.contains("TBG-msg-old"), old)
        let idColumn = lines[0].range(of: "MESSAGE ID")!.lowerBound.utf16Offset(in: lines[0])
        XCTAssertEqual(old.range(of: "msg-old")!.lowerBound.utf16Offset(in: old), idColumn)
        let pol = try XCTUnwrap(lines.first { $0.contains("msg-pol") })
        XCTAssertTrue(pol.hasSuffix("yes"), pol)
        XCTAssertTrue(lines.contains { $0.contains("msg-new") && $0.contains(" now ") })
        XCTAssertTrue(r.out.contains("migrationsverket: 2 message(s), oldest queued 2h01m ago, last error: connect 127.0.0.1:8443: Connection refused"), r.out)
        XCTAssertTrue(r.out.contains("polisen: 1 message(s), oldest queued 10m ago, 1 held, no errors"), r.out)
    }

    func testJSONForScripts() throws {
        try enqueue("msg-a", peer: "migrationsverket", age: 120, attempts: 2, nextIn: 30, error: "HTTP 503")
        let r = try cli.run(["queue", "--spool", spool.path, "-o", "json"])
        XCTAssertEqual(r.code, 0, r.err)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let messages = try XCTUnwrap(obj["messages"] as? [[String: Any]])
        XCTAssertEqual(messages.count, 1)
        XCTAssertEqual(messages[0]["messageId"] as? String, "msg-a")
        XCTAssertEqual(messages[0]["attempts"] as? Int, 2)
        XCTAssertEqual(messages[0]["lastError"] as? String, "HTTP 503")
        XCTAssertEqual(messages[0]["held"] as? Bool, false)
        XCTAssertEqual(try XCTUnwrap(messages[0]["ageSeconds"] as? Int), 120, accuracy: 2)
        XCTAssertEqual(try XCTUnwrap(messages[0]["nextAttemptInSeconds"] as? Int), 30, accuracy: 2)
        let peers = try XCTUnwrap(obj["peers"] as? [[String: Any]])
        XCTAssertEqual(peers.first?["peer"] as? String, "migrationsverket")
        XCTAssertEqual(peers.first?["count"] as? Int, 1)
    }

    /// `-o csv` is the CSV `followup` writes (one writer, `ExcelCSV`): BOM, `;`, CRLF, whole
    /// errors (the table cuts them at 60), times with the zone in the header; `--utc` for UTC.
    func testCSVForExcelWithWholeErrorsAndTimes() throws {
        let long = "TLS handshake with 127.0.0.1:8443 failed; certificate verify failed: \"unable to get local issuer\""
        let e = try enqueue("msg-a", peer: "migrationsverket", age: 120, attempts: 2, nextIn: 30, error: long)
        let r = try cli.run(["queue", "--spool", spool.path, "-o", "csv", "--utc"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("PEER;MESSAGE ID;EVENT;CASE;QUEUED (UTC);ATTEMPTS;NEXT ATTEMPT (UTC);EXPIRES (UTC);LAST ERROR;HELD\r\n"), r.out)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let row = "migrationsverket;msg-a;Registered;TBG-msg-a;\(f.string(from: e.queuedAt));2;\(f.string(from: e.nextAttempt));"
            + "\(f.string(from: e.expiresAt));\"\(long.replacingOccurrences(of: "\"", with: "\"\""))\";no\r\n"
        XCTAssertTrue(r.out.hasSuffix(row), r.out)
        let local = try cli.run(["queue", "--spool", spool.path, "-o", "csv"])
        XCTAssertTrue(local.out.contains("QUEUED (local time)"), local.out)
        let bytes = Console.memory()
        QueueCommand.list([e], format: "csv", now: Date(), console: bytes)
        XCTAssertTrue(bytes.output.hasPrefix("\u{FEFF}PEER;"), "a BOM, or Excel reads å as Ã¥")
        let shape = try cli.run(["queue", "shape", "--spool", spool.path, "-o", "csv"])
        XCTAssertEqual(shape.out, "PEER;T;0-5m;5-30m;30-60m;1-4h;4-24h;1-3d;3d+\r\nTOTAL;1;1;0;0;0;0;0;0\r\nmigrationsverket;1;1;0;0;0;0;0;0\r\n")
    }

    /// On a terminal the table fits its width: the last error gives way (cut with …), the
    /// message id never does; to a pipe (no width) nothing is cut but the 60-character limit.
    func testTableFitsTheTerminalWidth() throws {
        let e = try enqueue("msg-a", peer: "migrationsverket", age: 120, attempts: 2,
                            error: "connect 127.0.0.1:8443: Connection refused after 3 tries over 2 minutes")
        let console = Console.memory()
        console.width = 120
        QueueCommand.list([e], format: "text", now: Date(), console: console)
        let table = console.output.split(separator: "\n").prefix(2)
        for line in table { XCTAssertLessThanOrEqual(line.count, 120, String(line)) }
        XCTAssertTrue(table.last!.contains("migrationsverket  msg-a  "), console.output)
        XCTAssertTrue(table.last!.contains("connect 127.0.0.1:8443: Conn"), console.output)
        XCTAssertTrue(table.last!.contains("…"), console.output)
        let wide = Console.memory()
        QueueCommand.list([e], format: "text", now: Date(), console: wide)
        XCTAssertTrue(wide.output.contains("Connection refused after 3 tries ov…"), wide.output)
        XCTAssertGreaterThan(wide.output.split(separator: "\n")[1].count, 120)
    }

    func testEmptyQueueAndMissingDirectory() throws {
        let r = try cli.run(["queue", "--spool", spool.path])
        XCTAssertEqual(r.code, 0)
        XCTAssertEqual(r.out, "Queue is empty.\n")
        let missing = try cli.run(["queue", "--spool", cli.path("nowhere")])
        XCTAssertEqual(missing.code, ExitCode.failure)
        XCTAssertTrue(missing.err.contains("no queue directory"), missing.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.path("nowhere/queue")), "a typo must not create a queue")
        XCTAssertEqual(try cli.run(["queue", "--spool", spool.path, "-o", "xml"]).code, ExitCode.usage)
        XCTAssertEqual(try cli.run(["queue", "frobnicate", "--spool", spool.path]).code, ExitCode.usage)
        XCTAssertEqual(try cli.run(["queue", "hold", "--spool", spool.path]).code, ExitCode.usage)
    }

    func testShapeBucketsByAge() throws {
        try enqueue("a", peer: "migrationsverket", age: 10)
        try enqueue("b", peer: "migrationsverket", age: 400)
        try enqueue("c", peer: "migrationsverket", age: 2 * 3600)
        try enqueue("d", peer: "polisen", age: 5 * 86400)
        let r = try cli.run(["queue", "shape", "--spool", spool.path])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines[0], ["PEER", "T", "0-5m", "5-30m", "30-60m", "1-4h", "4-24h", "1-3d", "3d+"])
        XCTAssertEqual(lines[1], ["TOTAL", "4", "1", "1", "0", "1", "0", "0", "1"])
        XCTAssertEqual(lines[2], ["migrationsverket", "3", "1", "1", "0", "1", "0", "0", "0"])
        XCTAssertEqual(lines[3], ["polisen", "1", "0", "0", "0", "0", "0", "0", "1"])
        let json = try cli.run(["queue", "shape", "--spool", spool.path, "-o", "json"])
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        XCTAssertEqual((obj["peers"] as? [String: [Int]])?["polisen"], [0, 0, 0, 0, 0, 0, 1])
    }

    func testHoldReleaseRetryRewriteTheMeta() throws {
        try enqueue("m1", peer: "migrationsverket", age: 60, attempts: 3, nextIn: 600, error: "refused")
        try enqueue("m2", peer: "polisen", age: 60, attempts: 1, nextIn: 600)
        var r = try cli.run(["queue", "hold", "m1", "--spool", spool.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("hold: migrationsverket m1"), r.out)
        XCTAssertTrue(r.out.contains("stafettd was not told"), r.out)
        var m1 = try XCTUnwrap(store.loadAll().first { $0.messageId.rawValue == "m1" })
        XCTAssertTrue(m1.held)
        XCTAssertEqual(m1.attempts, 3, "an operator action keeps the retry history")

        r = try cli.run(["queue", "release", "m1", "--spool", spool.path])
        XCTAssertEqual(r.code, 0, r.err)
        m1 = try XCTUnwrap(store.loadAll().first { $0.messageId.rawValue == "m1" })
        XCTAssertFalse(m1.held)
        XCTAssertLessThanOrEqual(m1.nextAttempt.timeIntervalSinceNow, 1)

        r = try cli.run(["queue", "retry", "-", "--spool", spool.path])
        XCTAssertEqual(r.code, 0, r.err)
        for e in store.loadAll() { XCTAssertLessThanOrEqual(e.nextAttempt.timeIntervalSinceNow, 1, "\(e.messageId)") }

        r = try cli.run(["queue", "hold", "-", "--spool", spool.path])
        XCTAssertEqual(store.loadAll().filter(\.held).count, 2)

        r = try cli.run(["queue", "retry", "no-such-id", "--spool", spool.path])
        XCTAssertEqual(r.code, ExitCode.invalid)
        XCTAssertTrue(r.err.contains("no message no-such-id"), r.err)
    }

    /// The CLI reads the queue, then the daemon records a failed attempt, then the CLI acts: each
    /// action changes only its own fields, on the state on disk, and keeps the daemon's attempt
    /// count and last error (it used to write back what it had read).
    func testActionsKeepTheAttemptTheDaemonRecordedSinceTheRead() throws {
        let e = try enqueue("m1", peer: "migrationsverket", age: 60, attempts: 1, nextIn: 600, error: "first")
        let snapshot = store.loadAll()  // what `stafett queue hold m1` read
        let started = store.retryState(of: e)
        var attempt = try XCTUnwrap(started)
        attempt.attempts = 2
        attempt.lastError = "HTTP 503 second"
        attempt.nextAttempt = Date().addingTimeInterval(1200)
        XCTAssertNotNil(try store.recordAttempt(attempt, startedFrom: started))

        let devNull = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/null"))
        let console = Console(out: devNull, err: devNull)
        var states: [String: QueueEntry] = [:]
        for action in ["hold", "retry", "release"] {
            let code = QueueCommand.act(action, ids: ["m1"], entries: snapshot, store: store, state: nil, now: Date(), console: console)
            XCTAssertEqual(code, ExitCode.ok, action)
            let onDisk = try XCTUnwrap(store.reload(e))
            XCTAssertEqual(onDisk.attempts, 2, action)
            XCTAssertEqual(onDisk.lastError, "HTTP 503 second", action)
            states[action] = onDisk
        }
        XCTAssertEqual(states["hold"]?.held, true)
        XCTAssertEqual(states["hold"]?.nextAttempt.timeIntervalSinceNow ?? 0, 1200, accuracy: 5, "hold leaves the back-off alone")
        XCTAssertEqual(states["retry"]?.held, true, "retry leaves the hold alone")
        XCTAssertLessThanOrEqual(states["retry"]?.nextAttempt.timeIntervalSinceNow ?? 99, 1)
        XCTAssertEqual(states["release"]?.held, false)
        XCTAssertLessThanOrEqual(states["release"]?.nextAttempt.timeIntervalSinceNow ?? 99, 1)
    }

    func testActionSignalsTheDaemonNamedInThePidFile() throws {
        try enqueue("m1", peer: "migrationsverket", age: 60, nextIn: 600)
        // A stand-in process whose default SIGUSR1 action (terminate) shows the signal arrived.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        // The child inherits this process's SIGUSR1 disposition and mask, which other tests in
        // the bundle may have set to "ignore" (dispatch signal sources do): spawn it with the default.
        let previous = signal(SIGUSR1, SIG_DFL)
        var usr1 = sigset_t(), mask = sigset_t()
        sigemptyset(&usr1)
        sigaddset(&usr1, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &usr1, &mask)
        defer {
            pthread_sigmask(SIG_SETMASK, &mask, nil)
            signal(SIGUSR1, previous)
        }
        try sleeper.run()
        defer { if sleeper.isRunning { sleeper.terminate() } }
        try Data("\(sleeper.processIdentifier)\n".utf8).write(to: state.appendingPathComponent("stafettd.pid"))
        let r = try cli.run(["queue", "retry", "m1", "--spool", spool.path, "--state", state.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("told stafettd (pid \(sleeper.processIdentifier)) to rescan the queue"), r.out)
        sleeper.waitUntilExit()
        XCTAssertEqual(sleeper.terminationReason, .uncaughtSignal)
        XCTAssertEqual(sleeper.terminationStatus, SIGUSR1)

        // The process is gone now: the pid file is stale, and the output says so.
        let stale = try cli.run(["queue", "hold", "m1", "--spool", spool.path, "--state", state.path])
        XCTAssertEqual(stale.code, 0, stale.err)
        XCTAssertTrue(stale.out.contains("stale pid file"), stale.out)
    }

    /// A message never tried yet has no `.meta`: its row comes from the signed message itself;
    /// an unreadable message is reported (exit 3) without hiding the others.
    func testEntriesWithoutRetryStateAndUnreadableOnes() throws {
        let dir = spool.appendingPathComponent("queue/migrationsverket")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let id = "0f6a1c2e-5b7d-4e11-9a3f-1d2c3b4a5e61"
        try FileManager.default.copyItem(at: examplesDirectory.appendingPathComponent("registered-signed.xml"),
                                         to: dir.appendingPathComponent("\(id).xml"))
        var r = try cli.run(["queue", "--spool", spool.path, "-o", "json"])
        XCTAssertEqual(r.code, 0, r.err)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let m = try XCTUnwrap((obj["messages"] as? [[String: Any]])?.first)
        XCTAssertEqual(m["messageId"] as? String, id)
        XCTAssertEqual(m["attempts"] as? Int, 0)
        XCTAssertEqual(m["eventType"] as? String, "Registered")
        XCTAssertEqual(m["recipient"] as? String, "2021002163")
        XCTAssertEqual(m["queuedAt"] as? String, "2026-11-23T08:15:30Z", "queued when the message was created")

        // hold writes the retry state that was missing.
        r = try cli.run(["queue", "hold", id, "--spool", spool.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("\(id).meta").path))
        XCTAssertEqual(store.loadAll().first?.held, true)

        try Data("<not-a-message/>".utf8).write(to: dir.appendingPathComponent("broken.xml"))
        r = try cli.run(["queue", "--spool", spool.path])
        XCTAssertEqual(r.code, ExitCode.failure)
        XCTAssertTrue(r.err.contains("broken.xml: unreadable queue entry"), r.err)
        XCTAssertTrue(r.out.contains(id), "the readable entry is still listed: \(r.out)")
    }

    func testReadsThePathsFromTheConfigFile() throws {
        let config = """
            [node]
            organisation = 212000-1165
            name = Trelleborgs kommun
            [paths]
            spool = \(spool.path)
            state = \(state.path)
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: cli.path("stafett.conf")))
        try enqueue("from-config", peer: "migrationsverket", age: 5)
        let r = try cli.run(["queue", "--config", cli.path("stafett.conf")])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("from-config"), r.out)
        let bad = try cli.run(["queue", "--config", cli.path("missing.conf")])
        XCTAssertEqual(bad.code, ExitCode.failure)
        XCTAssertTrue(bad.err.contains("missing.conf"), bad.err)
    }
}

/// The one table layout of the text output.
final class TextTableTests: XCTestCase {
    func testTheWidestShrinkableColumnGivesWayFirst() {
        let table = TextTable(header: ["ID", "A", "B"], rows: [["id-1", String(repeating: "a", count: 40), String(repeating: "b", count: 20)]],
                              shrinkable: [1, 2])
        XCTAssertEqual(table.lines(width: nil)[1], "id-1  " + String(repeating: "a", count: 40) + "  " + String(repeating: "b", count: 20))
        let fitted = table.lines(width: 50)
        XCTAssertEqual(fitted[1], "id-1  " + String(repeating: "a", count: 21) + "…  " + String(repeating: "b", count: 20))
        XCTAssertEqual(fitted[1].count, 50)
        // Down to the floor (12) the widest gives way; then the next.
        let narrow = table.lines(width: 30)
        XCTAssertEqual(narrow[1], "id-1  " + String(repeating: "a", count: 11) + "…  " + String(repeating: "b", count: 11) + "…")
        XCTAssertEqual(table.lines(width: 10)[1].count, 6 + 12 + 2 + 12, "never below the floor: better a wrapped line than no text")
    }

    func testRightAlignedAndTerminalSafe() {
        let lines = TextTable(header: ["PEER", "N"], rows: [["p\u{1B}[31m", "7"], ["polisen", "12"]], rightAligned: [1]).lines(width: nil)
        XCTAssertEqual(lines, ["PEER      N", "p?[31m    7", "polisen  12"])
    }
}
