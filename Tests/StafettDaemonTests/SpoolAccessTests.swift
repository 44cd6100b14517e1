import Foundation
import XCTest
import StafettJournal
import StafettTestSupport
@testable import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// `stat` of a path that must exist.
func fileStatus(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> stat {
    var st = stat()
    XCTAssertEqual(stat(path, &st), 0, path, file: file, line: line)
    return st
}

/// DESIGN's "Who may touch what": the groups of `[access]` on the spool's directories, and a case
/// worker in the intake group who drops a file and reads its report.
final class SpoolAccessTests: XCTestCase {
    func mode(_ path: String) -> mode_t { fileStatus(path).st_mode & 0o7777 }
    func group(_ path: String) -> gid_t { fileStatus(path).st_gid }

    func testAccessGroupsAreReadRenderedAndChecked() throws {
        let base = "[node]\norganisation = 212000-1165\nname = T\n"
        let defaults = try StafettConfig.parse(text: base)
        XCTAssertEqual(defaults.access, StafettConfig.Access())
        XCTAssertEqual(defaults.access.operatorsGroup, "stafett-operators")
        XCTAssertEqual(defaults.retention.accepted, .seconds(30 * 86_400))
        XCTAssertEqual(defaults.retention.archive, .seconds(3653 * 86_400))

        let c = try StafettConfig.parse(text: base + "[access]\nintake-group = socialtjanst\noperators-group = drift\n"
                                        + "[retention]\naccepted = 7d\nfailed = 90d\narchive = 3650d\n")
        XCTAssertEqual(c.access.intakeGroup, "socialtjanst")
        XCTAssertEqual(c.access.inboxGroup, "stafett-inbox")
        XCTAssertEqual(c.access.operatorsGroup, "drift")
        XCTAssertEqual(c.retention.accepted, .seconds(7 * 86_400))
        XCTAssertEqual(c.retention.failed, .seconds(90 * 86_400))
        XCTAssertEqual(try StafettConfig.parse(text: c.render()), c, "render() writes [access] and [retention] back")

        XCTAssertThrowsError(try StafettConfig.parse(text: base + "[access]\ninbox-group = \"två ord\"\n")) { e in
            XCTAssertTrue("\(e)".contains("inbox-group"), "\(e)")
        }
        XCTAssertThrowsError(try StafettConfig.parse(text: base + "[retention]\narchive = forever\n")) { e in
            XCTAssertTrue("\(e)".contains("archive"), "\(e)")
        }
        // Groups are given at creation, at start: a reload says the change waits.
        XCTAssertEqual(c.changesNeedingRestart(comparedTo: defaults).filter { $0.hasPrefix("[access]") }.count, 2)
    }

    /// A machine without the groups (a developer's) still gets its directories, in the daemon's
    /// own group, with one warning per missing group.
    func testAMissingGroupLeavesTheDaemonsOwnGroupWithOneWarning() throws {
        let dir = try TempDir()
        let layout = SpoolLayout(spool: dir.url.appendingPathComponent("spool"), state: dir.url.appendingPathComponent("state"))
        var access = StafettConfig.Access()
        access.intakeGroup = "stafett-no-such-group-\(getpid())"
        access.inboxGroup = "stafett-no-such-inbox-\(getpid())"
        access.operatorsGroup = access.intakeGroup
        let (created, warnings) = try layout.create(access: access)
        XCTAssertEqual(created.count, 9)
        XCTAssertEqual(warnings.count, 2, "\(warnings)")
        XCTAssertTrue(warnings[0].contains("the group \(access.intakeGroup) does not exist"), warnings[0])
        XCTAssertTrue(warnings[0].contains("addgroup --system \(access.intakeGroup)"), warnings[0])
        XCTAssertEqual(group(layout.outbox.path), getegid())
        XCTAssertEqual(mode(layout.outbox.path), 0o2770)
        XCTAssertEqual(mode(layout.journal.path), 0o2750)
        // Existing directories are not touched again, and not warned about again.
        XCTAssertTrue(try layout.create(access: access) == ([], []))
    }

    /// A case worker in the intake group drops an intake file into the outbox with their own
    /// tools; the daemon (root here, reading as any member of the group would) refuses it; the
    /// case worker reads the report and their file in `failed/`, and someone outside the group
    /// reads neither.
    func testACaseWorkerInTheIntakeGroupDropsAFileAndReadsTheReport() throws {
        guard let worker = try TemporaryAccount.make("intake", inGroup: true) else {
            throw XCTSkip("needs root and useradd/runuser, to act as a case worker in a temporary intake group")
        }
        defer { worker.remove() }
        guard let outsider = try TemporaryAccount.make("other", inGroup: false) else { throw XCTSkip("useradd failed") }
        defer { outsider.remove() }
        let intakeGroup = try XCTUnwrap(worker.group)

        let net = try TestNetwork()
        let a = net.a
        net.configureAllPeers()
        // The fixture made the spool with the default groups; make it again as stafettd would
        // with this node's [access].
        var access = StafettConfig.Access()
        access.intakeGroup = intakeGroup
        try FileManager.default.removeItem(at: a.layout.outbox)
        let (_, warnings) = try a.layout.create(access: access)
        XCTAssertFalse(warnings.contains { $0.contains(intakeGroup) }, "\(warnings)")
        let gid = try XCTUnwrap(SystemGroup(named: intakeGroup)).id
        for d in [a.layout.outbox, a.layout.accepted, a.layout.failed] { XCTAssertEqual(group(d.path), gid, d.path) }
        XCTAssertEqual(mode(a.layout.outbox.path), 0o2770)
        XCTAssertEqual(mode(a.layout.failed.path), 0o2750)
        // The way to the spool is open to everyone, as /var/spool is.
        var up = a.layout.spool
        while up.path.hasPrefix(net.root.path) {
            chmod(up.path, 0o755)
            up = up.deletingLastPathComponent()
        }

        // The case worker's own tools, with a umask that keeps others out.
        let file = a.layout.outbox.appendingPathComponent("lista.csv")
        let csv = "Ärendenummer;Förnamn;Händelse;Händelsetid\r\nA-1;Ali;okänd;2015-10-23 06:40\r\n"
        let dropped = try worker.run(["/bin/sh", "-c", "umask 027 && printf '%s' \"$1\" > \"$2\"", "sh", csv, file.path])
        XCTAssertEqual(dropped.status, 0, dropped.output)
        XCTAssertEqual(group(file.path), gid, "the setgid outbox gives the file the intake group")
        let intruder = try outsider.run(["/bin/sh", "-c", "echo x > \"$1\"", "sh", a.layout.outbox.path + "/other.csv"])
        XCTAssertNotEqual(intruder.status, 0, "only the intake group writes into the outbox")

        let old = umask(0o077)  // the unit's umask or stricter: the report's mode must not depend on it
        let processor = IntakeProcessor(runtime: try a.runtime(), layout: a.layout,
                                        store: try QueueStore(directory: a.layout.queue), batcher: a.batcher)
        let (outcome, _) = try processor.process(file)
        umask(old)
        guard case let .failed(_, movedTo) = outcome else { return XCTFail("\(outcome)") }

        let report = try worker.run(["/bin/cat", movedTo.path + ".errors.txt"])
        XCTAssertEqual(report.status, 0, report.output)
        XCTAssertTrue(report.output.contains("lista.csv"), report.output)
        let original = try worker.run(["/bin/cat", movedTo.path])
        XCTAssertEqual(original.output, csv, "the case worker finds their file beside the report")
        let listing = try worker.run(["/bin/ls", a.layout.failed.path])
        XCTAssertEqual(listing.output.split(separator: "\n").sorted(), ["lista.csv", "lista.csv.errors.txt"])
        let refused = try outsider.run(["/bin/cat", movedTo.path + ".errors.txt"])
        XCTAssertNotEqual(refused.status, 0, "someone outside the intake group reads no report: \(refused.output)")
    }
}
