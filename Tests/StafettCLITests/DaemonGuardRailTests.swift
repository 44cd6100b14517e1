import Foundation
import XCTest
@testable import StafettCLI
import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// `stafettd` refuses root, keys open to others, and names a permission problem as one: run
/// against the real binary, as an operator would meet it.
final class DaemonGuardRailTests: XCTestCase {
    func testStartedAsRootWithoutTheEscapeItExitsWithHowToRunIt() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root: the refusal is of euid 0 (CI runs as root)") }
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let exe = DaemonProcess.siblingExecutable()
        // `env -u`: whatever the test runner's environment holds, this start has no escape.
        let (status, output) = try h.cli.tool("/usr/bin/env", ["-u", ServiceUser.allowRootVariable, exe, "--config", h.a.configPath])
        XCTAssertEqual(status, ServiceUser.refusedExitCode, output)
        XCTAssertTrue(output.contains("refusing to run as root"), output)
        XCTAssertTrue(output.contains("systemctl start stafettd"), output)
        XCTAssertTrue(output.contains("sudo -u stafett stafettd --config"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.a.layout.journal.path + "/journal.lock"),
                       "a refused start must not touch the state directory")
    }

    func testTheEscapeRunsAndSaysSoLoudly() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root: the escape is only consulted for euid 0") }
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(Members.a.0)
        XCTAssertTrue(h.log(Members.a.0).contains("RUNNING AS ROOT because STAFETT_ALLOW_ROOT=1"), h.log(Members.a.0))
    }

    func testCheckAsRootWarnsButRuns() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root") }
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let (status, output) = try h.cli.tool("/usr/bin/env", ["-u", ServiceUser.allowRootVariable,
                                                               DaemonProcess.siblingExecutable(), "--config", h.a.configPath, "--check"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("running --check as root proves nothing"), output)
    }

    func testAWorldReadableKeyFailsTheCheck() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let exe = DaemonProcess.siblingExecutable()
        for (file, what) in [("node.key", "TLS key"), ("signing.key", "signing key"), ("journal.secret", "journal secret")] {
            let path = h.a.tls(file)
            XCTAssertEqual(chmod(path, 0o644), 0)
            let (status, output) = try h.cli.tool(exe, ["--config", h.a.configPath, "--check"])
            XCTAssertEqual(status, 1, output)
            XCTAssertTrue(output.contains("\(what) '\(path)' is readable or writable by others (mode 0644)"), output)
            XCTAssertTrue(output.contains("chmod 600"), output)
            XCTAssertEqual(chmod(path, 0o600), 0)
        }
        let ok = try h.cli.tool(exe, ["--config", h.a.configPath, "--check"])
        XCTAssertEqual(ok.0, 0, ok.1)
    }

    /// Group read is the one opening allowed, and only for the service's own group (`root:stafett 0640`).
    func testGroupReadOnlyForTheServicesOwnGroup() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let path = h.a.tls("node.key")
        XCTAssertEqual(chown(path, geteuid(), getegid()), 0)
        XCTAssertEqual(chmod(path, 0o640), 0)
        XCTAssertNil(ServiceUser.exposure(ofPrivateFile: path), "0640 with our own group is allowed")
        XCTAssertEqual(chmod(path, 0o660), 0)
        XCTAssertNotNil(ServiceUser.exposure(ofPrivateFile: path), "group write never is")
        XCTAssertEqual(chmod(path, 0o640), 0)
        guard geteuid() == 0 else { throw XCTSkip("giving the key another group needs root") }
        XCTAssertEqual(chown(path, 0, getegid() == 12345 ? 12346 : 12345), 0)
        let exposure = try XCTUnwrap(ServiceUser.exposure(ofPrivateFile: path), "another group may not read it")
        XCTAssertTrue(exposure.contains("mode 0640"), exposure)
    }

    /// A key in a directory the service user may not enter is a permission problem, with the user.
    func testAKeyBehindADirectoryTheUserMayNotEnterIsAPermissionError() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to run the check as another user (nobody)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { throw XCTSkip("setpriv (util-linux) is not installed") }
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let exe = DaemonProcess.siblingExecutable()
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/" {
            guard access(dir.path, X_OK) == 0, (try? FileManager.default.attributesOfItem(atPath: dir.path)[.posixPermissions] as? Int)
                .map({ $0 & 0o001 != 0 }) ?? false else { throw XCTSkip("\(dir.path) is closed to others: nobody cannot run stafettd from here") }
            dir.deleteLastPathComponent()
        }
        // Everything open to nobody except the tls directory, as a key dir left root-only would be.
        var up = h.a.directory
        while up.path.hasPrefix(h.root.path) { chmod(up.path, 0o755); up.deleteLastPathComponent() }
        let tlsDir = URL(fileURLWithPath: h.a.tls("node.key")).deletingLastPathComponent().path
        chmod(h.a.configPath, 0o644)
        XCTAssertEqual(chmod(tlsDir, 0o700), 0)
        let (status, output) = try h.cli.tool("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                                                   exe, "--config", h.a.configPath, "--check"])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("TLS key: permission denied: \(h.a.tls("node.key")) (running as user nobody)"), output)
        XCTAssertFalse(output.contains("does not exist"), output)
    }

    func testRootDecisionAndProblemWording() {
        XCTAssertEqual(ServiceUser.rootDecision(euid: 1000, check: false, environment: [:]), .run)
        guard case .refuse = ServiceUser.rootDecision(euid: 0, check: false, environment: [ServiceUser.allowRootVariable: "yes"]) else {
            return XCTFail("only the value 1 opens the escape")
        }
        guard case .runAllowed = ServiceUser.rootDecision(euid: 0, check: false, environment: [ServiceUser.allowRootVariable: "1"]) else {
            return XCTFail("STAFETT_ALLOW_ROOT=1 lets root run")
        }
        guard case .checkWithWarning = ServiceUser.rootDecision(euid: 0, check: true, environment: [:]) else {
            return XCTFail("--check as root runs with a warning")
        }
        XCTAssertTrue(FileProblem(path: "/k", errno: EACCES).about("TLS key").hasPrefix("TLS key: permission denied: /k (running as user "))
        XCTAssertEqual(FileProblem(path: "/k", errno: ENOENT).about("TLS key"), "TLS key '/k' does not exist")
    }
}
