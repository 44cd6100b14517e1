import Foundation
import XCTest
@testable import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettJournal
import StafettModel
import StafettSignature
import StafettXML

// Shared machinery for the Daemon*Tests: a DemoNetwork of real `stafettd` processes on loopback.
// (In a *Tests.swift file so it stays inside the integration tests' room; it holds no tests itself.)

/// Member triples for `DemoNetwork.create`: A sends, B receives, C is a configured third peer.
enum Members {
    static let a = ("trelleborg", "Trelleborgs kommun", "2120001165")
    static let b = ("migrationsverket", "Migrationsverket", "2021002163")
    static let c = ("stockholm", "Stockholms stad", "2120000142")
}

/// A throwaway network with its daemons, removed when released.
final class DaemonHarness: @unchecked Sendable {
    let net: DemoNetwork
    let root: URL
    private(set) var daemons: [String: DaemonProcess] = [:]
    let cli: CLIRun

    /// Creates the network with short back-off (tests must not wait for production timings).
    init(members: [(String, String, String)] = [Members.a, Members.b, Members.c],
         tweak: @escaping (String, inout StafettConfig) -> Void = { _, _ in }) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-it-\(UUID().uuidString.prefix(8))")
        net = try DemoNetwork.create(in: root, members: members) { name, config in
            config.delivery.initialBackoff = .milliseconds(200)
            config.delivery.maxBackoff = .seconds(1)
            config.limits.quietPeriod = .milliseconds(100)
            tweak(name, &config)
        }
        cli = try CLIRun()
    }

    deinit {
        for d in daemons.values { d.stop(timeout: 5) }
        try? FileManager.default.removeItem(at: root)
    }

    func node(_ name: String) -> DemoNetwork.Node { net.node(name) }
    var a: DemoNetwork.Node { net.nodes[0] }
    var b: DemoNetwork.Node { net.nodes[1] }
    private var starts: [String: Int] = [:]
    /// One log file per start (DaemonProcess truncates its log file when it starts).
    func logPath(_ name: String, run: Int) -> String { node(name).directory.appendingPathComponent("stafettd.\(run).log").path }
    /// Everything a node's daemon logged, over all its starts.
    func log(_ name: String) -> String {
        (0..<(starts[name] ?? 0)).map { (try? String(contentsOfFile: logPath(name, run: $0), encoding: .utf8)) ?? "" }.joined()
    }
    /// What the node's current (last started) daemon logged.
    func lastLog(_ name: String) -> String {
        (try? String(contentsOfFile: logPath(name, run: max(0, (starts[name] ?? 1) - 1)), encoding: .utf8)) ?? ""
    }

    /// Starts (or restarts) a node's daemon and waits until its receiver accepts connections
    /// (unless `waitForPort` is false: a daemon told to die may be gone by then); `environment`
    /// is added to the daemon's.
    @discardableResult
    func start(_ name: String, environment: [String: String] = [:], waitForPort: Bool = true) throws -> DaemonProcess {
        let exe = DaemonProcess.siblingExecutable()
        guard FileManager.default.isExecutableFile(atPath: exe) else { throw StartupError("no stafettd at \(exe); swift build first") }
        let run = starts[name, default: 0]
        starts[name] = run + 1
        let d = try DaemonProcess(executable: exe, config: node(name).configPath, logPath: logPath(name, run: run), environment: environment)
        daemons[name] = d
        guard !waitForPort || d.waitForPort(node(name).port) else {
            throw StartupError("\(name) did not start:\n\(log(name))")
        }
        return d
    }

    func stop(_ name: String) { daemons[name]?.stop() }
    func kill9(_ name: String) { daemons[name]?.kill9() }

    /// Writes an intake file into a node's outbox the documented way (temporary name, rename).
    func drop(_ text: String, as fileName: String, into name: String) throws {
        try AtomicFile.write(Data(text.utf8), to: node(name).layout.outbox.appendingPathComponent(fileName), mode: 0o644)
    }

    /// Starts `name` with its peers down and queues `count` messages there (intake ids `<prefix>-…-N`),
    /// returning once each has failed an attempt: the queue an operator then acts on. Returns the tag.
    @discardableResult
    func queueWhilePeersDown(_ name: String, prefix: String, count: Int) throws -> String {
        try start(name)
        let tag = "\(prefix)-\(UUID().uuidString.prefix(6))"
        try drop(DaemonHarness.csv(tag: tag, count: count), as: "\(tag).csv", into: name)
        guard wait(20, { queue(name).count == count && queue(name).allSatisfy { $0.attempts > 0 } }) else {
            throw StartupError("\(count) messages were not queued and tried:\n\(log(name))")
        }
        return tag
    }

    /// `.xml` files in a node's inbox.
    func inbox(_ name: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: node(name).layout.inbox.path)) ?? []).filter { $0.hasSuffix(".xml") }
    }

    /// Complete entries in a node's queue.
    func queue(_ name: String) -> [QueueEntry] {
        (try? QueueStore(directory: node(name).layout.queue))?.loadAll() ?? []
    }

    /// Number of complete entries in a node's queue, without decoding them (cheap enough to poll).
    func queueCount(_ name: String) -> Int { QueueStoreSnapshot.count(node(name).layout.queue) }

    /// Every journal record of a node as a JSON object (`kind`, `msg`, `case`, ...).
    func journal(_ name: String) throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        _ = try JournalWalker(directory: node(name).layout.journal.path, checkChain: false).walk { rec in
            if let obj = try? JSONSerialization.jsonObject(with: Data(rec.payload)) as? [String: Any] { out.append(obj) }
        }
        return out
    }

    /// Message ids journaled with `kind`, optionally only those whose case reference starts with `casePrefix`.
    func journaled(_ name: String, kind: String, casePrefix: String? = nil) throws -> [String] {
        try journal(name).filter { r in
            r["kind"] as? String == kind && (casePrefix.map { ((r["case"] as? String) ?? "").hasPrefix($0) } ?? true)
        }.compactMap { $0["msg"] as? String }
    }

    /// A sender's hand-offs of the messages whose case starts with `casePrefix`, in journal order:
    /// the ids journaled `queued`, each `delivered` (one entry per record), and the ids journaled
    /// `queued` again after their `delivered` (a crash between journal and queue may journal
    /// `queued` twice, but never after the delivery).
    func handOffs(_ name: String, casePrefix: String) throws -> (queued: Set<String>, delivered: [String], queuedAfterDelivery: [String]) {
        var queued = Set<String>(), delivered: [String] = [], deliveredSet = Set<String>(), late: [String] = []
        for r in try journal(name) where ((r["case"] as? String) ?? "").hasPrefix(casePrefix) {
            guard let id = r["msg"] as? String, let kind = r["kind"] as? String else { continue }
            if kind == "delivered" { delivered.append(id); deliveredSet.insert(id) }
            if kind == "queued" {
                if deliveredSet.contains(id) { late.append(id) }
                queued.insert(id)
            }
        }
        return (queued, delivered, late)
    }

    /// Waits up to `timeout` s for `sender`'s `count` messages tagged `tag` to be in `receiver`'s
    /// inbox with the sender's queue empty, then checks the hand-off was exactly once: no
    /// duplicate in the inbox or the receiver's journal, every message journaled `queued` and
    /// `delivered`, and none `queued` again after its delivery. False if it did not settle.
    @discardableResult
    func checkDeliveredExactlyOnce(_ count: Int, tagged tag: String, from sender: String, to receiver: String, within timeout: Double,
                                   file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
        let settled = wait(timeout) { inbox(receiver).count == count && queueCount(sender) == 0 }
        XCTAssertTrue(settled, "inbox \(inbox(receiver).count) of \(count), queue \(queueCount(sender))\n\(log(sender))", file: file, line: line)
        usleep(500_000)  // a message sent again would be in by now
        XCTAssertEqual(inbox(receiver).count, count, "no duplicates in the inbox", file: file, line: line)
        let received = try journaled(receiver, kind: "received", casePrefix: tag)
        XCTAssertEqual(received.count, count, "each record received exactly once", file: file, line: line)
        XCTAssertEqual(Set(received).count, count, file: file, line: line)
        // `queued` may appear twice (a crash between journal and queue), but never after `delivered`.
        let handed = try handOffs(sender, casePrefix: tag)
        XCTAssertEqual(handed.queuedAfterDelivery, [], "queued again after delivery", file: file, line: line)
        XCTAssertEqual(handed.queued.count, count, file: file, line: line)
        XCTAssertEqual(handed.delivered.count, count, "each delivered once", file: file, line: line)
        XCTAssertEqual(Set(handed.delivered), handed.queued, file: file, line: line)
        return settled
    }

    /// The peer's signed receipt for a message, as the sender keeps it (`stafett receipt`: from
    /// its archive, checked against its journal).
    func receipt(of id: String, heldBy name: String) throws -> Data {
        let r = try cli.run(["receipt", id, "--config", node(name).configPath])
        guard r.code == 0 else { throw StartupError("stafett receipt \(id): exit \(r.code): \(r.err)") }
        return Data(r.out.utf8)
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` seconds pass.
    @discardableResult
    func wait(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    /// An intake CSV with `count` Registered records whose intake ids start with `tag`.
    static func csv(tag: String, count: Int) -> String {
        var s = "Ärendenummer;Förnamn;Efternamn;Födelsedatum;Händelse;Händelsetid;Plats\r\n"
        for i in 1...count { s += "\(tag)-\(i);Ali;Nouri;2005-01-01;registrerad;2015-10-23 08:15;Trelleborg\r\n" }
        return s
    }

    /// A case message from `sender` to `recipient`, signed with `signer`'s signing key (nil: unsigned).
    func message(from sender: String, to recipient: String, signedBy signer: String?, id: String = UUID().uuidString.lowercased()) throws -> Data {
        var xml = try String(contentsOf: examplesDirectory.appendingPathComponent("registered.xml"), encoding: .utf8)
        xml = xml.replacingOccurrences(of: "0f6a1c2e-5b7d-4e11-9a3f-1d2c3b4a5e60", with: id)
            .replacingOccurrences(of: "<Sender>2120000142</Sender>", with: "<Sender>\(node(sender).organisation.digits)</Sender>")
            .replacingOccurrences(of: "<Recipient>2021002163</Recipient>", with: "<Recipient>\(node(recipient).organisation.digits)</Recipient>")
        guard let signer else { return Data(xml.utf8) }
        let n = node(signer)
        return try XMLSignature.sign(xml: Data(xml.utf8), key: Key.privateKey(path: n.tls("signing.key")),
                                     certificate: Certificate.load(path: n.tls("signing.crt")))
    }

    /// `curl` POSTing `body` to a node's `/v1/messages`; `identity` names the node whose TLS key
    /// and certificate are presented (nil: none). Returns curl's exit status, the HTTP status and the body.
    func post(_ body: Data, to name: String, identity: (cert: String, key: String)?, ca: String? = nil,
              curlOptions: [String] = []) throws -> (exit: Int32, http: Int, body: Data) {
        let req = cli.dir.appendingPathComponent("req-\(UUID()).xml"), resp = cli.dir.appendingPathComponent("resp-\(UUID()).xml")
        try body.write(to: req)
        var args = ["-sS", "--max-time", "10", "--cacert", ca ?? net.caPath, "-H", "Content-Type: application/xml",
                    "--data-binary", "@\(req.path)", "-o", resp.path, "-w", "\nHTTP:%{http_code}\n"]
        if let identity { args += ["--cert", identity.cert, "--key", identity.key] }
        args += curlOptions
        args.append("https://127.0.0.1:\(node(name).port)/v1/messages")
        let (status, output) = try cli.tool("/usr/bin/curl", args)
        let code = output.split(separator: "\n").first { $0.hasPrefix("HTTP:") }.flatMap { Int($0.dropFirst(5)) } ?? 0
        return (status, code, (try? Data(contentsOf: resp)) ?? Data())
    }

    /// A node's own TLS identity for curl.
    func tlsIdentity(_ name: String) -> (cert: String, key: String) { (node(name).tls("node.crt"), node(name).tls("node.key")) }

    /// GET over plain HTTP on loopback (the metrics endpoint).
    func httpGet(port: UInt16, path: String) throws -> (Int32, String) {
        try cli.tool("/usr/bin/curl", ["-sS", "--max-time", "5", "http://127.0.0.1:\(port)\(path)"])
    }
}

/// Results collected from concurrent submissions, one slot each.
final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Data?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ d: Data?) { lock.lock(); slots[i] = d; lock.unlock() }
    var value: [Data?] { lock.lock(); defer { lock.unlock() }; return slots }
}
