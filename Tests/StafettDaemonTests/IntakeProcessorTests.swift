import CShims
import Foundation
import XCTest
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
}
