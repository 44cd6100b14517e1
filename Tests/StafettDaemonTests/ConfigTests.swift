import Foundation
import StafettModel
import XCTest
@testable import StafettDaemon

final class ConfigTests: XCTestCase {
    static let minimal = """
    [node]
    organisation = 212000-1165
    name = Trelleborgs kommun

    [peer "migrationsverket"]
    organisation = 202100-2163
    address = stafett.migrationsverket.example:8443
    signing-cert = /etc/stafett/peers/mv.crt
    """

    func parseErrors(_ text: String, file: String = "/etc/stafett/stafett.conf") -> [ConfigError] {
        do {
            _ = try StafettConfig.parse(text: text, file: file)
            XCTFail("expected errors")
            return []
        } catch {
            return error.errors
        }
    }

    /// What SIGHUP cannot apply is named (key, running value, waiting value) and kept as it runs;
    /// what it can apply (peers, delivery, routing) comes through.
    func testReloadNamesAndKeepsStartOnlySettings() throws {
        let running = try StafettConfig.parse(text: Self.minimal)
        let edited = try StafettConfig.parse(text: Self.minimal + """

            [node]
            listen = 0.0.0.0:9443
            journal-secret = /etc/stafett/other.secret

            [limits]
            max-body = 8M

            [delivery]
            max-backoff = 5m
            """)
        let waiting = edited.changesNeedingRestart(comparedTo: running)
        XCTAssertEqual(waiting.count, 3, "\(waiting)")
        XCTAssertTrue(waiting.contains("[node] listen: still 0.0.0.0:8443; 0.0.0.0:9443 takes effect after a restart"), "\(waiting)")
        XCTAssertTrue(waiting.contains { $0.hasPrefix("[node] journal-secret: still /etc/stafett/journal.secret") }, "\(waiting)")
        XCTAssertTrue(waiting.contains { $0.hasPrefix("[limits] max-body: still 4M") }, "\(waiting)")
        let applied = edited.keepingStartOnlySettings(of: running)
        XCTAssertEqual(applied.node.listen, running.node.listen)
        XCTAssertEqual(applied.node.journalSecret, running.node.journalSecret)
        XCTAssertEqual(applied.limits.maxBody, running.limits.maxBody)
        XCTAssertEqual(applied.delivery.maxBackoff, .seconds(300), "delivery settings are reloaded")
        XCTAssertEqual(applied.changesNeedingRestart(comparedTo: running), [])
        XCTAssertEqual(running.changesNeedingRestart(comparedTo: running), [])
    }

    /// A peer name is a directory under queue/ and archive/: nothing that escapes or hides there.
    func testPeerNamesThatWouldEscapeOrHideInTheSpoolAreRefused() throws {
        for bad in ["..", ".", ".hidden", "expired", "a/b"] {
            let text = Self.minimal.replacingOccurrences(of: "[peer \"migrationsverket\"]", with: "[peer \"\(bad)\"]")
            do {
                let c = try StafettConfig.parse(text: text)
                XCTAssertThrowsError(try c.validate(checkFiles: false), "peer name \(bad)") { error in
                    XCTAssertTrue("\(error)".contains("is not a simple name"), "\(error)")
                }
            } catch {
                XCTAssertTrue("\(error)".contains("peer"), "\(bad): \(error)")  // refused by the parser itself
            }
        }
        XCTAssertNoThrow(try StafettConfig.parse(text: Self.minimal).validate(checkFiles: false))
    }

    func testRevocationListIsOptionalParsedRenderedAndChecked() throws {
        XCTAssertNil(try StafettConfig.parse(text: Self.minimal).node.tlsCRL)
        let text = Self.minimal.replacingOccurrences(of: "name = Trelleborgs kommun",
                                                     with: "name = Trelleborgs kommun\ntls-crl = /nonexistent/ca.crl")
        let c = try StafettConfig.parse(text: text)
        XCTAssertEqual(c.node.tlsCRL, "/nonexistent/ca.crl")
        XCTAssertTrue(c.render().contains("tls-crl = /nonexistent/ca.crl"))
        XCTAssertEqual(try StafettConfig.parse(text: c.render()).node.tlsCRL, c.node.tlsCRL)
        XCTAssertThrowsError(try c.validate(checkFiles: true)) { error in
            XCTAssertTrue("\(error)".contains("revocation list '/nonexistent/ca.crl' does not exist"), "\(error)")
        }
    }

    func testMinimalConfigGetsDefaults() throws {
        let c = try StafettConfig.parse(text: Self.minimal, file: "/etc/stafett/stafett.conf")
        XCTAssertEqual(c.node.organisation.formatted, "212000-1165")
        XCTAssertEqual(c.node.name, "Trelleborgs kommun")
        XCTAssertEqual(c.node.listen, HostPort(host: "0.0.0.0", port: 8443))
        XCTAssertEqual(c.paths.spool, "/var/spool/stafett")
        XCTAssertEqual(c.limits.maxBody, 4 * 1024 * 1024)
        XCTAssertEqual(c.limits.quietPeriod, .seconds(2))
        XCTAssertEqual(c.delivery.maxLifetime, .seconds(72 * 3600))
        XCTAssertFalse(c.metrics.enabled)
        XCTAssertEqual(c.peers.count, 1)
        XCTAssertEqual(c.peer(named: "migrationsverket")?.address.port, 8443)
        XCTAssertEqual(c.peer(for: try OrganisationNumber("2021002163"))?.name, "migrationsverket")
        XCTAssertEqual(c.origins["peer.migrationsverket.address"].line, 7)
    }

    func testFullSyntax() throws {
        let text = """
        ; a comment
        [node]   # trailing comment
          ORGANISATION = 212000-1165
          name = "  Trelleborgs kommun \\"Intake\\" # not a comment"
          allow_tls12 = On
          listen = [::]:9443
        [limits]
        max-body = 512KiB
        max-header = 10MB
        read-timeout = 1h30m
        quiet-period = 250ms
        [delivery]
        jitter = 25%
        initial-backoff = 5s
        max-backoff = 7d
        [peer "migrationsverket"]
        organisation = 2021002163
        address = https://mv.example/
        pin = AB:\(String(repeating: "CD:", count: 29))EF:01
        pin = sha256:\(String(repeating: "0", count: 64))
        signing-cert = old.crt
        signing-cert = new.crt
        [peer "polisen"]
        organisation = 202100-0076
        address = polis.example:8443
        signing-cert = /p.crt
        [routing]
        default = migrationsverket
        [route "ReportedMissing"]
        also = polisen
        [route "found"]
        also = polisen, migrationsverket
        [metrics]
        enabled = yes
        listen = 127.0.0.1:9464
        """
        let c = try StafettConfig.parse(text: text, file: "/etc/stafett/stafett.conf")
        XCTAssertEqual(c.node.name, "  Trelleborgs kommun \"Intake\" # not a comment")
        XCTAssertTrue(c.node.allowTLS12)
        XCTAssertEqual(c.node.listen, HostPort(host: "::", port: 9443))
        XCTAssertEqual(c.limits.maxBody, 512 * 1024)
        XCTAssertEqual(c.limits.maxHeader, 10_000_000)
        XCTAssertEqual(c.limits.readTimeout, .seconds(5400))
        XCTAssertEqual(c.limits.quietPeriod, .milliseconds(250))
        XCTAssertEqual(c.delivery.jitter, 0.25)
        XCTAssertEqual(c.delivery.maxBackoff, .seconds(7 * 86400))
        let mv = try XCTUnwrap(c.peer(named: "migrationsverket"))
        XCTAssertEqual(mv.address, HostPort(host: "mv.example", port: 443))
        XCTAssertEqual(mv.pins.count, 2)
        XCTAssertEqual(mv.pins[0], "ab" + String(repeating: "cd", count: 29) + "ef01")
        XCTAssertEqual(mv.signingCerts, ["/etc/stafett/old.crt", "/etc/stafett/new.crt"])
        XCTAssertEqual(c.routing.defaultPeer, "migrationsverket")
        XCTAssertEqual(c.routing.extraPeers(for: .reportedMissing), ["polisen"])
        XCTAssertEqual(c.routing.extraPeers(for: .found), ["polisen", "migrationsverket"])
        XCTAssertEqual(c.routing.extraPeers(for: .placed), [])
        XCTAssertTrue(c.metrics.enabled)
    }

    func testValueParsers() {
        XCTAssertEqual(ConfigValue.duration("30s"), .seconds(30))
        XCTAssertEqual(ConfigValue.duration("5m"), .seconds(300))
        XCTAssertEqual(ConfigValue.duration("7d"), .seconds(604_800))
        XCTAssertEqual(ConfigValue.duration("45"), .seconds(45))
        XCTAssertNil(ConfigValue.duration("5 minutes"))
        XCTAssertNil(ConfigValue.duration("m"))
        XCTAssertNil(ConfigValue.duration("-5s"))
        XCTAssertEqual(ConfigValue.size("4MiB"), 4 << 20)
        XCTAssertEqual(ConfigValue.size("4M"), 4 << 20)
        XCTAssertEqual(ConfigValue.size("10MB"), 10_000_000)
        XCTAssertEqual(ConfigValue.size("100"), 100)
        XCTAssertNil(ConfigValue.size("4 parsecs"))
        XCTAssertNil(ConfigValue.size("99999999999999999999GiB"))
        for t in ["yes", "TRUE", "on", "1"] { XCTAssertEqual(ConfigValue.bool(t), true) }
        for t in ["no", "False", "off", "0"] { XCTAssertEqual(ConfigValue.bool(t), false) }
        XCTAssertNil(ConfigValue.bool("maybe"))
        XCTAssertEqual(ConfigValue.render(.milliseconds(1500)), "1500ms")
        XCTAssertEqual(ConfigValue.render(.seconds(7200)), "2h")
        XCTAssertEqual(ConfigValue.render(size: 3 << 20), "3MiB")
        XCTAssertEqual(ConfigValue.render(size: 1000), "1000")
        XCTAssertNil(ConfigValue.hostPort("host"))
        XCTAssertNil(ConfigValue.hostPort("host:0"))
        XCTAssertNil(ConfigValue.hostPort("a:b:1"))
        XCTAssertEqual(ConfigValue.hostPort("[::1]:1")?.isLoopback, true)
        XCTAssertNil(ConfigValue.sha256Pin("abcd"))
        XCTAssertNil(ConfigValue.fraction("1.5"))
    }

    func testUnknownKeySuggestsTypoFix() {
        let errs = parseErrors(Self.minimal + "\n[limits]\nmax-bdoy = 4MiB\n")
        XCTAssertEqual(errs.count, 1)
        XCTAssertEqual(errs[0].location.line, 10)
        XCTAssertEqual(errs[0].location.file, "/etc/stafett/stafett.conf")
        XCTAssertEqual(errs[0].hint, "did you mean 'max-body'?")
        XCTAssertTrue(errs[0].description.hasPrefix("/etc/stafett/stafett.conf:10: unknown key 'max-bdoy' in [limits]"))
    }

    func testUnknownSectionAndEventTypeSuggest() {
        let errs = parseErrors(Self.minimal + "\n[delivrey]\njitter = 0.1\n[route \"ReportedMising\"]\nalso = migrationsverket\n")
        XCTAssertEqual(errs.map(\.location.line), [9, 11])
        XCTAssertEqual(errs[0].hint, "did you mean 'delivery'?")
        XCTAssertEqual(errs[1].hint, "did you mean 'ReportedMissing'?")
    }

    func testMissingRequiredKeysAndBadValues() {
        let errs = parseErrors("""
        [node]
        name = X
        listen = 8443
        [limits]
        read-timeout = soon
        max-body = 0
        [peer "mv"]
        organisation = 202100-2164
        """)
        let text = errs.map(\.description).joined(separator: "\n")
        XCTAssertTrue(text.contains("stafett.conf:1: [node] is missing 'organisation'"), text)
        XCTAssertTrue(text.contains("stafett.conf:3: bad value '8443' for 'listen'; expected host:port"), text)
        XCTAssertTrue(text.contains("stafett.conf:5: bad value 'soon' for 'read-timeout'; expected a duration"), text)
        XCTAssertTrue(text.contains("stafett.conf:6: bad value '0' for 'max-body'"), text)
        XCTAssertTrue(text.contains("stafett.conf:8: bad organisationsnummer '202100-2164'; the check digit is wrong"), text)
        XCTAssertTrue(text.contains("stafett.conf:7: [peer \"mv\"] is missing 'address'"), text)
        XCTAssertTrue(text.contains("stafett.conf:7: [peer \"mv\"] is missing 'signing-cert'"), text)
    }

    func testSyntaxErrors() {
        let errs = parseErrors(Self.minimal + "\nname2\n[peer]\n[node \"x\"]\nname = \"open\n")
        XCTAssertEqual(errs.map(\.location.line), [9, 10, 11, 12])
    }

    func testWindowsLineEndingsAndByteOrderMark() throws {
        let text = "\u{FEFF}" + Self.minimal.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"
        let c = try StafettConfig.parse(text: text, file: "/etc/stafett/stafett.conf")
        XCTAssertEqual(c.node.name, "Trelleborgs kommun")
        XCTAssertEqual(c.peers.first?.signingCerts, ["/etc/stafett/peers/mv.crt"])
    }

    func testDuplicateSingleKeyIsAnError() {
        let errs = parseErrors(Self.minimal + "\n[node]\nname = Again\n")
        XCTAssertEqual(errs.count, 1)
        XCTAssertTrue(errs[0].message.contains("set twice (first at /etc/stafett/stafett.conf:3)"), errs[0].message)
    }

    func testCrossSectionValidation() {
        let errs = parseErrors(Self.minimal + """

        [routing]
        default = migrationsverk
        [route "ReportedMissing"]
        also = polisen
        [metrics]
        enabled = yes
        listen = 0.0.0.0:9464
        [delivery]
        initial-backoff = 2h
        max-backoff = 1h
        """)
        let text = errs.map(\.description).joined(separator: "\n")
        XCTAssertTrue(text.contains(":10: default route names unknown peer \"migrationsverk\"; did you mean 'migrationsverket'?"), text)
        XCTAssertTrue(text.contains(":12: [route \"ReportedMissing\"] names unknown peer \"polisen\""), text)
        XCTAssertTrue(text.contains(":15: metrics must listen on loopback"), text)
        XCTAssertTrue(text.contains(":17: initial-backoff is longer than max-backoff"), text)
    }

    /// A pinned certificate proves one organisation: pinned under two peers, it is refused at the
    /// second peer's line.
    func testSamePinUnderTwoPeersIsAnError() {
        let pin = String(repeating: "ab", count: 32)
        let errs = parseErrors(Self.minimal + """

        pin = \(pin)
        [peer "polisen"]
        organisation = 202100-0076
        address = stafett.polisen.example:8443
        signing-cert = /etc/stafett/peers/polisen.crt
        pin = \(pin)
        """)
        let text = errs.map(\.description).joined(separator: "\n")
        XCTAssertEqual(errs.count, 1, text)
        XCTAssertTrue(text.contains(":14: peers \"migrationsverket\" and \"polisen\" pin the same certificate abababab"), text)
    }

    /// A peer named twice for one event type gets one copy.
    func testAFanOutPeerNamedTwiceIsOneCopy() throws {
        let c = try StafettConfig.parse(text: Self.minimal + """

            [route "ReportedMissing"]
            also = migrationsverket, migrationsverket
            also = migrationsverket
            """, file: "/etc/stafett/stafett.conf")
        XCTAssertEqual(c.routing.fanOut[.reportedMissing], ["migrationsverket"])
    }

    func testIncludeAndCheckFiles() throws {
        let dir = try TempDir()
        try "secret".write(to: dir.url.appendingPathComponent("journal.secret"), atomically: true, encoding: .utf8)
        // A secret open to others is refused (as sshd refuses such keys); this test is about the rest.
        XCTAssertEqual(chmod(dir.url.appendingPathComponent("journal.secret").path, 0o600), 0)
        try """
        [peer "polisen"]
        organisation = 202100-0076
        address = polis.example:8443
        signing-cert = peers/polisen.crt
        """.write(to: dir.url.appendingPathComponent("peers.conf"), atomically: true, encoding: .utf8)
        let main = dir.url.appendingPathComponent("stafett.conf")
        // The TLS key is named inside the temporary directory: the default under /etc/stafett may
        // exist on a machine where Stafett is installed, and no test may depend on that.
        try (Self.minimal + "\ninclude = peers.conf\n[node]\njournal-secret = journal.secret\ntls-key = tls/node.key\n")
            .write(to: main, atomically: true, encoding: .utf8)
        let c = try StafettConfig.load(path: main.path)
        XCTAssertEqual(c.peers.map(\.name), ["migrationsverket", "polisen"])
        XCTAssertEqual(c.peer(named: "polisen")?.signingCerts, [dir.url.appendingPathComponent("peers/polisen.crt").path])
        XCTAssertEqual(c.origins["peer.polisen.address"].file, dir.url.appendingPathComponent("peers.conf").path)
        XCTAssertEqual(c.origins["peer.polisen.address"].line, 3)
        XCTAssertNoThrow(try c.validate(checkFiles: false))
        do {
            try c.validate(checkFiles: true)
            XCTFail("files are missing")
        } catch {
            let text = error.description
            XCTAssertTrue(text.contains("TLS key '\(dir.url.appendingPathComponent("tls/node.key").path)' does not exist"), text)
            XCTAssertTrue(text.contains("peers.conf:4: signing certificate of peer \"polisen\""), text)
            XCTAssertFalse(text.contains("journal secret"), text)
        }
    }

    func testIncludeLoopIsAnError() throws {
        let dir = try TempDir()
        let a = dir.url.appendingPathComponent("a.conf")
        try (Self.minimal + "\ninclude = a.conf\n").write(to: a, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try StafettConfig.load(path: a.path)) { e in
            XCTAssertTrue("\(e)".contains("loops back"), "\(e)")
        }
        XCTAssertThrowsError(try StafettConfig.load(path: dir.url.appendingPathComponent("none.conf").path)) { e in
            XCTAssertTrue("\(e)".contains("cannot read the configuration file"), "\(e)")
        }
    }

    func testRenderRoundTrip() throws {
        var c = StafettConfig(node: .init(organisation: try OrganisationNumber("212000-1165"), name: "Trelleborgs kommun; \"intake\" #1 "))
        c.node.allowTLS12 = true
        c.node.listen = HostPort(host: "::1", port: 7443)
        c.paths.spool = "/tmp/spool with space"
        c.limits.quietPeriod = .milliseconds(1500)
        c.limits.maxHeader = 12345
        c.delivery.jitter = 0.125
        var mv = StafettConfig.Peer(name: "migrations-verket", organisation: try OrganisationNumber("2021002163"),
                                    address: HostPort(host: "mv.example", port: 8443), signingCerts: ["/a.crt", "/b,c.crt"])
        mv.ca = "/ca.crt"
        mv.pins = [String(repeating: "ab", count: 32)]
        c.peers = [mv, .init(name: "polisen", organisation: try OrganisationNumber("2021000076"),
                             address: HostPort(host: "10.0.0.1", port: 1), signingCerts: ["/p.crt"])]
        c.routing.defaultPeer = "migrations-verket"
        c.routing.fanOut = [.reportedMissing: ["polisen"], .found: ["polisen", "migrations-verket"]]
        c.metrics.enabled = true
        c.journal.checkpointInterval = .seconds(90)
        let text = c.render()
        let back = try StafettConfig.parse(text: text, file: "/x/stafett.conf")
        XCTAssertEqual(back, c, text)
        XCTAssertEqual(back.render(), text)
    }

    func testExampleConfigParses() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/stafett.conf")
        let c = try StafettConfig.load(path: url.path)
        XCTAssertEqual(c.node.organisation.formatted, "212000-1165")
        XCTAssertEqual(c.routing.extraPeers(for: .reportedMissing), ["polisen"])
        XCTAssertEqual(try StafettConfig.parse(text: c.render(), file: "/etc/stafett/stafett.conf"), c)
    }
}

/// A temporary directory removed when the value goes away.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}
