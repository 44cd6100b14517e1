import CShims
import Foundation
import XCTest
import StafettCrypto
import StafettJournal
@testable import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// Intake of files the daemon cannot use as they are.
final class IntakeProcessorTests: XCTestCase {
    /// A file dropped with permissions that shut the daemon out does not wait in the outbox for
    /// ever: it goes to `failed/` beside a report saying what to do, and into the journal.
    /// (Run as root, the test reads as an unprivileged user through the thread's fsuid.)
    func testAFileTheDaemonMayNotReadIsMovedToFailedWithAReport() throws {
        let net = try TestNetwork()
        let a = net.a
        net.configureAllPeers()
        // The unprivileged identity must reach the outbox and write beside the file, as the
        // stafett user can in a real spool.
        var dir = a.layout.outbox.deletingLastPathComponent()
        while dir.path.hasPrefix(net.root.path) {
            chmod(dir.path, 0o755)
            dir = dir.deletingLastPathComponent()
        }
        chmod(a.layout.outbox.path, 0o777)
        chmod(a.layout.failed.path, 0o777)
        let file = a.layout.outbox.appendingPathComponent("privat.csv")
        try AtomicFile.write(Data("Ärendenummer;Förnamn;Händelse;Händelsetid\r\nA-1;Ali;registrerad;2015-10-23 06:40\r\n".utf8), to: file)
        chmod(file.path, 0o600)
        let processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout,
                                        store: try QueueStore(directory: a.layout.queue), batcher: a.batcher)

        let previous = stafett_set_fs_uid(65534)
        defer { _ = stafett_set_fs_uid(previous) }
        guard IntakeProcessor.isShutOut(file.path) else {
            throw XCTSkip("needs root, to read as another user")
        }
        let (outcome, queued) = try processor.process(file)
        _ = stafett_set_fs_uid(previous)

        guard case let .failed(errors, movedTo) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(errors, 1)
        XCTAssertTrue(queued.isEmpty)
        XCTAssertEqual(movedTo.path, a.layout.failed.appendingPathComponent("privat.csv").path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path), "nothing left waiting in the outbox")
        XCTAssertTrue(FileManager.default.fileExists(atPath: movedTo.path), "the file itself is kept")
        let report = try String(contentsOfFile: movedTo.path + ".errors.txt", encoding: .utf8)
        XCTAssertTrue(report.contains("privat.csv: Stafett may not read this file"), report)
        let failed = try a.journalEntries().filter { $0.kind == .intakeFailed }
        XCTAssertEqual(failed.map(\.file), ["privat.csv"])
    }

    /// The acceptance scenario of issue 13: an Excel CSV as a Swedish Windows saves it
    /// (Windows-1252, `;`, Swedish headers as real exports spell them, a note with a line break)
    /// with one mistake gives a report in Swedish, English below, that names the row as Excel
    /// shows it and the row's intake id.
    func testAnExcelExportWithOneMistakeGetsASwedishReportNamingTheExcelRowAndIntakeId() throws {
        let net = try TestNetwork()
        let a = net.a
        net.configureAllPeers()
        let text = "Ärendenummer;Förnamn;Efternamn;Födelsedag;Modersmål;Händelse;Händelsetid;Anteckning\r\n"
            + "TBG-2015-101;Amina;Rahimi;2005-03-01;prs;registrerad;2015-10-23 08:15;\"Kom med tåget,\r\nhämtad av socialjouren\"\r\n"
            + "TBG-2015-102;Omid;Karimi;2004-02-30;ps;registrerad;2015-10-23 08:20;\r\n"
        let bytes = Array(text.unicodeScalars.map { UInt8($0.value) })  // every character here is in Latin-1
        XCTAssertNil(String(validating: bytes, as: UTF8.self), "the test file must not be UTF-8")
        let file = a.layout.outbox.appendingPathComponent("Mottagna vecka 43.csv")
        try AtomicFile.write(Data(bytes), to: file, mode: 0o640)
        let processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout,
                                        store: try QueueStore(directory: a.layout.queue), batcher: a.batcher)
        let (outcome, queued) = try processor.process(file)
        guard case let .failed(errors, movedTo) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(errors, 1)
        XCTAssertTrue(queued.isEmpty)
        let report = try String(contentsOfFile: SpoolLayout.reportPath(for: movedTo), encoding: .utf8)
        // Row 3 in Excel (header row 1, the two-line note one row), though the mistake is on line 4.
        let swedish = "Mottagna vecka 43.csv rad 3 (textrad 4) (ärendenummer TBG-2015-102), kolumn \"Födelsedag\": "
            + "2004-02-30 är inget riktigt datum: kontrollera dag och månad"
        let english = "Mottagna vecka 43.csv row 3 (line 4) (intake id TBG-2015-102), column \"Födelsedag\": "
            + "2004-02-30 is not a real date: check the day and month"
        XCTAssertTrue(report.hasPrefix("Stafett kunde inte ta emot Mottagna vecka 43.csv."), report)
        let sv = try XCTUnwrap(report.range(of: swedish), report)
        let en = try XCTUnwrap(report.range(of: english), report)
        XCTAssertLessThan(sv.lowerBound, en.lowerBound, "Swedish first, English below")
        XCTAssertTrue(report.contains("--- English ---"), report)
    }

    static func csv(_ tag: String, rows: Int) -> String {
        var s = "Ärendenummer;Förnamn;Efternamn;Födelsedatum;Händelse;Händelsetid;Plats\r\n"
        for i in 1...rows { s += "\(tag)-\(i);Ali;Nouri;2005-01-01;registrerad;2015-10-23 08:15;Trelleborg\r\n" }
        return s
    }

    func sender(_ net: TestNetwork) throws -> (TestNode, QueueStore) {
        let a = net.a
        net.configureAllPeers()
        a.config.routing.defaultPeer = net.b.name
        return (a, try QueueStore(directory: a.layout.queue))
    }

    /// The same export dropped twice under two names, both taken at once: with the daemon's shared
    /// gate the second waits for the first, finds every message queued and queues none again.
    func testTheSameContentUnderTwoNamesIsQueuedOnce() throws {
        let net = try TestNetwork()
        let (a, store) = try sender(net)
        let text = Self.csv("TWIN", rows: 300)
        for name in ["lista.csv", "lista (kopia).csv"] {
            try AtomicFile.write(Data(text.utf8), to: a.layout.outbox.appendingPathComponent(name))
        }
        var processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: store, batcher: a.batcher)
        processor.gate = IntakeGate()
        let p = processor
        let names = ["lista.csv", "lista (kopia).csv"]
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            _ = try? p.process(a.layout.outbox.appendingPathComponent(names[i]))
        }
        let queued = try a.journalEntries().filter { $0.kind == .queued }
        XCTAssertEqual(queued.count, 300, "each message journaled queued once")
        XCTAssertEqual(Set(queued.compactMap(\.messageId)).count, 300)
        XCTAssertEqual(store.loadAll().count, 300)
        XCTAssertEqual(try a.journalEntries().filter { $0.kind == .intakeAccepted }.count, 2)
    }

    /// A new version put in place while intake works on the old one is not filed as done: the old
    /// content's messages are queued, the new file stays in the outbox and is read on the next try.
    func testAFileReplacedWhileItIsReadIsNotMovedUnread() throws {
        let net = try TestNetwork()
        let (a, store) = try sender(net)
        let file = a.layout.outbox.appendingPathComponent("export.csv")
        let old = Self.csv("OLD", rows: 4), new = Self.csv("NEW", rows: 2)
        try AtomicFile.write(Data(old.utf8), to: file)
        let gate = IntakeGate()
        var processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: store, batcher: a.batcher)
        processor.gate = gate
        let p = processor
        // Holding the gate for the old content stops intake right after it has read the file.
        let digest = SHA256.hex(Data(old.utf8))
        gate.enter(digest)
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedResult()
        DispatchQueue.global().async {
            outcome.set(Result { try p.process(file) })
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.3)
        try AtomicFile.write(Data(new.utf8), to: file)
        gate.leave(digest)
        done.wait()
        guard case .failure(let error)? = outcome.value else { return XCTFail("\(String(describing: outcome.value))") }
        XCTAssertTrue("\(error)".contains("replaced or changed while it was read"), "\(error)")
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), new, "the new version waits in the outbox")
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.layout.accepted.appendingPathComponent("export.csv").path))

        let (again, queued) = try p.process(file)
        guard case .accepted = again else { return XCTFail("\(again)") }
        XCTAssertEqual(queued.count, 2)
        XCTAssertEqual(store.loadAll().count, 6, "the old content's 4 messages and the new one's 2")
    }

    /// Files taken in together are one round: however many, their `queued` and `intake-accepted`
    /// records and their queue files share one commit round (one by one, each file takes one).
    /// Their messages are handed on for sending once those are durable and before any input
    /// moves; every input ends in accepted/.
    func testFilesTakenTogetherShareOneRoundsCommits() throws {
        let net = try TestNetwork()
        let (a, store) = try sender(net)
        let files = (0..<5).map { a.layout.outbox.appendingPathComponent("en-\($0).csv") }
        for (i, f) in files.enumerated() { try AtomicFile.write(Data(Self.csv("ONE\(i)", rows: 1).utf8), to: f) }
        var processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: store, batcher: a.batcher)
        let told = LockedList()
        let inputsWhenTold = LockedList.Counter()
        processor.onQueued = { queued, _ in
            told.add(queued.map(\.entry))
            inputsWhenTold.set(files.filter { FileManager.default.fileExists(atPath: $0.path) }.count)
            // Each message handed on is in the queue under its name already.
            for (e, _) in queued { XCTAssertTrue(FileManager.default.fileExists(atPath: store.messageURL(e).path)) }
        }
        let before = a.batcher.roundCount
        let results = processor.processRound(files)
        XCTAssertEqual(a.batcher.roundCount - before, 1, "one commit round for five files")
        XCTAssertEqual(told.items.count, 5)
        XCTAssertEqual(inputsWhenTold.value, 5, "handed on before any input moved")
        for (f, r) in zip(files, results) {
            guard case .success((.accepted(1, let to), let queued)) = r else { return XCTFail("\(f.lastPathComponent): \(r)") }
            XCTAssertEqual(queued.count, 1)
            XCTAssertEqual(to.path, a.layout.accepted.appendingPathComponent(f.lastPathComponent).path)
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.path))
        }
        // In the journal: every `queued` of the round, then every `intake-accepted`.
        let kinds = try a.journalEntries().map(\.kind).filter { $0 == .queued || $0 == .intakeAccepted }
        XCTAssertEqual(kinds, Array(repeating: .queued, count: 5) + Array(repeating: .intakeAccepted, count: 5))

        let one = a.layout.outbox.appendingPathComponent("ensam.csv")
        try AtomicFile.write(Data(Self.csv("ALONE", rows: 1).utf8), to: one)
        let alone = a.batcher.roundCount
        _ = try processor.process(one)
        XCTAssertEqual(a.batcher.roundCount - alone, 1, "a file alone pays the same one")
    }

    /// The same export under two names in one round: the second waits for a round of its own
    /// after the first, finds every message queued and queues none again.
    func testTheSameContentTwiceInOneRoundIsQueuedOnce() throws {
        let net = try TestNetwork()
        let (a, store) = try sender(net)
        let text = Self.csv("TWIN", rows: 20)
        let files = ["lista.csv", "lista (kopia).csv", "annan.csv"].map { a.layout.outbox.appendingPathComponent($0) }
        try AtomicFile.write(Data(text.utf8), to: files[0])
        try AtomicFile.write(Data(text.utf8), to: files[1])
        try AtomicFile.write(Data(Self.csv("OTHER", rows: 3).utf8), to: files[2])
        var processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: store, batcher: a.batcher)
        processor.gate = IntakeGate()
        let results = processor.processRound(files)
        let queuedCounts = results.map { r -> Int in (try? r.get().queued.count) ?? -1 }
        XCTAssertEqual(queuedCounts, [20, 0, 3])
        let queued = try a.journalEntries().filter { $0.kind == .queued }
        XCTAssertEqual(queued.count, 23, "each message journaled queued once")
        XCTAssertEqual(store.loadAll().count, 23)
        XCTAssertEqual(try a.journalEntries().filter { $0.kind == .intakeAccepted }.count, 3)
        for f in files { XCTAssertTrue(FileManager.default.fileExists(atPath: a.layout.accepted.appendingPathComponent(f.lastPathComponent).path)) }
    }

    /// A file whose messages are already in the queue (an earlier try renamed them into place and
    /// then failed) hands those messages to the scheduler, as the queue holds them.
    func testMessagesFoundStillQueuedAreHandedOn() throws {
        let net = try TestNetwork()
        let (a, store) = try sender(net)
        let file = a.layout.outbox.appendingPathComponent("igen.csv")
        let text = Self.csv("AGAIN", rows: 3)
        try AtomicFile.write(Data(text.utf8), to: file)
        var processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: store, batcher: a.batcher)
        let first = try processor.process(file).1
        XCTAssertEqual(first.count, 3)

        let told = LockedList()
        processor.stillQueued = { told.add($0) }
        try AtomicFile.write(Data(text.utf8), to: file)
        let again = try processor.process(file)
        XCTAssertTrue(again.1.isEmpty, "nothing queued twice")
        XCTAssertEqual(Set(told.items.map(\.messageId)), Set(first.map(\.messageId)))
        XCTAssertEqual(Set(told.items.map(\.digest)), Set(first.map(\.digest)), "the queued copies' digests, not a new signing's")
    }
}

/// Entries a closure was told of, from any thread.
final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [QueueEntry] = []
    func add(_ more: [QueueEntry]) { lock.withLock { list += more } }
    var items: [QueueEntry] { lock.withLock { list } }

    /// A number set on one thread and read on another.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func set(_ value: Int) { lock.withLock { n = value } }
        var value: Int { lock.withLock { n } }
    }
}

/// An outcome set on one thread and read on another.
final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<(IntakeOutcome, [QueueEntry]), Error>?
    func set(_ r: Result<(IntakeOutcome, [QueueEntry]), Error>) { lock.withLock { result = r } }
    var value: Result<(IntakeOutcome, [QueueEntry]), Error>? { lock.withLock { result } }
}
