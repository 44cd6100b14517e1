import Foundation
import StafettTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// scripts/install.sh staged into a temporary DESTDIR, and the systemd unit.
final class InstallTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @discardableResult
    func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let r = try runTool(exe, args, environment: env)
        return (r.status, r.output)
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0, path)
        return st.st_mode & 0o7777
    }

    func testStagedInstallIsCompleteAndIdempotent() throws {
        let dir = try TempDir()
        let bin = dir.url.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for b in ["stafett", "stafettd"] {
            let f = bin.appendingPathComponent(b)
            try "#!/bin/sh\necho \(b) v1\n".write(to: f, atomically: true, encoding: .utf8)
            chmod(f.path, 0o755)
        }
        let root = dir.url.appendingPathComponent("root").path
        let script = Self.repo.appendingPathComponent("scripts/install.sh").path
        let (rc, out) = try run("/bin/sh", [script, "--bin-dir", bin.path], env: ["DESTDIR": root, "PREFIX": "/opt/stafett"])
        XCTAssertEqual(rc, 0, out)

        XCTAssertEqual(mode(root + "/opt/stafett/bin/stafettd"), 0o755)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: root + "/opt/stafett/bin/stafett"))
        let unit = try String(contentsOfFile: root + "/etc/systemd/system/stafettd.service", encoding: .utf8)
        XCTAssertTrue(unit.contains("ExecStart=/opt/stafett/bin/stafettd --config /etc/stafett/stafett.conf"), unit)
        XCTAssertEqual(mode(root + "/etc/stafett"), 0o750)
        XCTAssertEqual(mode(root + "/etc/stafett/stafett.conf"), 0o640)
        // DESIGN's "Who may touch what", as the package's postinst and stafettd make it.
        let shared: [String: mode_t] = ["/var/spool/stafett": 0o755, "/var/spool/stafett/outbox": 0o2770,
                                        "/var/spool/stafett/outbox/accepted": 0o2750, "/var/spool/stafett/outbox/failed": 0o2750,
                                        "/var/spool/stafett/queue": 0o2750, "/var/spool/stafett/inbox": 0o2770,
                                        "/var/spool/stafett/archive": 0o2750, "/var/lib/stafett": 0o2750, "/var/lib/stafett/journal": 0o2750]
        for (d, m) in shared { XCTAssertEqual(mode(root + d), m, d) }
        let postinst = try String(contentsOf: Self.repo.appendingPathComponent("packaging/debian/postinst"), encoding: .utf8)
        let placed = postinst.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("place_dir ") }
        for (d, m) in shared {
            let variable = d.replacingOccurrences(of: "/var/spool/stafett", with: "$SPOOL").replacingOccurrences(of: "/var/lib/stafett", with: "$STATE")
            let octal = String(repeating: "0", count: 4 - String(m, radix: 8).count) + String(m, radix: 8)
            XCTAssertTrue(placed.contains { $0.hasPrefix("place_dir \(octal) ") && $0.hasSuffix("\"\(variable)\"") },
                          "the package's postinst makes \(d) \(octal) too")
        }

        // Second run: binaries upgraded, the edited config and an operator's directory mode kept.
        try "[node]\n# edited\n".write(toFile: root + "/etc/stafett/stafett.conf", atomically: true, encoding: .utf8)
        chmod(root + "/var/spool/stafett/outbox", 0o2700)
        try "#!/bin/sh\necho v2\n".write(to: bin.appendingPathComponent("stafettd"), atomically: true, encoding: .utf8)
        chmod(bin.appendingPathComponent("stafettd").path, 0o755)
        let (rc2, out2) = try run("/bin/sh", [script, "--bin-dir", bin.path, "--destdir", root, "--prefix", "/opt/stafett"])
        XCTAssertEqual(rc2, 0, out2)
        XCTAssertTrue(out2.contains("keeping existing"), out2)
        XCTAssertEqual(try String(contentsOfFile: root + "/etc/stafett/stafett.conf", encoding: .utf8), "[node]\n# edited\n")
        XCTAssertEqual(mode(root + "/var/spool/stafett/outbox"), 0o2700)
        XCTAssertTrue(try String(contentsOfFile: root + "/opt/stafett/bin/stafettd", encoding: .utf8).contains("v2"))
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: root + "/opt/stafett/bin").contains { $0.hasPrefix(".") })
    }

    func testInstallRefusesBadInvocations() throws {
        let script = Self.repo.appendingPathComponent("scripts/install.sh").path
        let (rc, out) = try run("/bin/sh", [script, "--frobnicate"])
        XCTAssertNotEqual(rc, 0)
        XCTAssertTrue(out.contains("unknown option '--frobnicate'"), out)
        let dir = try TempDir()
        let (rc2, out2) = try run("/bin/sh", [script, "--bin-dir", dir.url.path, "--destdir", dir.url.path + "/root"])
        XCTAssertNotEqual(rc2, 0)
        XCTAssertTrue(out2.contains("stafett is missing"), out2)
    }

    func testUnitIsNotifyAndHardened() throws {
        let unit = try String(contentsOf: Self.repo.appendingPathComponent("systemd/stafettd.service"), encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=30", "ExecReload=/usr/local/bin/stafettd --config /etc/stafett/stafett.conf --reload --pid $MAINPID", "User=stafett",
                     "ProtectSystem=strict", "ReadWritePaths=/var/spool/stafett /var/lib/stafett", "CapabilityBoundingSet=",
                     "UMask=0027", "SupplementaryGroups=stafett-intake", "SystemCallFilter=@system-service", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                     "MemoryDenyWriteExecute=yes", "Restart=on-failure"] {
            XCTAssertTrue(unit.split(separator: "\n").contains(Substring(line)), line)
        }
        let analyze = "/usr/bin/systemd-analyze"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: analyze), "systemd-analyze not installed")
        let (rc, out) = try run(analyze, ["security", "--offline=true", "--no-pager",
                                          Self.repo.appendingPathComponent("systemd/stafettd.service").path])
        XCTAssertEqual(rc, 0, out)
        // "Overall exposure level for stafettd.service: 1.1 OK"
        let level = out.range(of: #"exposure level for stafettd\.service: ([0-9.]+)"#, options: .regularExpression)
            .flatMap { Double(out[$0].split(separator: " ").last ?? "") }
        XCTAssertNotNil(level, out)
        XCTAssertLessThanOrEqual(level ?? 10, 1.5, out)
    }
}
