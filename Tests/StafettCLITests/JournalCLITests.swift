import Foundation
import StafettDaemon
import StafettCrypto
import StafettJournal
import StafettModel
import XCTest
@testable import StafettCLI

private func tempDir() throws -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-cli-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

private func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Not a test on its own (run directly, it skips): runs in a child process, which sets
/// `STAFETT_APPEND_DIR`, and appends records one by one, 150 ms apart, printing
/// `<seq> <monotonic ns>` right after each append has returned.
final class AppenderProcessHelper: XCTestCase {
    func testAppendSlowly() throws {
        guard let dir = ProcessInfo.processInfo.environment["STAFETT_APPEND_DIR"] else {
            throw XCTSkip("the appender for testTailFollowSeesAnotherProcessWithin100ms: runs only in the child process it spawns (STAFETT_APPEND_DIR unset)")
        }
        let j = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: 400))
        for i in 0..<8 {
            usleep(150_000)
            let seq = try j.append(JournalEntry(kind: .sent, messageId: "live-\(i)", intakeId: "TRE-LIVE"))
            let line = "\(seq) \(monotonicNanos())\n"
            _ = line.withCString { write(1, $0, strlen($0)) }
        }
        j.close()
    }
}

final class JournalCLITests: XCTestCase {
    var dir = ""
    var parent = ""
    let secretPath = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-cli-secret-\(getpid())").path

    override func setUpWithError() throws {
        parent = try tempDir()
        dir = parent + "/journal"
        _ = FileManager.default.createFile(atPath: secretPath, contents: Data(repeating: 7, count: 32))
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: parent) }

    private func context() -> JournalCLIContext { JournalCLIContext(journalDirectory: dir, secretFile: secretPath) }

    private func run(_ f: (([String], JournalCLIContext, Console) -> Int32), _ args: [String],
                     context c: JournalCLIContext? = nil) -> (Int32, String, String) {
        let console = Console.memory()
        let code = f(args, c ?? context(), console)
        return (code, console.output, console.errors)
    }

    func testTailFiltersJSONAndCursorResume() throws {
        let j = try Journal(directory: dir)
        for i in 0..<20 {
            try j.append(JournalEntry(kind: i % 2 == 0 ? .queued : .delivered, messageId: "m\(i)",
                                      intakeId: i < 10 ? "TRE-A" : "TRE-B", eventType: "Registered"))
        }
        j.close()
        var (code, out, _) = run(JournalCommand.run, ["journal", "tail", "-n", "3", "-o", "json"].dropFirst().map { $0 })
        XCTAssertEqual(code, 0)
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let last = try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as! [String: Any]
        XCTAssertEqual(last["msg"] as? String, "m19")
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        let cursor = try XCTUnwrap(first["cursor"] as? String)
        (code, out, _) = run(JournalCommand.run, ["tail", "--after-cursor", cursor, "-o", "json"])
        XCTAssertEqual(out.split(separator: "\n").count, 2, "resumes after the cursor's record")
        (code, out, _) = run(JournalCommand.run, ["tail", "--case", "TRE-B", "--kind", "delivered"])
        XCTAssertEqual(out.split(separator: "\n").count, 5)
        XCTAssertTrue(out.contains("delivered Registered msg=m11"), out)
        (code, out, _) = run(JournalCommand.run, ["tail", "--message", "m4", "--since", "-1h", "--until", "now"])
        XCTAssertEqual(out.split(separator: "\n").count, 1)
        (code, out, _) = run(JournalCommand.run, ["tail", "--since", "2099-01-01"])
        XCTAssertEqual(out, "")
        var err = ""
        (code, _, err) = run(JournalCommand.run, ["tail", "--after-cursor", "3:0000000000000000"])
        XCTAssertEqual(code, ExitCode.usage)
        XCTAssertTrue(err.contains("different journal"), err)
        (code, _, err) = run(JournalCommand.run, ["tail", "--kind", "bogus"])
        XCTAssertEqual(code, ExitCode.usage)
    }

    /// On a terminal, `tail` with nothing asked shows the last 50 and says how to see all; a pipe
    /// or file, `-n all`, or any filter still gets every matching record.
    /// A peer's identifier carrying an escape sequence reaches the terminal as text: tail, case and
    /// follow-up tables print control characters as `?`; JSON escapes them.
    func testControlCharactersFromPeersNeverReachTheTerminal() throws {
        let j = try Journal(directory: dir)
        let old = Date().addingTimeInterval(-2 * 3600)
        try j.append(JournalEntry(kind: .received, time: old, messageId: "e1", intakeId: "TRE-\u{1B}[31mRED\u{9B}2J",
                                  eventType: "ReportedMissing", sender: "2120001124"))
        j.close()
        for (label, command, args) in [("tail", JournalCommand.run, ["tail"]), ("followup", FollowupCommand.run, [String]()),
                                       ("case", CaseCommand.run, ["TRE-\u{1B}[31mRED\u{9B}2J"])] {
            let (_, out, _) = run(command, args)
            XCTAssertFalse(out.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x9B }, "\(label): \(out)")
            XCTAssertTrue(out.contains("TRE-?[31mRED?2J"), "\(label): \(out)")
        }
        let (_, json, _) = run(JournalCommand.run, ["tail", "-o", "json"])
        XCTAssertTrue(json.contains("\\u001b"), json)
    }

    func testTailOnATerminalShowsTheLast50() throws {
        let j = try Journal(directory: dir)
        for i in 0..<60 { try j.append(JournalEntry(kind: .queued, messageId: "m\(i)", intakeId: i < 55 ? "TRE-A" : "TRE-B")) }
        j.close()
        var terminal = context()
        terminal.outputIsTerminal = true
        func lines(_ s: String) -> [Substring] { s.split(separator: "\n") }
        var (code, out, err) = run(JournalCommand.run, ["tail"], context: terminal)
        XCTAssertEqual(code, 0, err)
        XCTAssertEqual(lines(out).count, 50)
        XCTAssertTrue(lines(out)[0].contains("msg=m10 ") && lines(out)[49].contains("msg=m59 "), out)
        XCTAssertTrue(err.contains("the last 50 of 60 records") && err.contains("-n all"), err)
        (code, out, err) = run(JournalCommand.run, ["tail", "-n", "all"], context: terminal)
        XCTAssertEqual(code, 0, err)
        XCTAssertEqual(lines(out).count, 60)
        XCTAssertEqual(err, "")
        (code, out, err) = run(JournalCommand.run, ["tail", "--case", "TRE-A"], context: terminal)
        XCTAssertEqual(lines(out).count, 55, "a filter shows every match")
        (code, out, err) = run(JournalCommand.run, ["tail", "-n", "5"], context: terminal)
        XCTAssertEqual(lines(out).count, 5)
        (code, out, err) = run(JournalCommand.run, ["tail"])
        XCTAssertEqual(lines(out).count, 60, "not a terminal: everything, for scripts")
        XCTAssertEqual(err, "")
        (code, _, err) = run(JournalCommand.run, ["tail", "-n", "some"])
        XCTAssertEqual(code, ExitCode.usage, err)
    }

    /// A record appended by another process shows up in `journal tail -f` within 100 ms,
    /// also across segment rollover (the child writes 1 KiB segments).
    func testTailFollowSeesAnotherProcessWithin100ms() throws {
        try Journal(directory: dir).close()
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["StafettCLITests.AppenderProcessHelper/testAppendSlowly"]
        var env = ProcessInfo.processInfo.environment
        env["STAFETT_APPEND_DIR"] = dir
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice

        let console = Console.memory()
        let stop = StopFlag()
        var ctx = context()
        ctx.stopFollowing = { stop.isSet }
        let followCtx = ctx
        let follower = Thread { _ = JournalCommand.run(["tail", "-f", "-o", "json"], context: followCtx, console: console) }
        follower.start()
        try p.run()
        var seen: [UInt64: UInt64] = [:]
        let deadline = monotonicNanos() + 10_000_000_000
        while seen.count < 8 && monotonicNanos() < deadline {
            for line in console.output.split(separator: "\n") {
                if let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                   let seq = obj["seq"] as? Int, seen[UInt64(seq)] == nil {
                    seen[UInt64(seq)] = monotonicNanos()
                }
            }
            usleep(1_000)
        }
        p.waitUntilExit()
        stop.set()
        let acks = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        var worst: UInt64 = 0
        var count = 0
        for line in acks.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 2, let seq = UInt64(f[0]), let t = UInt64(f[1]) else { continue }
            let shown = try XCTUnwrap(seen[seq], "record \(seq) never shown by tail -f")
            worst = max(worst, shown > t ? shown - t : 0)
            count += 1
        }
        XCTAssertEqual(count, 8)
        XCTAssertGreaterThan(try JournalFormat.segments(in: dir).count, 2, "the child rolled over to new segments")
        XCTAssertLessThan(worst, 100_000_000, "tail -f showed a record \(worst / 1_000_000) ms after it was appended")
        print("tail -f: worst delay \(Double(worst) / 1e6) ms over \(count) records")
    }

    func testVerifyNamesFlippedRecordAndReportsTornTail() throws {
        let j = try Journal(directory: dir)
        for i in 0..<10 { try j.append(JournalEntry(kind: .queued, messageId: "m\(i)")) }
        j.close()
        var (code, out, _) = run(JournalCommand.run, ["verify"])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("10 records"), out)
        // Flip a byte inside record 6's payload.
        let seg = try JournalFormat.segments(in: dir)[0]
        var data = try Data(contentsOf: URL(fileURLWithPath: seg))
        let at = try XCTUnwrap(data.range(of: Data("\"m5\"".utf8))).lowerBound
        data[at + 1] ^= 0x01
        try data.write(to: URL(fileURLWithPath: seg))
        (code, out, _) = run(JournalCommand.run, ["verify", "-o", "json"])
        XCTAssertEqual(code, ExitCode.invalid)
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        let bad = obj["firstBad"] as! [String: Any]
        XCTAssertEqual(bad["sequence"] as? Int, 6)
        XCTAssertEqual(bad["kind"] as? String, "bad CRC")
        data[at + 1] ^= 0x01
        try data.write(to: URL(fileURLWithPath: seg))
        // Cut the file inside the last record (the writer leaves zeros after it: cut those too).
        let end = Int(try JournalWalker(directory: dir).walk().lastSegmentValidEnd)
        XCTAssertGreaterThan(data.count, end, "the writer zero-fills ahead of its records")
        try data.prefix(end - 7).write(to: URL(fileURLWithPath: seg))
        (code, out, _) = run(JournalCommand.run, ["verify"])
        XCTAssertEqual(code, ExitCode.failure)
        XCTAssertTrue(out.contains("TORN TAIL") && out.contains("after #9") && out.contains("after the last checkpoint"), out)
    }

    /// Nothing removes segments, so a journal whose first segment is gone is damaged, in text and JSON.
    func testVerifyCallsAMissingFirstSegmentDamage() throws {
        let j = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: 600))
        for i in 0..<12 { try j.append(JournalEntry(kind: .queued, messageId: "m\(i)")) }
        j.close()
        let segments = try JournalFormat.segments(in: dir)
        XCTAssertGreaterThan(segments.count, 2)
        try FileManager.default.removeItem(atPath: segments[0])
        var (code, out, _) = run(JournalCommand.run, ["verify"])
        XCTAssertEqual(code, ExitCode.invalid, out)
        XCTAssertTrue(out.contains("are missing"), out)
        (code, out, _) = run(JournalCommand.run, ["verify", "-o", "json"])
        XCTAssertEqual(code, ExitCode.invalid, out)
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["status"] as? String, "damaged")
        XCTAssertEqual((obj["firstBad"] as? [String: Any])?["sequence"] as? Int, 1)
    }

    func testFollowupTableJSONAndExcelCSV() throws {
        let j = try Journal(directory: dir)
        let old = Date().addingTimeInterval(-3 * 86_400)
        try j.append(JournalEntry(kind: .queued, time: old, messageId: "x1", intakeId: "TRE-Åsa-1",
                                  eventType: "ReportedMissing", sender: "2120001124", recipient: "2021000076"))
        try j.append(JournalEntry(kind: .queued, time: old, messageId: "x2", intakeId: "TRE-2",
                                  eventType: "Registered", sender: "2120001124", recipient: "2021005489"))
        try j.append(JournalEntry(kind: .delivered, time: old, messageId: "x2", intakeId: "TRE-2"))
        j.close()
        var (code, out, _) = run(FollowupCommand.run, [])
        XCTAssertEqual(code, 0)
        XCTAssertTrue(out.hasPrefix("OVERDUE"), out)
        XCTAssertTrue(out.contains("missing") && out.contains("TRE-Åsa-1") && out.contains("no-receipt"), out)
        XCTAssertFalse(out.contains("no-asylum-application"), "Registered 3 days ago is not yet 7 days overdue")
        XCTAssertFalse(out.contains("REASON"), "no item has a reason: no column for it")
        // Columns line up: RULE starts at the same character in every row.
        let rows = out.split(separator: "\n").prefix(3).map(String.init)
        let col = rows[0].distance(from: rows[0].startIndex, to: rows[0].range(of: "RULE")!.lowerBound)
        for r in rows.dropFirst() {
            let chars = Array(r)
            XCTAssertEqual(chars[col - 1], " ", r)
            XCTAssertNotEqual(chars[col], " ", r)
        }
        (code, out, _) = run(FollowupCommand.run, ["-o", "json", "--overdue", "2d"])
        let arr = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        XCTAssertEqual(arr.count, 2)  // missing (3d) and no-receipt for x1 (3d - 1h)
        (code, out, _) = run(FollowupCommand.run, ["-o", "csv"])
        let console = Console.memory()
        _ = FollowupCommand.run(["-o", "csv"], context: context(), console: console)
        let csv = console.output
        let bytes = Array(csv.utf8)
        XCTAssertEqual(Array(bytes.prefix(3)), [0xEF, 0xBB, 0xBF], "UTF-8 BOM for Excel")
        XCTAssertTrue(csv.contains("Försenad (timmar);Regel;"), csv)
        XCTAssertTrue(csv.contains("TRE-Åsa-1"))
        XCTAssertTrue(csv.contains("\r\n"))
        XCTAssertFalse(csv.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        (code, _, _) = run(FollowupCommand.run, ["--overdue", "soon"])
        XCTAssertEqual(code, ExitCode.usage)
    }

    /// Identifiers and reasons come from peers: in the CSV for Excel, one that starts like a
    /// formula is text, and a line break inside a reason cannot start a row of its own.
    func testFollowupCSVNeutralisesFormulasAndLineBreaks() throws {
        let j = try Journal(directory: dir)
        let old = Date().addingTimeInterval(-2 * 3600)
        try j.append(JournalEntry(kind: .received, time: old, messageId: "f1", intakeId: "=HYPERLINK(\"http://evil.example/\")",
                                  eventType: "ReportedMissing", sender: "2120001124"))
        try j.append(JournalEntry(kind: .queued, time: old, messageId: "f2", intakeId: "TRE-F", eventType: "Registered"))
        try j.append(JournalEntry(kind: .rejected, time: old, messageId: "f2", intakeId: "TRE-F", status: "rejected",
                                  reason: "schema\r\n=2+3\r\nmore"))
        j.close()
        let console = Console.memory()
        _ = FollowupCommand.run(["-o", "csv"], context: context(), console: console)
        let csv = console.output
        let rows = csv.components(separatedBy: "\r\n")
        XCTAssertTrue(csv.contains("'=HYPERLINK"), csv)
        XCTAssertFalse(rows.contains { $0.hasPrefix("=") }, "\(rows)")
        XCTAssertTrue(csv.contains(";schema  =2+3  more\r\n"), "the reason stays in its row: \(csv)")
        XCTAssertEqual(rows.filter { !$0.isEmpty }.count, 3, "a header and two items: \(rows)")
    }

    /// A refused message's reason is in every format: the operator has to see what to correct.
    func testFollowupShowsTheRejectionReason() throws {
        let j = try Journal(directory: dir)
        let old = Date().addingTimeInterval(-2 * 3600)
        try j.append(JournalEntry(kind: .queued, time: old, messageId: "r1", intakeId: "TRE-R", eventType: "Registered",
                                  sender: "2120001124", recipient: "2021005489"))
        try j.append(JournalEntry(kind: .rejected, time: old, messageId: "r1", intakeId: "TRE-R", eventType: "Registered",
                                  sender: "2120001124", recipient: "2021005489", status: "rejected",
                                  reason: "schema: element Child; line 3"))
        try j.append(JournalEntry(kind: .queued, time: old, messageId: "q1", intakeId: "TRE-Q", eventType: "Registered"))
        j.close()
        var (code, out, err) = run(FollowupCommand.run, [])
        XCTAssertEqual(code, 0, err)
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasSuffix("REASON"), lines[0])
        let rejected = try XCTUnwrap(lines.first { $0.contains("message-rejected") })
        XCTAssertTrue(rejected.hasSuffix("schema: element Child; line 3"), rejected)
        let waiting = try XCTUnwrap(lines.first { $0.contains("no-receipt") })
        XCTAssertTrue(waiting.hasSuffix(" -"), "an item without a reason: \(waiting)")
        (code, out, err) = run(FollowupCommand.run, ["-o", "json"])
        let arr = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        XCTAssertEqual(arr.first { $0["rule"] as? String == "message-rejected" }?["reason"] as? String,
                       "schema: element Child; line 3")
        XCTAssertNil(arr.first { $0["rule"] as? String == "no-receipt" }?["reason"])
        (code, out, err) = run(FollowupCommand.run, ["-o", "csv"])
        let rows = out.dropFirst().components(separatedBy: "\r\n")
        XCTAssertTrue(rows[0].hasSuffix(";Varför;Orsak"), rows[0])
        let csvRow = try XCTUnwrap(rows.first { $0.contains("message-rejected") })
        XCTAssertTrue(csvRow.hasSuffix(#";"schema: element Child; line 3""#), "quoted for its ';': \(csvRow)")
        XCTAssertTrue(try XCTUnwrap(rows.first { $0.contains("no-receipt") }).hasSuffix(";"), "an empty last field")
    }

    func testCaseByAnyIdentifierIncludingPersonnummer() throws {
        let keyer = try PersonKeyer(secretFile: secretPath)
        let pin = try PersonalIdentityNumber("20050304-0008", referenceDate: Date())
        let j = try Journal(directory: dir)
        try j.append(JournalEntry(kind: .queued, messageId: "a", intakeId: "TRE-9", eventType: "Registered"))
        try j.append(JournalEntry(kind: .delivered, messageId: "a"))
        try j.append(JournalEntry(kind: .received, messageId: "b", intakeId: "TRE-9", dossierNumber: "15-900",
                                  personKey: keyer.key(pin), eventType: "AsylumApplicationLodged"))
        try j.append(JournalEntry(kind: .received, messageId: "c", caseRef: "MALMÖ-77", dossierNumber: "15-900",
                                  eventType: "TransferReceived"))
        try j.append(JournalEntry(kind: .queued, messageId: "d", intakeId: "OTHER", eventType: "Registered"))
        j.close()
        for ref in ["TRE-9", "15-900", "MALMÖ-77", "20050304-0008"] {
            let (code, out, err) = run(CaseCommand.run, [ref, "-o", "json"])
            XCTAssertEqual(code, 0, err)
            let arr = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
            XCTAssertEqual(arr.compactMap { $0["msg"] as? String }, ["a", "a", "b", "c"], ref)
        }
        let (code, out, _) = run(CaseCommand.run, ["MALMÖ-77"])
        XCTAssertEqual(code, 0)
        XCTAssertTrue(out.contains("TRE-9") && out.contains("TransferReceived"), out)
        XCTAssertFalse(out.contains("200503040008"), "the personnummer itself is never shown")
        XCTAssertEqual(run(CaseCommand.run, ["NOPE"]).0, ExitCode.notFound)
        var noSecret = context()
        noSecret.secretFile = nil
        let (noSecretCode, _, noSecretErr) = run(CaseCommand.run, ["20050304-0008"], context: noSecret)
        XCTAssertEqual(noSecretCode, ExitCode.usage)
        XCTAssertTrue(noSecretErr.contains("[node] journal-secret"), "the config key as stafett.conf spells it: \(noSecretErr)")
        XCTAssertTrue(run(CaseCommand.run, ["--help"]).1.contains("[node] journal-secret"))
    }
}

/// A read command pointed at a directory that holds no journal says so, instead of reporting an
/// empty journal as good news; a real journal without records still reads as empty.
final class JournalDirectoryCheckTests: XCTestCase {
    private func run(_ f: (([String], JournalCLIContext, Console) -> Int32), _ args: [String])
        -> (code: Int32, out: String, err: String) {
        let console = Console.memory()
        let code = f(args, JournalCLIContext(), console)
        return (code, console.output, console.errors)
    }

    func testStateDirectoryIsRefusedWithTheJournalBeneathIt() throws {
        let parent = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let state = parent + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let j = try Journal(directory: state + "/journal")
        try j.append(JournalEntry(kind: .queued, messageId: "m1", intakeId: "TRE-1", eventType: "ReportedMissing"))
        j.close()
        let commands: [(String, ([String], JournalCLIContext, Console) -> Int32, [String])] = [
            ("followup", FollowupCommand.run, []), ("tail", JournalCommand.run, ["tail"]),
            ("verify", JournalCommand.run, ["verify"]), ("case", CaseCommand.run, ["TRE-1"]),
        ]
        for (name, f, args) in commands {
            let r = run(f, args + ["--journal", state])
            XCTAssertEqual(r.code, ExitCode.journalUnreadable, "\(name): \(r.out)")
            XCTAssertEqual(r.out, "", name)
            XCTAssertTrue(r.err.contains("\(state) holds no journal") && r.err.contains("did you mean \(state)/journal?"),
                          "\(name): \(r.err)")
        }
        // Without a journal beneath it, there is nothing to suggest.
        let empty = parent + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let r = run(FollowupCommand.run, ["--journal", empty])
        XCTAssertEqual(r.code, ExitCode.journalUnreadable)
        XCTAssertTrue(r.err.contains("\(empty) holds no journal") && !r.err.contains("did you mean"), r.err)
        // `receipt` exits as the journal commands do.
        let cli = try CLIRun()
        let receipt = try cli.run(["receipt", "m1", "--journal", state])
        XCTAssertEqual(receipt.code, ExitCode.journalUnreadable)
        XCTAssertTrue(receipt.err.contains("did you mean \(state)/journal?"), receipt.err)
        XCTAssertEqual(try cli.run(["receipt", "m1", "--journal", state + "/journal"]).code, ExitCode.notFound)
    }

    func testEmptyJournalMadeByTheWriterStillReads() throws {
        let parent = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/journal"
        try Journal(directory: dir).close()  // what stafettd leaves before its first record
        var r = run(FollowupCommand.run, ["--journal", dir])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("Nothing to follow up: 0 children"), r.out)
        r = run(JournalCommand.run, ["verify", "--journal", dir])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("0 records"), r.out)
        r = run(JournalCommand.run, ["tail", "--journal", dir])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out, "")
        XCTAssertEqual(run(CaseCommand.run, ["TRE-1", "--journal", dir]).code, ExitCode.notFound)
        // Only the writer's lock (its segments removed): still the journal directory.
        for s in try JournalFormat.segments(in: dir) { try FileManager.default.removeItem(atPath: s) }
        XCTAssertEqual(run(FollowupCommand.run, ["--journal", dir]).code, 0)
    }
}

final class JournalCLIConfigTests: XCTestCase {
    /// The journal directory and the node secret come from stafett.conf (`[paths] state`, `[node] journal-secret`).
    func testConfigFileSuppliesDirectoryAndMissingJournalIsAnError() throws {
        let parent = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/state/journal"
        try FileManager.default.createDirectory(atPath: parent + "/state", withIntermediateDirectories: true)
        let j = try Journal(directory: dir)
        try j.append(JournalEntry(kind: .queued, messageId: "cfg-1", intakeId: "TRE-C"))
        j.close()
        var config = StafettConfig(node: StafettConfig.Node(organisation: try OrganisationNumber("2120001165"), name: "Test"))
        config.paths.state = parent + "/state"
        config.paths.spool = parent + "/spool"
        let cfg = parent + "/stafett.conf"
        try config.render().write(toFile: cfg, atomically: true, encoding: .utf8)
        let console = Console.memory()
        XCTAssertEqual(JournalCommand.run(["tail", "--config", cfg], context: JournalCLIContext(), console: console), 0, console.errors)
        XCTAssertTrue(console.output.contains("msg=cfg-1"), console.output)
        let console2 = Console.memory()
        XCTAssertEqual(FollowupCommand.run(["--config", cfg, "--rules", parent + "/none.rules"], context: JournalCLIContext(),
                                           console: console2), ExitCode.usage, "the named rules file is missing")
        XCTAssertTrue(console2.errors.contains("none.rules"), console2.errors)
        let console3 = Console.memory()
        XCTAssertEqual(JournalCommand.run(["verify"], context: JournalCLIContext(), console: console3), ExitCode.usage)
        XCTAssertTrue(console3.errors.contains("--journal DIR"), console3.errors)
        let console4 = Console.memory()
        XCTAssertEqual(JournalCommand.run(["verify", "--journal", parent + "/absent"], context: JournalCLIContext(),
                                          console: console4), ExitCode.journalUnreadable)
        let console5 = Console.memory()
        XCTAssertEqual(JournalCommand.run(["tail", "--config", parent + "/typo.conf"], context: JournalCLIContext(), console: console5),
                       ExitCode.journalUnreadable)
        XCTAssertTrue(console5.errors.contains("typo.conf"), console5.errors)
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// Times in local time with the zone, `--utc` for UTC, organisations by their config names, and
/// `-o csv` on `journal tail` and `case`.
final class OperatorTimeAndNameTests: XCTestCase {
    var dir = ""
    var savedTZ: String?

    override func setUpWithError() throws {
        dir = try tempDir() + "/journal"
        savedTZ = ProcessInfo.processInfo.environment["TZ"]
        setenv("TZ", "Europe/Stockholm", 1)
        tzset()
        // 2026-12-06 21:13:05.250 UTC, 22:13 in Stockholm (CET).
        let time = Date(timeIntervalSince1970: 1_796_591_585.25)
        let j = try Journal(directory: dir)
        try j.append(JournalEntry(kind: .queued, time: time, messageId: "m1", intakeId: "TRE-1", eventType: "Registered",
                                  eventTime: time.addingTimeInterval(-3600), sender: "2120001165", recipient: "2021002163"))
        try j.append(JournalEntry(kind: .delivered, time: time.addingTimeInterval(60), messageId: "m1", intakeId: "TRE-1",
                                  sender: "2120001165", recipient: "2021002163", status: "accepted"))
        j.close()
    }

    override func tearDown() {
        if let savedTZ { setenv("TZ", savedTZ, 1) } else { unsetenv("TZ") }
        tzset()
        try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent)
    }

    func context() -> JournalCLIContext {
        var c = JournalCLIContext(journalDirectory: dir)
        c.organisationNames = ["2120001165": "trelleborg", "2021002163": "migrationsverket"]
        return c
    }

    func run(_ f: ([String], JournalCLIContext, Console) -> Int32, _ args: [String], width: Int? = nil) -> (Int32, String) {
        let console = Console.memory()
        console.width = width
        let code = f(args, context(), console)
        return (code, console.output + console.errors)
    }

    func testTailShowsLocalTimeWithItsZoneOrUTCAndNamesOrganisations() {
        let (code, out) = run(JournalCommand.run, ["tail"])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.hasPrefix("2026-12-06 22:13:05.250 CET #1 queued Registered at=2026-12-06 21:13:05.250 CET msg=m1 trelleborg→migrationsverket"), out)
        let (_, utc) = run(JournalCommand.run, ["tail", "--utc"])
        XCTAssertTrue(utc.hasPrefix("2026-12-06 21:13:05.250 UTC #1 queued Registered at=2026-12-06 20:13:05.250 UTC"), utc)
        let (_, unnamed) = { () -> (Int32, String) in
            let console = Console.memory()
            let code = JournalCommand.run(["tail"], context: JournalCLIContext(journalDirectory: dir), console: console)
            return (code, console.output)
        }()
        XCTAssertTrue(unnamed.contains(" 2120001165→2021002163"), "without a config, the numbers: \(unnamed)")
    }

    func testTailAndCaseAsCSV() {
        let (code, csv) = run(JournalCommand.run, ["tail", "-o", "csv", "--utc"])
        XCTAssertEqual(code, 0, csv)
        let rows = csv.components(separatedBy: "\r\n")
        XCTAssertEqual(rows[0], "\u{FEFF}RECORDED (UTC);SEQ;KIND;EVENT;EVENT TIME (UTC);MESSAGE;FROM;TO;INTAKE ID;ISSUER;DOSSIER;CASE;PIN;STATUS;REASON;FILE;DIGEST;CURSOR")
        XCTAssertTrue(rows[1].hasPrefix("2026-12-06 21:13:05;1;queued;Registered;2026-12-06 20:13:05;m1;2120001165;2021002163;TRE-1;"), rows[1])
        XCTAssertTrue(rows[2].hasPrefix("2026-12-06 21:14:05;2;delivered;;;m1;2120001165;2021002163;TRE-1;;;;;accepted;"), rows[2])
        XCTAssertEqual(rows.count, 4, "two rows and the empty string after the last CRLF")

        let (caseCode, caseCSV) = run(CaseCommand.run, ["TRE-1", "-o", "csv"])
        XCTAssertEqual(caseCode, 0, caseCSV)
        let caseRows = caseCSV.components(separatedBy: "\r\n")
        XCTAssertEqual(caseRows[0], "\u{FEFF}EVENT TIME (local time);RECORDED (local time);SEQ;KIND;EVENT;FROM;TO;MESSAGE;STATUS;REASON")
        XCTAssertTrue(caseRows.contains("2026-12-06 21:13:05;2026-12-06 22:13:05;1;queued;Registered;2120001165;2021002163;m1;;"), caseCSV)
    }

    func testCaseTableNamesOrganisationsShowsZonesAndFitsTheWidth() {
        let (code, out) = run(CaseCommand.run, ["TRE-1"], width: 200)
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("Organisations: trelleborg (2120001165), migrationsverket (2021002163)"), out)
        XCTAssertTrue(out.contains("2026-12-06 22:14:05 CET"), out)
        XCTAssertTrue(out.contains("trelleborg→migrationsverket"), out)
        let (_, narrow) = run(CaseCommand.run, ["TRE-1", "--utc"], width: 60)
        XCTAssertTrue(narrow.contains("2026-12-06 21:14:05 UTC"), narrow)
        let wide = run(CaseCommand.run, ["TRE-1", "--utc"]).1
        XCTAssertTrue(wide.contains("accepted"), wide)
    }
}
