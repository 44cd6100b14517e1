import Foundation
import XCTest
@testable import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettXML

/// Acceptance tests that stop, signal and kill real `stafettd` processes; each has its own network.
final class DaemonLifecycleTests: XCTestCase {
    let A = Members.a.0, B = Members.b.0, C = Members.c.0

    /// `stafettd --reload` (the unit's ExecReload) answers what the daemon did with the file: 0 when
    /// it took it, 1 with the daemon's `file:line` when it kept the running one (a file it could
    /// not parse, and one that parses but names a certificate that is not there), 1 without a daemon.
    func testReloadCommandExitsNonZeroWithFileAndLineWhenTheDaemonRefuses() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let exe = DaemonProcess.siblingExecutable()
        let none = try h.cli.tool(exe, ["--config", h.a.configPath, "--reload"])
        XCTAssertEqual(none.0, 1, none.1)
        XCTAssertTrue(none.1.contains("no running stafettd to reload"), none.1)

        let a = try h.start(A)
        let pid = "\(a.process.processIdentifier)"
        let good = try h.cli.tool(exe, ["--config", h.a.configPath, "--reload", "--pid", pid])
        XCTAssertEqual(good.0, 0, good.1 + h.log(A))
        XCTAssertTrue(good.1.contains("reloaded \(h.a.configPath): 1 peer(s)"), good.1)

        let original = try String(contentsOfFile: h.a.configPath, encoding: .utf8)
        var config = try StafettConfig.load(path: h.a.configPath)
        let missing = h.a.directory.appendingPathComponent("gone/signing.crt").path
        config.peers[0].signingCerts = [missing]
        let text = config.render()
        let line = try XCTUnwrap(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(missing) }) + 1
        try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: h.a.configPath), mode: 0o644)
        let refused = try h.cli.tool(exe, ["--config", h.a.configPath, "--reload", "--pid", pid])
        XCTAssertEqual(refused.0, 1, refused.1)
        XCTAssertTrue(refused.1.contains("reload refused, the running configuration is kept: \(h.a.configPath):\(line): "), refused.1)
        XCTAssertTrue(refused.1.contains("does not exist"), refused.1)
        XCTAssertTrue(h.log(A).contains("reload of \(h.a.configPath) failed"), "the daemon itself refused it: \(h.log(A))")

        let unparsable = original + "\n[delivery]\nmax-backoff = soon\n"
        try AtomicFile.write(Data(unparsable.utf8), to: URL(fileURLWithPath: h.a.configPath), mode: 0o644)
        let broken = try h.cli.tool(exe, ["--config", h.a.configPath, "--reload", "--pid", pid])
        XCTAssertEqual(broken.0, 1, broken.1)
        let badLine = unparsable.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("max-backoff = soon") }! + 1
        XCTAssertTrue(broken.1.contains("\(h.a.configPath):\(badLine)"), broken.1)

        try AtomicFile.write(Data(original.utf8), to: URL(fileURLWithPath: h.a.configPath), mode: 0o644)
        let again = try h.cli.tool(exe, ["--config", h.a.configPath, "--reload"])
        XCTAssertEqual(again.0, 0, again.1)
        XCTAssertTrue(a.isRunning)
        let answer = try XCTUnwrap(ReloadAnswer.read(ReloadAnswer.file(in: h.a.layout)))
        XCTAssertEqual(answer.generation, 3, "three reloads reached the daemon (the unparsable file did not)")
        XCTAssertEqual(answer.state, .ok)
    }

    /// `stafettd --check` reads and checks, and writes nothing: no journal, no spool; it works while
    /// the daemon runs (and holds the journal's lock), and a broken edit fails with file:line.
    func testCheckWritesNothingAndRunsBesideTheDaemon() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let exe = DaemonProcess.siblingExecutable()
        let journal = h.a.layout.journal
        try? FileManager.default.removeItem(at: h.a.layout.spool)
        try? FileManager.default.removeItem(at: h.a.layout.state)
        let first = try h.cli.tool(exe, ["--config", h.a.configPath, "--check"])
        XCTAssertEqual(first.0, 0, first.1)
        XCTAssertTrue(first.1.contains("configuration, keys and certificates OK"), first.1)
        XCTAssertTrue(first.1.contains("does not exist yet"), first.1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.a.layout.spool.path), "the check created the spool")
        XCTAssertFalse(FileManager.default.fileExists(atPath: journal.path), "the check created the journal")

        try h.start(A)
        let beside = try h.cli.tool(exe, ["--config", h.a.configPath, "--check"])
        XCTAssertEqual(beside.0, 0, beside.1)
        XCTAssertFalse(beside.1.contains("does not exist"), beside.1)

        let broken = h.a.directory.appendingPathComponent("broken.conf")
        try (try String(contentsOfFile: h.a.configPath, encoding: .utf8) + "\n[delivery]\nmax-backoff = soon\n")
            .write(to: broken, atomically: true, encoding: .utf8)
        let bad = try h.cli.tool(exe, ["--config", broken.path, "--check"])
        XCTAssertEqual(bad.0, 1, bad.1)
        XCTAssertTrue(bad.1.contains("broken.conf:"), bad.1)
    }

    /// 4. Peer down: messages stay queued with visible back-off, then each is delivered exactly once.
    func testPeerDownQueuesWithBackoffThenDeliversExactlyOnce() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(B)
        try h.start(A)
        h.stop(B)
        let tag = "DOWN-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: "\(tag)-x", count: 2), as: "\(tag)-1.csv", into: A)
        try h.drop(DaemonHarness.csv(tag: "\(tag)-y", count: 2), as: "\(tag)-2.csv", into: A)
        let n = 4
        // Every message is tried and backs off on its own schedule (no head-of-line blocking).
        XCTAssertTrue(h.wait(20) { let q = h.queue(A); return q.count == n && q.allSatisfy { $0.attempts > 0 } },
                      "queue: \(h.queue(A).map { "\($0.messageId) \($0.attempts)" })\n\(h.log(A))")

        let json = try h.cli.run(["queue", "--config", h.a.configPath, "-o", "json"])
        XCTAssertEqual(json.code, 0, json.err)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        let messages = try XCTUnwrap(obj["messages"] as? [[String: Any]])
        XCTAssertEqual(messages.count, n)
        for m in messages {
            XCTAssertGreaterThan(m["attempts"] as? Int ?? 0, 0)
            XCTAssertNotNil(m["lastError"] as? String, "\(m)")
            XCTAssertNotNil(m["nextAttempt"] as? String)
            XCTAssertEqual(m["peer"] as? String, B)
        }
        let text = try h.cli.run(["queue", "--config", h.a.configPath])
        XCTAssertEqual(text.code, 0, text.err)
        XCTAssertTrue(text.out.contains("\(B): \(n) message(s)"), text.out)
        XCTAssertTrue(text.out.contains("last error: "), text.out)
        XCTAssertFalse(text.out.contains("no errors"), text.out)
        // The peer's own back-off shows, not only each message's.
        XCTAssertTrue(text.out.contains("\(B): \(n) message(s)") && text.out.contains("not answering since"), text.out)
        let peers = try XCTUnwrap(obj["peers"] as? [[String: Any]])
        XCTAssertNotNil(peers.first?["backoffUntil"] as? String, "\(peers)")
        XCTAssertGreaterThan(peers.first?["failuresInARow"] as? Int ?? 0, 0, "\(peers)")
        // The back-off shows: somewhere a retry is scheduled in the future, and attempts grow.
        let attemptsBefore = h.queue(A).map(\.attempts).reduce(0, +)
        XCTAssertTrue(h.wait(5) { h.queue(A).contains { $0.nextAttempt > Date() } })
        XCTAssertTrue(h.wait(5) { h.queue(A).map(\.attempts).reduce(0, +) > attemptsBefore }, "still retrying")
        XCTAssertTrue(h.inbox(B).isEmpty)

        try h.start(B)
        XCTAssertTrue(h.wait(30) { h.queue(A).isEmpty && h.inbox(B).count == n }, "queue \(h.queue(A).count), inbox \(h.inbox(B).count)\n\(h.log(A))")
        usleep(500_000)  // anything sent twice would show up now
        XCTAssertEqual(h.inbox(B).count, n)
        XCTAssertEqual(try h.journaled(B, kind: "received").count, n, "each message received exactly once")
        let delivered = try h.journaled(A, kind: "delivered")
        XCTAssertEqual(delivered.count, n)
        XCTAssertEqual(Set(delivered).count, n)
        let after = try h.cli.run(["queue", "--config", h.a.configPath])
        XCTAssertEqual(after.out, "Queue is empty.\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.a.layout.queue.appendingPathComponent("\(B)/.peer-state").path),
                       "the back-off is forgotten once the peer answers")
    }

    /// 5. SIGHUP reloads (a new peer becomes usable), a broken config on SIGHUP keeps the old one,
    /// and SIGTERM drains and exits 0.
    func testSignalsReloadKeepOldConfigOnErrorAndTerminateCleanly() throws {
        // B starts without C as a peer; the reload adds it.
        let h = try DaemonHarness { name, config in
            if name == Members.b.0 { config.peers.removeAll { $0.name == Members.c.0 } }
        }
        let b = try h.start(B)
        let a = try h.start(A)
        let fromC = { try h.post(try h.message(from: self.C, to: self.B, signedBy: self.C), to: self.B, identity: h.tlsIdentity(self.C)) }
        let before = try fromC()
        let beforeAccepted = (try? ReceiptXML.read(before.body))?.status == .accepted
        XCTAssertFalse(beforeAccepted, "C is not yet a peer of B")

        let original = try String(contentsOfFile: h.b.configPath, encoding: .utf8)
        var config = try StafettConfig.load(path: h.b.configPath)
        let c = h.node(C)
        config.peers.append(StafettConfig.Peer(name: C, organisation: c.organisation,
                                               address: HostPort(host: "127.0.0.1", port: c.port), signingCerts: [c.tls("signing.crt")]))
        // A new listen port cannot move a bound socket: the reload says so and keeps serving.
        let oldListen = config.node.listen
        config.node.listen = HostPort(host: oldListen.host, port: oldListen.port == 65000 ? 65001 : 65000)
        try AtomicFile.write(Data(config.render().utf8), to: URL(fileURLWithPath: h.b.configPath), mode: 0o644)
        kill(b.process.processIdentifier, SIGHUP)
        XCTAssertTrue(h.wait(10) { h.log(B).contains("reloaded \(h.b.configPath): 2 peer(s)") }, h.log(B))
        XCTAssertTrue(h.log(B).contains("reload: [node] listen: still \(oldListen); \(config.node.listen) takes effect after a restart"), h.log(B))
        let after = try fromC()
        XCTAssertEqual(after.http, 200)
        XCTAssertEqual(try ReceiptXML.read(after.body).status, .accepted, "C is a peer after the reload")
        try deliverOne(h, tag: "HUP1")

        // A broken config: the reload fails, B keeps running with what it had.
        try AtomicFile.write(Data((original + "\n[delivery]\nmax-backoff = soon\n").utf8), to: URL(fileURLWithPath: h.b.configPath), mode: 0o644)
        kill(b.process.processIdentifier, SIGHUP)
        XCTAssertTrue(h.wait(10) { h.log(B).contains("keeping the running configuration") }, h.log(B))
        XCTAssertTrue(b.isRunning)
        try deliverOne(h, tag: "HUP2")
        XCTAssertEqual(try ReceiptXML.read(try fromC().body).status, .accepted, "still the reloaded config, not the broken one")

        // SIGTERM: drains, says so, removes its pid file, exits 0.
        let pidFile = h.a.layout.state.appendingPathComponent("stafettd.pid").path
        XCTAssertEqual(try String(contentsOfFile: pidFile, encoding: .utf8), "\(a.process.processIdentifier)\n")
        for (name, d) in [(A, a), (B, b)] {
            kill(d.process.processIdentifier, SIGTERM)
            d.process.waitUntilExit()
            XCTAssertEqual(d.process.terminationReason, .exit, name)
            XCTAssertEqual(d.process.terminationStatus, 0, name)
            XCTAssertTrue(h.log(name).contains("draining and stopping"), h.log(name))
            XCTAssertTrue(h.lastLog(name).hasSuffix("stopped\n"), h.log(name))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: pidFile))
        let verify = try h.cli.run(["journal", "verify", "--journal", h.a.layout.journal.path, "--cert", h.a.tls("signing.crt")])
        XCTAssertEqual(verify.code, 0, verify.out + verify.err)
    }

    /// 5b. SIGTERM in the middle of delivering: exits 0 after draining, and after a restart
    /// every message arrives exactly once.
    func testSIGTERMWhileDeliveringDrainsAndLosesNothing() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(B)
        let a = try h.start(A)
        let n = 300
        let tag = "TERM-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: n), as: "\(tag).csv", into: A)
        XCTAssertTrue(h.wait(60) { h.inbox(B).count >= 20 }, h.log(A))
        kill(a.process.processIdentifier, SIGTERM)
        a.process.waitUntilExit()
        XCTAssertEqual(a.process.terminationReason, .exit)
        XCTAssertEqual(a.process.terminationStatus, 0, h.log(A))
        XCTAssertTrue(h.lastLog(A).hasSuffix("stopped\n"), h.log(A))
        let atStop = h.inbox(B).count
        usleep(300_000)
        XCTAssertEqual(h.inbox(B).count, atStop, "nothing is sent after stafettd said it stopped")
        XCTAssertEqual(h.queueCount(A) + atStop, n, "every message is either delivered or still queued")
        try h.start(A)
        XCTAssertTrue(h.wait(60) { h.inbox(B).count == n && h.queueCount(A) == 0 }, "inbox \(h.inbox(B).count), queue \(h.queueCount(A))")
        XCTAssertEqual(try h.journaled(B, kind: "received").count, n)
        XCTAssertEqual(Set(try h.journaled(A, kind: "delivered")).count, n)
    }

    /// SIGTERM to the receiving side while the sender holds idle keep-alive connections to it:
    /// idle connections must not hold up the drain (systemd waits for it).
    func testSIGTERMDoesNotWaitForIdleKeepAliveConnections() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        let b = try h.start(B)
        try h.start(A)
        try deliverOne(h, tag: "IDLE")  // A now keeps connections to B open
        let start = Date()
        kill(b.process.processIdentifier, SIGTERM)
        b.process.waitUntilExit()
        let took = Date().timeIntervalSince(start)
        XCTAssertEqual(b.process.terminationStatus, 0, h.log(B))
        XCTAssertLessThan(took, 3, "stopping took \(took)s:\n\(h.log(B))")
    }

    /// 6b. SIGKILL the receiver twice while it takes messages in: after restarts every message is
    /// in B's inbox once, each inbox file has its `received` record, and both journals verify.
    func testReceiverKilledMidDeliveryLosesNothing() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b]) { _, config in config.delivery.connectionsPerPeer = 8 }
        try h.start(B)
        try h.start(A)
        let n = 400
        let tag = "RKILL-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: n), as: "\(tag).csv", into: A)
        for threshold in [40, 160] {
            XCTAssertTrue(h.wait(60) { h.inbox(B).count >= threshold }, h.log(A))
            h.kill9(B)
            try h.start(B)
        }
        XCTAssertTrue(h.wait(60) { h.inbox(B).count == n && h.queueCount(A) == 0 },
                      "inbox \(h.inbox(B).count) of \(n), queue \(h.queueCount(A))\n\(h.log(B))")
        let prefix = "\(h.a.organisation.digits)_"
        let inboxIds = Set(h.inbox(B).map { String($0.dropFirst(prefix.count).dropLast(4)) })
        XCTAssertEqual(inboxIds.count, n)
        XCTAssertEqual(Set(try h.journaled(B, kind: "received", casePrefix: tag)), inboxIds, "every stored message is journaled received")
        XCTAssertEqual(Set(try h.journaled(A, kind: "delivered", casePrefix: tag)), inboxIds)
        h.stop(A)
        h.stop(B)
        for node in [h.a, h.b] {
            let verify = try h.cli.run(["journal", "verify", "--journal", node.layout.journal.path, "--cert", node.tls("signing.crt")])
            XCTAssertEqual(verify.code, 0, node.name + ": " + verify.out + verify.err)
        }
    }

    /// Drops a one-record file into A's outbox and waits for its delivery to B.
    func deliverOne(_ h: DaemonHarness, tag: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let t = "\(tag)-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: t, count: 1), as: "\(t).csv", into: A)
        XCTAssertTrue(try h.wait(20) { try h.journaled(A, kind: "delivered", casePrefix: t).count == 1 }, h.log(A), file: file, line: line)
    }

    /// 6. SIGKILL in the middle of a large intake file, and again in the middle of its delivery:
    /// after restarts every record arrives exactly once and the journal verifies.
    func testCrashDuringIntakeAndDeliveryLosesAndDuplicatesNothing() throws {
        // More connections: more deliveries share each group commit, so 2000 records take seconds.
        let h = try DaemonHarness(members: [Members.a, Members.b]) { _, config in config.delivery.connectionsPerPeer = 8 }
        try h.start(B)
        try h.start(A)
        let n = 2000
        let t0 = Date()
        let tag = "CRASH-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: n), as: "\(tag).csv", into: A)
        let input = h.a.layout.outbox.appendingPathComponent("\(tag).csv").path
        // Kill while the file is being read, signed and queued (it is still in the outbox).
        usleep(300_000)
        let stillInOutbox = FileManager.default.fileExists(atPath: input)
        h.kill9(A)
        try h.start(A)
        // Kill again once delivery is under way but not done.
        XCTAssertTrue(h.wait(60) { h.inbox(B).count >= 100 }, h.log(A))
        let partial = h.inbox(B).count
        let tKill = Date().timeIntervalSince(t0)
        h.kill9(A)
        XCTAssertLessThan(partial, n, "the second kill should land mid-delivery")
        try h.start(A)
        try h.checkDeliveredExactlyOnce(n, tagged: tag, from: A, to: B, within: 90)
        let tDone = Date().timeIntervalSince(t0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: h.a.layout.accepted.appendingPathComponent("\(tag).csv").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: input))
        print("crash test: first kill with the input \(stillInOutbox ? "still in the outbox" : "already accepted"), second kill at \(partial)/\(n) delivered after \(Int(tKill))s, all delivered after \(Int(tDone))s")

        h.stop(A)
        for node in [h.a, h.b] {
            let verify = try h.cli.run(["journal", "verify", "--journal", node.layout.journal.path, "--cert", node.tls("signing.crt")])
            XCTAssertEqual(verify.code, 0, node.name + ": " + verify.out + verify.err)
        }
    }
}
