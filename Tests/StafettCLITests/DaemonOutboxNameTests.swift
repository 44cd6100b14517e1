import Foundation
import XCTest
@testable import StafettCLI
import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// Odd names and odd files in a running daemon's outbox: each ends in exactly one final place,
/// with one journal record, and stays there (no retry loop journaling it again).
final class DaemonOutboxNameTests: XCTestCase {
    func testEachOddNameEndsInOneFinalPlaceOnce() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let A = Members.a.0
        try h.start(A)
        let layout = h.a.layout
        let outbox = layout.outbox.path
        let good = DaemonHarness.csv(tag: "ODD-\(UUID().uuidString.prefix(6))", count: 1)

        // Latin-1 "Överföring.csv", as an old Windows tool saves it: not UTF-8.
        let latin1: [UInt8] = [0xD6] + Array("verf".utf8) + [0xF6] + Array("ring.csv".utf8)
        try Self.write(good, toRawPath: Array(outbox.utf8) + [0x2F] + latin1)
        // 250 bytes: "<name>.errors.txt" would be 261, over NAME_MAX (and so would any temporary
        // name beside it: written in place). Its content is refused.
        let long = String(repeating: "x", count: 246) + ".csv"
        try Self.write("Förnamn;Händelse\r\nAli;registrerad\r\n", toRawPath: Array((outbox + "/" + long).utf8))
        // A newline in the name.
        let newline = "två\nrader.csv"
        try h.drop(good.replacingOccurrences(of: "ODD-", with: "NL-"), as: newline, into: A)
        // A symbolic link to a file the daemon could read, and a FIFO nobody writes to.
        XCTAssertEqual(symlink("/etc/passwd", outbox + "/lank.csv"), 0)
        XCTAssertEqual(mkfifo(outbox + "/ror.csv", 0o644), 0)
        // Office clutter.
        let clutter = ["desktop.ini", "Thumbs.db", "~$lista.xlsx"]
        for name in clutter { try h.drop("x", as: name, into: A) }

        let accepted = layout.accepted.path, failed = layout.failed.path
        func exists(_ path: String) -> Bool { var st = stat(); return lstat(path, &st) == 0 }
        let finals = [accepted + "/Överföring.csv", failed + "/" + long, accepted + "/" + newline,
                      failed + "/lank.csv", failed + "/ror.csv"]
        let inputs = ["Överföring.csv", long, newline, "lank.csv", "ror.csv"]
        // A round's inputs are linked into their final folder, flushed, and only then unlinked from
        // the outbox (never gone before their replacement is on disk): wait for both steps.
        XCTAssertTrue(h.wait(20) { finals.allSatisfy(exists) && !inputs.contains { exists(outbox + "/" + $0) } },
                      "missing: \(finals.filter { !exists($0) }), still in the outbox: \(inputs.filter { exists(outbox + "/" + $0) })\n\(h.log(A))")

        // Exactly one place each: gone from the outbox, not in the other final folder.
        for name in inputs {
            XCTAssertFalse(exists(outbox + "/" + name), name)
        }
        XCTAssertFalse(exists(failed + "/Överföring.csv"))
        XCTAssertFalse(exists(failed + "/" + newline))
        let outboxLeft = try FileManager.default.contentsOfDirectory(atPath: outbox).filter { !["accepted", "failed"].contains($0) }
        XCTAssertEqual(Set(outboxLeft), Set(clutter), "clutter stays, nothing else does")

        // The long name's report has a shortened name within NAME_MAX, and names the file in full.
        let reports = try FileManager.default.contentsOfDirectory(atPath: failed).filter { $0.hasSuffix(".errors.txt") }
        let longReport = try XCTUnwrap(reports.first { $0.hasPrefix("xxxx") }, "\(reports)")
        XCTAssertLessThanOrEqual(longReport.utf8.count, 255)
        XCTAssertEqual(longReport, SpoolLayout.reportName(for: long))
        XCTAssertTrue(try String(contentsOfFile: failed + "/" + longReport, encoding: .utf8).contains(long))
        // Symlink and FIFO: a report each, saying what they are; the link was never followed.
        let linkReport = try String(contentsOfFile: failed + "/lank.csv.errors.txt", encoding: .utf8)
        XCTAssertTrue(linkReport.contains("symbolic link"), linkReport)
        XCTAssertFalse(linkReport.contains("root:"), "the link's target was read")
        XCTAssertTrue(try String(contentsOfFile: failed + "/ror.csv.errors.txt", encoding: .utf8).contains("FIFO"))
        var st = stat()
        XCTAssertEqual(lstat(failed + "/lank.csv", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFLNK, "the link itself moved")

        // Longer than one retry interval: nothing is journaled twice, clutter never.
        Thread.sleep(forTimeInterval: 6)
        let records = try h.journal(A).filter { ($0["kind"] as? String ?? "").hasPrefix("intake-") }
        var byFile: [String: Int] = [:]
        for r in records { byFile[r["file"] as? String ?? "?", default: 0] += 1 }
        XCTAssertEqual(byFile, ["Överföring.csv": 1, long: 1, "två\\nrader.csv": 1, "lank.csv": 1, "ror.csv": 1], "\(records)")

        // Logs name the newline escaped, never split; the Latin-1 name escaped, with its new name.
        let log = h.log(A)
        XCTAssertTrue(log.contains("två\\nrader.csv"), log)
        XCTAssertFalse(log.contains("två\nrader"), log)
        XCTAssertTrue(log.contains("\\xD6verf\\xF6ring.csv: the name is not UTF-8; renamed to"), log)
    }

    /// Writes `text` in place at a path given as bytes (a name that is not UTF-8, or too long for a
    /// temporary name beside it).
    static func write(_ text: String, toRawPath path: [UInt8]) throws {
        let fd = (path + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        }
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        XCTAssertEqual(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }, bytes.count)
    }
}
