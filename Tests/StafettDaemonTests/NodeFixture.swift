import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
import StafettTransport
import StafettXML
@testable import StafettDaemon

// In-process nodes for the receiver and delivery tests: each built the way stafettd builds
// itself (CA-issued TLS and signing certificates on disk, a StafettConfig, NodeRuntime.load, a
// journal, the group-commit batcher), talking mutual TLS 1.3 on 127.0.0.1. Unlike stafettd
// processes they can be stopped and restarted within a test, and their clock can be injected.

/// Log lines a node wrote, for assertions.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined() } }
}

/// One node: certificates, configuration, runtime, journal; optionally a receiver and a sender.
final class TestNode: @unchecked Sendable {
    let name: String
    let organisation: OrganisationNumber
    let directory: URL
    var config: StafettConfig
    let layout: SpoolLayout
    let journal: Journal
    let batcher: CommitBatcher
    let metrics = Metrics()
    let logs = LogCapture()
    let log: Logger
    private(set) var receiver: Receiver?
    private(set) var server: HTTPServer?
    private(set) var store: QueueStore?
    private(set) var scheduler: DeliveryScheduler?

    init(name: String, organisation: OrganisationNumber, directory: URL, ca: CertificateAuthority) throws {
        self.name = name
        self.organisation = organisation
        self.directory = directory
        let tls = directory.appendingPathComponent("tls")
        try AtomicFile.makeDirectories(tls)
        func path(_ f: String) -> String { tls.appendingPathComponent(f).path }
        let identity = NodeIdentity(organisationName: "Test \(name)", organisationNumber: organisation, host: "localhost")
        let (tlsKey, tlsCert) = try ca.issueNode(identity)
        try PEMFile.write(tlsKey.privateKeyPEM, to: path("node.key"))
        try tlsCert.write(to: path("node.crt"))
        let (signKey, signCert) = try ca.issueNode(identity)
        try PEMFile.write(signKey.privateKeyPEM, to: path("signing.key"))
        try signCert.write(to: path("signing.crt"))
        try ca.certificate.write(to: path("ca.crt"))
        try AtomicFile.write(secureRandomBytes(32), to: URL(fileURLWithPath: path("journal.secret")))

        var c = StafettConfig(node: StafettConfig.Node(organisation: organisation, name: "Test \(name)"))
        c.node.listen = HostPort(host: "127.0.0.1", port: 0)
        c.node.tlsKey = path("node.key")
        c.node.tlsCert = path("node.crt")
        c.node.tlsCA = path("ca.crt")
        c.node.signingKey = path("signing.key")
        c.node.signingCert = path("signing.crt")
        c.node.journalSecret = path("journal.secret")
        c.paths.spool = directory.appendingPathComponent("spool").path
        c.paths.state = directory.appendingPathComponent("state").path
        // Tests must not wait for production back-off.
        c.delivery.initialBackoff = .milliseconds(50)
        c.delivery.maxBackoff = .seconds(1)
        c.delivery.connectionsPerPeer = 1
        config = c
        layout = c.paths.layout
        try layout.create()
        journal = try Journal(directory: layout.journal.path)
        batcher = CommitBatcher(spool: layout.spool, journal: journal)
        let capture = logs
        log = Logger(minimumLevel: .debug, journald: false, sink: { capture.append($0) })
    }

    /// The file holding this node's signing certificate (what peers configure as `signing-cert`).
    var signingCertPath: String { config.node.signingCert }

    /// Keys and certificates loaded from the configuration, as stafettd loads them.
    func runtime() throws -> NodeRuntime { try NodeRuntime.load(config) }

    /// The port the receiver (or stub) listens on.
    var port: UInt16 { server?.port ?? 0 }

    /// Starts a Receiver behind a TLS server on 127.0.0.1, remembering what it accepted as
    /// stafettd does at start (from the journal, within the duplicate window of `now`).
    func startReceiver(now: @escaping @Sendable () -> Date = { Date() }) throws {
        let rt = try runtime()
        let window = Receiver.duplicateWindow(maxLifetime: config.delivery.maxLifetime.timeInterval)
        let remembered = try Receiver.acceptedMessages(journal: layout.journal, since: now().addingTimeInterval(-window))
        let receiver = Receiver(runtime: { rt }, layout: layout, batcher: batcher, metrics: metrics, log: log,
                                accepted: remembered, now: now)
        self.receiver = receiver
        try serve(runtime: rt) { request, peer in receiver.handle(request, peer: peer) }
    }

    /// Serves `handler` over mutual TLS with this node's identity (a stand-in peer).
    func serve(runtime rt: NodeRuntime? = nil, _ handler: @escaping HTTPHandler) throws {
        let rt = try rt ?? runtime()
        let tls = try TLSServerContext(rt.tls, clientTrust: ClientTrust(rt.peers.values.map(\.trust)))
        let server = try HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: config.node.listen.port),
                                    tls: tls, handler: handler)
        server.start()
        self.server = server
        // A restart listens where peers already expect this node.
        config.node.listen.port = server.port
    }

    /// Stops the receiver's server (the journal stays open, as on a daemon restart it is reopened).
    func stopServer() {
        server?.stop(timeout: .seconds(2))
        server = nil
    }

    /// Starts a delivery scheduler over this node's queue; peers must be listening already.
    func startSender() throws {
        let store = try QueueStore(directory: layout.queue)
        let scheduler = DeliveryScheduler(runtime: try runtime(), store: store, layout: layout, batcher: batcher,
                                          metrics: metrics, log: log)
        self.store = store
        self.scheduler = scheduler
        scheduler.start()
    }

    /// A case message from this node to `recipient`; `place` varies the content under one id.
    func message(_ id: String, to recipient: TestNode, place: String = "Trelleborg") throws -> CaseMessage {
        let created = Date()
        return CaseMessage(header: MessageHeader(messageId: try MessageID(id), createdAt: created,
                                                 sender: organisation, recipient: recipient.organisation),
                           child: Child(givenName: "Amina", familyName: "Åström",
                                        identifiers: ChildIdentifiers(intakeId: "TBG-\(id)")),
                           event: CaseEvent(type: .registered, time: created, place: place))
    }

    /// Signs `message` with this node's signing key.
    func seal(_ message: CaseMessage) throws -> SealedMessage { try runtime().sealer.seal(message) }

    /// Queues a sealed message for `peer` and tells the scheduler, as intake does.
    @discardableResult
    func enqueue(_ sealed: SealedMessage, for peer: TestNode) throws -> QueueEntry {
        let entry = QueueEntry(message: sealed.message, peer: peer.name, queuedAt: Date(),
                               expiresAt: Date().addingTimeInterval(config.delivery.maxLifetime.timeInterval),
                               digest: sealed.digest)
        try batcher.commit(CommitItem(files: [try XCTUnwrap(store).stage(sealed.signedXML, for: entry)], entries: []))
        scheduler?.add([entry])
        return entry
    }

    /// POSTs `body` to `peer`'s `/v1/messages` over mutual TLS with this node's TLS identity
    /// (what another stafettd or curl with this node's certificate does).
    func post(_ body: Data, to peer: TestNode, contentType: String = "application/xml") throws -> HTTPResponse {
        let rt = try runtime()
        let trust = try XCTUnwrap(rt.peers[peer.name]).trust
        let connection = HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: peer.port),
                                        tls: try TLSClientContext(rt.tls, serverTrust: trust))
        defer { connection.close() }
        return try connection.send(HTTPRequest(method: "POST", target: "/v1/messages",
                                               headers: ["Content-Type": contentType], body: body))
    }

    /// Every journal record, in order.
    func journalEntries() throws -> [JournalEntry] {
        var out: [JournalEntry] = []
        try JournalStream(directory: layout.journal.path).readAvailable { raw in
            if let e = try? EntryCodec.decode(raw.payload) { out.append(e) }
        }
        return out
    }

    /// `.xml` files in the inbox.
    func inbox() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: layout.inbox.path)) ?? []).filter { $0.hasSuffix(".xml") }.sorted()
    }

    /// Every file (messages and retry state) left in the queue directory.
    func queueFiles() -> [String] {
        let fm = FileManager.default
        return ((try? fm.subpathsOfDirectory(atPath: layout.queue.path)) ?? []).filter { $0.hasSuffix(".xml") || $0.hasSuffix(".meta") }
    }

    func shutdown() {
        scheduler?.stop()
        scheduler = nil
        stopServer()
        journal.close()
    }
}

/// A few nodes sharing one test CA, each configured with the others as peers.
final class TestNetwork: @unchecked Sendable {
    let root: URL
    /// The CA every node's certificates come from.
    let ca: CertificateAuthority
    private(set) var nodes: [TestNode] = []

    /// Members as (peer name, organisation number); the numbers must pass the Luhn check.
    init(_ members: [(String, String)] = [("trelleborg", "2120001165"), ("migrationsverket", "2021002163")]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-node-\(UUID().uuidString.prefix(8))")
        ca = try CertificateAuthority.create(commonName: "Stafett test CA", organisationName: "Stafett test")
        for (name, orgnr) in members {
            nodes.append(try TestNode(name: name, organisation: try OrganisationNumber(orgnr),
                                      directory: root.appendingPathComponent(name), ca: ca))
        }
    }

    deinit {
        for n in nodes { n.shutdown() }
        try? FileManager.default.removeItem(at: root)
    }

    var a: TestNode { nodes[0] }
    var b: TestNode { nodes[1] }

    /// Names every other node as `node`'s peer, at the port it listens on now.
    func configurePeers(of node: TestNode) {
        node.config.peers = nodes.filter { $0 !== node }.map { other in
            StafettConfig.Peer(name: other.name, organisation: other.organisation,
                               address: HostPort(host: "127.0.0.1", port: other.port), signingCerts: [other.signingCertPath])
        }
    }

    /// Configures every node's peers (call again after a node starts listening on a new port).
    func configureAllPeers() { for n in nodes { configurePeers(of: n) } }
}

/// A clock a test moves by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date = Date()) { current = start }
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current.addTimeInterval(seconds) } }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
@discardableResult
func waitUntil(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}
