import Foundation
import XCTest
@testable import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

final class SpoolTests: XCTestCase {
    func mode(_ url: URL) -> mode_t { fileStatus(url.path).st_mode & 0o7777 }

    /// DESIGN's "Who may touch what": each directory gets its mode whatever the umask (the
    /// unit's is 0027), setgid where what is made in it must stay in the shared group.
    func testLayoutCreatesSharedDirectoriesOnce() throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url.appendingPathComponent("spool"), state: dir.url.appendingPathComponent("state"))
        let old = umask(0o077)
        defer { umask(old) }
        let created = try layout.create()
        XCTAssertEqual(created.count, 9)
        XCTAssertEqual(layout.sharedDirectories(StafettConfig.Access()).map(\.url), layout.allDirectories)
        let expected: [String: mode_t] = ["spool": 0o755, "outbox": 0o2770, "accepted": 0o2750, "failed": 0o2750, "queue": 0o2750,
                                          "inbox": 0o2770, "archive": 0o2750, "state": 0o2750, "journal": 0o2750]
        for d in layout.allDirectories {
            XCTAssertTrue(AtomicFile.isDirectory(d.path), d.path)
            XCTAssertEqual(mode(d), expected[d.lastPathComponent], d.path)
        }
        // A folder the daemon makes in a shared directory is shared like it.
        try AtomicFile.makeDirectories(layout.archive.appendingPathComponent("migrationsverket"))
        XCTAssertEqual(mode(layout.archive.appendingPathComponent("migrationsverket")), 0o2750)
        XCTAssertEqual(layout.accepted.path, dir.url.path + "/spool/outbox/accepted")
        XCTAssertEqual(layout.journal.path, dir.url.path + "/state/journal")
        // An operator's choice of mode on an existing directory is kept.
        chmod(layout.outbox.path, 0o770)
        XCTAssertEqual(try layout.create(), [])
        XCTAssertEqual(mode(layout.outbox), 0o770)
    }

    func testAtomicWriteReplacesWholeFileWithMode0600() throws {
        let dir = try TempDir()
        let target = dir.url.appendingPathComponent("queue/peer/msg-1.xml")
        try AtomicFile.write(Data("first".utf8), to: target)
        try AtomicFile.write(Data("second".utf8), to: target)
        XCTAssertEqual(try String(contentsOf: target, encoding: .utf8), "second")
        XCTAssertEqual(mode(target), 0o600)
        XCTAssertEqual(mode(target.deletingLastPathComponent()), 0o700)
        // No temporary files are left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.deletingLastPathComponent().path), ["msg-1.xml"])
    }

    func testAtomicWriteFailureLeavesTargetAlone() throws {
        let dir = try TempDir()
        let target = dir.url.appendingPathComponent("f")
        try AtomicFile.write(Data("kept".utf8), to: target)
        // Rename onto a directory fails: the old content must survive and no temp file remain.
        let blocker = dir.url.appendingPathComponent("d")
        try FileManager.default.createDirectory(at: blocker.appendingPathComponent("x"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write(Data("new".utf8), to: blocker)) { e in
            XCTAssertTrue("\(e)".contains("rename failed"), "\(e)")
        }
        XCTAssertEqual(try String(contentsOf: target, encoding: .utf8), "kept")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted(), ["d", "f"])
    }

    func testMoveKeepsSubFolderAndNeverOverwrites() throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url, state: dir.url.appendingPathComponent("state"))
        try layout.create()
        let input = layout.outbox.appendingPathComponent("trelleborg/intag/2015-10-23.csv")
        try AtomicFile.write(Data("a".utf8), to: input)
        let moved = try layout.moveToAccepted(input)
        XCTAssertEqual(moved.path, layout.accepted.path + "/trelleborg/intag/2015-10-23.csv")
        XCTAssertFalse(FileManager.default.fileExists(atPath: input.path))
        XCTAssertEqual(try String(contentsOf: moved, encoding: .utf8), "a")

        // Same name dropped again: the first accepted copy stays, the second gets a number.
        try AtomicFile.write(Data("b".utf8), to: input)
        let second = try layout.moveToAccepted(input)
        XCTAssertEqual(second.lastPathComponent, "2015-10-23-2.csv")
        XCTAssertEqual(try String(contentsOf: moved, encoding: .utf8), "a")
        XCTAssertEqual(try String(contentsOf: second, encoding: .utf8), "b")
    }

    /// A round's inputs move to accepted/ together, each on its own terms: sub-folders kept, a
    /// taken name numbered, a move a crash interrupted finished, and one that is gone reported
    /// without stopping the others.
    func testMovingARoundsInputsTogether() throws {
        try movingARoundsInputsTogether(dataFlushed: false)
    }

    /// The same, with the inputs' data flushed already by the round's commit (`dataFlushedOn` the
    /// spool's file system): only their names are flushed, and every outcome is the same.
    func testMovingARoundsInputsWhoseDataIsDurableAlready() throws {
        try movingARoundsInputsTogether(dataFlushed: true)
    }

    private func movingARoundsInputsTogether(dataFlushed: Bool) throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url, state: dir.url.appendingPathComponent("state"))
        try layout.create()
        let names = ["a.csv", "trelleborg/b.csv", "taken.csv", "half.csv", "gone.csv"]
        let inputs = names.map { layout.outbox.appendingPathComponent($0) }
        for (name, input) in zip(names, inputs) where name != "gone.csv" { try AtomicFile.write(Data(name.utf8), to: input) }
        try AtomicFile.write(Data("earlier".utf8), to: layout.accepted.appendingPathComponent("taken.csv"))
        XCTAssertEqual(link(inputs[3].path, layout.accepted.appendingPathComponent("half.csv").path), 0)  // died after the link

        var st = stat()
        XCTAssertEqual(stat(layout.outbox.path, &st), 0)
        let results = layout.moveAllToAccepted(inputs, dataFlushedOn: dataFlushed ? UInt64(st.st_dev) : nil)
        XCTAssertEqual(try results[0].get().path, layout.accepted.path + "/a.csv")
        XCTAssertEqual(try results[1].get().path, layout.accepted.path + "/trelleborg/b.csv")
        XCTAssertEqual(try results[2].get().lastPathComponent, "taken-2.csv")
        XCTAssertEqual(try results[3].get().path, layout.accepted.path + "/half.csv")
        XCTAssertThrowsError(try results[4].get())
        for (name, input) in zip(names, inputs).prefix(4) {
            XCTAssertFalse(FileManager.default.fileExists(atPath: input.path), name)
        }
        XCTAssertEqual(try String(contentsOf: layout.accepted.appendingPathComponent("taken.csv"), encoding: .utf8), "earlier")
        XCTAssertEqual(try String(contentsOf: layout.accepted.appendingPathComponent("taken-2.csv"), encoding: .utf8), "taken.csv")
        XCTAssertEqual(try String(contentsOf: layout.accepted.appendingPathComponent("trelleborg/b.csv"), encoding: .utf8), "trelleborg/b.csv")
    }

    /// A round makes each destination folder once; one that cannot be made (a file holds its
    /// name) fails only the inputs bound for it, which stay in the outbox.
    func testAFolderThatCannotBeMadeFailsOnlyItsInputs() throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url, state: dir.url.appendingPathComponent("state"))
        try layout.create()
        try AtomicFile.write(Data("not a folder".utf8), to: layout.accepted.appendingPathComponent("blocked"))
        let names = ["blocked/x.csv", "new/z.csv", "blocked/y.csv", "new/w.csv", "ok.csv"]
        let inputs = names.map { layout.outbox.appendingPathComponent($0) }
        for (name, input) in zip(names, inputs) { try AtomicFile.write(Data(name.utf8), to: input) }

        let results = layout.moveAllToAccepted(inputs)
        XCTAssertThrowsError(try results[0].get())
        XCTAssertThrowsError(try results[2].get())
        XCTAssertEqual(try results[1].get().path, layout.accepted.path + "/new/z.csv")
        XCTAssertEqual(try results[3].get().path, layout.accepted.path + "/new/w.csv")
        XCTAssertEqual(try results[4].get().path, layout.accepted.path + "/ok.csv")
        XCTAssertTrue(FileManager.default.fileExists(atPath: inputs[0].path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: inputs[2].path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: inputs[1].path))
        XCTAssertEqual(try String(contentsOf: layout.accepted.appendingPathComponent("new/w.csv"), encoding: .utf8), "new/w.csv")
    }

    /// An input's name below the outbox, worked out from its path as the watcher hands it on,
    /// or from one with `.` and `..` in it, as `standardizedFileURL` would.
    func testOutboxRelativePathWithAndWithoutDotSegments() throws {
        let layout = SpoolLayout(spool: URL(fileURLWithPath: "/var/spool/stafett"), state: URL(fileURLWithPath: "/var/lib/stafett"))
        XCTAssertEqual(layout.outboxPath, "/var/spool/stafett/outbox")
        XCTAssertEqual(layout.outboxRelativePath(of: URL(fileURLWithPath: "/var/spool/stafett/outbox/sub/a.csv", isDirectory: false)), "sub/a.csv")
        XCTAssertEqual(layout.outboxRelativePath(of: URL(fileURLWithPath: "/var/spool/stafett/outbox/./x/../b.csv", isDirectory: false)), "b.csv")
        XCTAssertNil(layout.outboxRelativePath(of: URL(fileURLWithPath: "/var/spool/stafett/outbox/../queue/c.xml", isDirectory: false)))
        XCTAssertNil(layout.outboxRelativePath(of: URL(fileURLWithPath: "/var/spool/stafett/outboxes/d.csv", isDirectory: false)))
        for path in ["/a/b/c.csv", "/a/./b/../c.csv", "/a/b/", "/a//b", "/a/b/.", "/a/b/..", "/"] {
            let url = URL(fileURLWithPath: path)
            XCTAssertEqual(SpoolLayout.standardPath(of: url), url.standardizedFileURL.path, path)
        }
        // The byte scan that lets a plain path through without standardizing: any empty, `.` or
        // `..` component sends a path to `standardizedFileURL`; names of dots that are neither pass.
        for path in ["/", "/a", "/a/b/", "/a/.../b", "/a/..b/.c", "/a/b..", "/.hidden/x"] {
            XCTAssertTrue(SpoolLayout.isPlainAbsolute(path), path)
        }
        for path in ["", "a/b", "//", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/./a", "/../a", "/a/b//"] {
            XCTAssertFalse(SpoolLayout.isPlainAbsolute(path), path)
        }
    }

    func testMoveAfterCrashBetweenLinkAndUnlink() throws {
        let dir = try TempDir()
        let src = dir.url.appendingPathComponent("in/x.json")
        let dst = dir.url.appendingPathComponent("out/x.json")
        try AtomicFile.write(Data("x".utf8), to: src)
        try AtomicFile.makeDirectories(dst.deletingLastPathComponent())
        XCTAssertEqual(link(src.path, dst.path), 0)  // as if the daemon died right after the link
        XCTAssertEqual(try AtomicFile.move(from: src, to: dst), dst)
        XCTAssertFalse(FileManager.default.fileExists(atPath: src.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dst.deletingLastPathComponent().path), ["x.json"])
    }

    func testMoveToFailedWritesReportFirst() throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url, state: dir.url.appendingPathComponent("state"))
        try layout.create()
        let input = layout.outbox.appendingPathComponent("sub/list.csv")
        try AtomicFile.write(Data("bad".utf8), to: input)
        let (moved, errors) = try layout.moveToFailed(input, report: "line 3: personnummer: the check digit is wrong")
        XCTAssertEqual(moved.path, layout.failed.path + "/sub/list.csv")
        XCTAssertEqual(errors.path, layout.failed.path + "/sub/list.csv.errors.txt")
        XCTAssertEqual(try String(contentsOf: errors, encoding: .utf8), "line 3: personnummer: the check digit is wrong\n")
        XCTAssertEqual(mode(errors), 0o640, "readable by failed/'s group, the intake group")

        // A second failure of the same name keeps the first pair intact.
        try AtomicFile.write(Data("bad2".utf8), to: input)
        let (moved2, errors2) = try layout.moveToFailed(input, report: "line 1")
        XCTAssertEqual(moved2.lastPathComponent, "list-2.csv")
        XCTAssertEqual(errors2.lastPathComponent, "list-2.csv.errors.txt")
        XCTAssertEqual(try String(contentsOf: errors, encoding: .utf8), "line 3: personnummer: the check digit is wrong\n")

        XCTAssertThrowsError(try layout.moveToAccepted(dir.url.appendingPathComponent("elsewhere.csv")))

        // A move a crash stopped between link and unlink: finished under the name it already has.
        try AtomicFile.write(Data("bad3".utf8), to: input)
        let half = layout.failed.appendingPathComponent("sub/list-3.csv")
        XCTAssertEqual(link(input.path, half.path), 0)
        let (moved3, _) = try layout.moveToFailed(input, report: "line 2")
        XCTAssertEqual(moved3.lastPathComponent, "list-3.csv", "no fourth name for the same file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: layout.failed.appendingPathComponent("sub/list-4.csv").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: input.path))
    }

    /// An outbox the operator shares with the case workers' group: what the daemon puts in
    /// `failed/` and `accepted/` is readable for them as far as their input was, whatever the
    /// daemon's umask, and new sub-folders keep the folder's mode.
    func testFailedAndAcceptedStayReadableForWhoeverDroppedTheFile() throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url, state: dir.url.appendingPathComponent("state"))
        try layout.create()
        for d in [layout.outbox, layout.failed, layout.accepted] { chmod(d.path, 0o2750) }
        let old = umask(0o077)
        defer { umask(old) }
        let input = layout.outbox.appendingPathComponent("skola/list.csv")
        try AtomicFile.write(Data("bad".utf8), to: input, mode: 0o640)
        XCTAssertEqual(mode(input), 0o640, "an explicit mode is kept under umask 0077")
        let (moved, errors) = try layout.moveToFailed(input, report: "line 3: the event is missing")
        XCTAssertEqual(mode(errors), 0o640)
        XCTAssertEqual(mode(moved), 0o640)
        XCTAssertEqual(mode(moved.deletingLastPathComponent()), 0o2750, "failed/skola has failed/'s mode")

        let good = layout.outbox.appendingPathComponent("fritid/ok.csv")
        try AtomicFile.write(Data("ok".utf8), to: good, mode: 0o600)
        let accepted = try layout.moveToAccepted(good)
        XCTAssertEqual(mode(accepted.deletingLastPathComponent()), 0o2750)
        // The report is for the intake group always, and for others only as far as the input was.
        let secret = layout.outbox.appendingPathComponent("privat.csv")
        try AtomicFile.write(Data("bad".utf8), to: secret, mode: 0o600)
        XCTAssertEqual(mode(try layout.moveToFailed(secret, report: "x").errors), 0o640)
        let open = layout.outbox.appendingPathComponent("öppen.csv")
        try AtomicFile.write(Data("bad".utf8), to: open, mode: 0o644)
        XCTAssertEqual(mode(try layout.moveToFailed(open, report: "x").errors), 0o644)
    }

    /// At start, temporaries older than a minute go from the queue and the inbox; fresh ones (a
    /// `stafett queue` writing now), staged inbox files and real files stay.
    func testStaleTemporariesAreRemovedAtStart() throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url, state: dir.url.appendingPathComponent("state"))
        try layout.create()
        let peer = layout.queue.appendingPathComponent("migrationsverket")
        try FileManager.default.createDirectory(at: peer, withIntermediateDirectories: true)
        let old = [peer.appendingPathComponent(".m-1.xml.123.tmp"), layout.inbox.appendingPathComponent(".2120001165_x.xml.9.tmp")]
        let keep = [peer.appendingPathComponent(".m-2.meta.77.tmp"), peer.appendingPathComponent("m-3.xml"),
                    layout.inbox.appendingPathComponent(".2120001165_y.xml.stage")]
        for f in old + keep { try Data("x".utf8).write(to: f) }
        var past = [timeval(tv_sec: Int(Date().timeIntervalSince1970) - 3600, tv_usec: 0),
                    timeval(tv_sec: Int(Date().timeIntervalSince1970) - 3600, tv_usec: 0)]
        for f in old { XCTAssertEqual(utimes(f.path, &past), 0) }
        XCTAssertEqual(Set(layout.removeStaleTemporaries()), Set(old.map(\.path)))
        for f in keep { XCTAssertTrue(FileManager.default.fileExists(atPath: f.path), f.path) }
        for f in old { XCTAssertFalse(FileManager.default.fileExists(atPath: f.path), f.path) }
    }

    /// The per-message paths are joined to strings computed once; they must be the paths the
    /// directory URLs name, also when the spool is the root directory.
    func testLayoutPathsAreTheDirectoriesPaths() throws {
        let dir = try TempDir()
        for spool in [dir.url.appendingPathComponent("spool"), URL(fileURLWithPath: dir.url.path + "/spool/"),
                      URL(fileURLWithPath: "/")] {
            let layout = SpoolLayout(spool: spool, state: dir.url.appendingPathComponent("state"))
            XCTAssertEqual(layout.queuePath, layout.queue.path)
            XCTAssertEqual(layout.inboxPath, layout.inbox.path)
            XCTAssertEqual(layout.archivePath, layout.archive.path)
            XCTAssertEqual(layout.expiredArchivePath, layout.archive.appendingPathComponent("expired").path)
        }
        XCTAssertEqual(SpoolLayout.join("/", "queue"), "/queue")
        XCTAssertEqual(SpoolLayout.join("/spool/queue", "a-1.xml"), "/spool/queue/a-1.xml")
    }

    func testReadIfPresentReadsWholeFilesAndTellsMissingFromUnreadable() throws {
        let dir = try TempDir()
        XCTAssertNil(try AtomicFile.readIfPresent(dir.url.appendingPathComponent("none").path))
        for size in [0, 1, 4095, 4096, 70_001] {
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let file = dir.url.appendingPathComponent("f-\(size)")
            try data.write(to: file)
            XCTAssertEqual(try AtomicFile.readIfPresent(file.path), data, "size \(size)")
        }
        // A directory where a file is expected is an error with the path, not "no such file".
        XCTAssertThrowsError(try AtomicFile.readIfPresent(dir.url.path)) { e in
            XCTAssertEqual((e as? SpoolError)?.path, dir.url.path)
        }
    }

    /// Staging learns of a missing directory from the failed create, makes it durably (0700), and
    /// leaves the temporary beside the final name for the commit's rename.
    func testStageCreatesAMissingDirectoryOnDemand() throws {
        let dir = try TempDir()
        let target = dir.url.appendingPathComponent("spool/inbox").path
        let first = try AtomicFile.stage(Data("one".utf8), in: target, as: "2120001165_m-1.xml")
        XCTAssertEqual(first.final, target + "/2120001165_m-1.xml")
        XCTAssertTrue(first.temporary.hasPrefix(target + "/.2120001165_m-1.xml."), first.temporary)
        XCTAssertEqual(mode(URL(fileURLWithPath: target)), 0o700)
        XCTAssertEqual(mode(URL(fileURLWithPath: first.temporary)), 0o640, "the inbox group reads what it becomes")
        XCTAssertEqual(try AtomicFile.readIfPresent(first.temporary), Data("one".utf8))
        let second = try AtomicFile.stage(Data("two".utf8), in: target, as: "2120001165_m-1.xml")
        XCTAssertNotEqual(second.temporary, first.temporary)
        XCTAssertEqual(try AtomicFile.readIfPresent(first.temporary), Data("one".utf8))
        // Where the directory cannot be made, the error names it.
        let blocker = dir.url.appendingPathComponent("file")
        try Data().write(to: blocker)
        XCTAssertThrowsError(try AtomicFile.stage(Data(), in: blocker.path + "/sub", as: "x.xml")) { e in
            XCTAssertTrue("\(e)".contains(blocker.path), "\(e)")
        }
    }

    /// The receiver's staged file has a fixed name (found again after a crash): one a crash left
    /// half written is replaced, not an error that would refuse the sender's retry.
    func testStagingForRecoveryReplacesAFileACrashLeft() throws {
        let dir = try TempDir()
        let inbox = dir.url.appendingPathComponent("inbox")
        try AtomicFile.makeDirectories(inbox)
        try Data("<half".utf8).write(to: inbox.appendingPathComponent(".2120001165_m-1.xml.stage"))
        let staged = try AtomicFile.stageForRecovery(Data("whole".utf8), in: inbox.path, as: "2120001165_m-1.xml")
        XCTAssertEqual(staged.temporary, inbox.path + "/.2120001165_m-1.xml.stage")
        XCTAssertEqual(staged.final, inbox.path + "/2120001165_m-1.xml")
        XCTAssertEqual(try AtomicFile.readIfPresent(staged.temporary), Data("whole".utf8))
        XCTAssertEqual(mode(URL(fileURLWithPath: staged.temporary)), 0o640)
    }
}
