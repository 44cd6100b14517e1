import Foundation
import StafettModel

/// The whole `stafett.conf`, typed and validated. A value: reload builds a new one and swaps it in.
///
/// Load with `StafettConfig.load(path:)`; build one in code (the demo does) from `StafettConfig(node:)`
/// and write it with `render()`. Defaults are those of the annotated `Config/stafett.conf`.
public struct StafettConfig: Sendable, Equatable {
    /// `[node]`: who this daemon is and how it listens.
    public var node: Node
    /// `[paths]`: spool and state directories.
    public var paths: Paths = Paths()
    /// `[limits]`: protection against slow, large or many clients and half-written intake files.
    public var limits: Limits = Limits()
    /// `[delivery]`: how hard and how long to try a peer.
    public var delivery: Delivery = Delivery()
    /// `[peer "name"]` sections, in file order.
    public var peers: [Peer] = []
    /// `[routing]` and `[route "EventType"]` sections.
    public var routing: Routing = Routing()
    /// `[metrics]`: the loopback Prometheus endpoint.
    public var metrics: Metrics = Metrics()
    /// `[journal]`: journal settings owned by the daemon.
    public var journal: Journal = Journal()
    /// `[access]`: the groups the spool's directories are shared with.
    public var access: Access = Access()
    /// `[retention]`: how long finished files are kept.
    public var retention: Retention = Retention()
    /// Where each value came from (`"peer.migrationsverket.ca"` → file:line); ignored by `==`.
    public var origins: ConfigOrigins = ConfigOrigins()

    /// A configuration with every default and the given node.
    public init(node: Node) { self.node = node }

    /// The peer with this name, if configured.
    public func peer(named name: String) -> Peer? { peers.first { $0.name == name } }

    /// The peer with this organisation number, if configured.
    public func peer(for organisation: OrganisationNumber) -> Peer? { peers.first { $0.organisation == organisation } }

    /// `[node]`.
    public struct Node: Sendable, Equatable {
        /// Our organisationsnummer; must match our TLS and signing certificates. Required.
        public var organisation: OrganisationNumber
        /// Our name, for logs and receipts. Required.
        public var name: String
        /// Where the receiver listens. Default `0.0.0.0:8443`.
        public var listen: HostPort = HostPort(host: "0.0.0.0", port: 8443)
        /// TLS private key (PEM). Default `/etc/stafett/tls/node.key`.
        public var tlsKey: String = "/etc/stafett/tls/node.key"
        /// TLS certificate chain (PEM). Default `/etc/stafett/tls/node.crt`.
        public var tlsCert: String = "/etc/stafett/tls/node.crt"
        /// CA bundle that client certificates must chain to, and peers' default trust. Default `/etc/stafett/tls/ca.crt`.
        public var tlsCA: String = "/etc/stafett/tls/ca.crt"
        /// PEM file of revocation lists (CRLs) for the CAs peers chain to; nil checks no revocation.
        public var tlsCRL: String?
        /// Whether TLS 1.2 is accepted besides 1.3. Default no.
        public var allowTLS12: Bool = false
        /// Key that signs our messages, receipts and journal checkpoints. Default `/etc/stafett/tls/signing.key`.
        public var signingKey: String = "/etc/stafett/tls/signing.key"
        /// Certificate of the signing key. Default `/etc/stafett/tls/signing.crt`.
        public var signingCert: String = "/etc/stafett/tls/signing.crt"
        /// File holding the HMAC secret for personnummer in the journal. Default `/etc/stafett/journal.secret`.
        public var journalSecret: String = "/etc/stafett/journal.secret"

        /// A node with default paths.
        public init(organisation: OrganisationNumber, name: String) {
            self.organisation = organisation
            self.name = name
        }
    }

    /// `[paths]`.
    public struct Paths: Sendable, Equatable {
        /// Spool root: outbox/, queue/, inbox/, archive/. Default `/var/spool/stafett`.
        public var spool: String = "/var/spool/stafett"
        /// State root: journal/. Default `/var/lib/stafett`.
        public var state: String = "/var/lib/stafett"

        /// Default paths.
        public init() {}

        /// The directory layout under these roots.
        public var layout: SpoolLayout { SpoolLayout(spool: URL(fileURLWithPath: spool), state: URL(fileURLWithPath: state)) }
    }

    /// `[limits]`.
    public struct Limits: Sendable, Equatable {
        /// Largest request body accepted. Default 4MiB.
        public var maxBody: Int = 4 << 20
        /// Largest request header block. Default 16KiB.
        public var maxHeader: Int = 16 << 10
        /// Longest wait for the next bytes of a request, and for a peer's whole answer to a
        /// message this node delivers. Default 30s.
        public var readTimeout: Duration = .seconds(30)
        /// Longest TLS handshake, inbound and outbound. Default 10s.
        public var handshakeTimeout: Duration = .seconds(10)
        /// How long an idle keep-alive connection stays open. Default 60s.
        public var idleTimeout: Duration = .seconds(60)
        /// Most simultaneous inbound connections; nil sizes it from the peers (`receiverCaps`).
        public var maxConnections: Int?
        /// Most inbound connections in their TLS handshake at once; nil sizes it from the peers.
        public var maxHandshakes: Int?
        /// Most authenticated inbound connections of one peer; nil sizes it from `connections-per-peer`.
        public var maxConnectionsPerPeer: Int?
        /// Largest intake file read from the outbox. Default 64MiB.
        public var maxIntakeFile: Int = 64 << 20
        /// How long a file written in place must stay closed and unchanged. Default 2s.
        public var quietPeriod: Duration = .seconds(2)
        /// How often the outbox is rescanned besides inotify. Default 30s.
        public var scanInterval: Duration = .seconds(30)
        /// Most case messages the receiver takes in one batch request (offered to senders in the
        /// `Stafett-Batch` header); 1 offers no batches. Default 100.
        public var maxBatch: Int = 100

        /// Defaults.
        public init() {}
    }

    /// `[delivery]`.
    public struct Delivery: Sendable, Equatable {
        /// Parallel keep-alive connections to each peer. Default 2.
        public var connectionsPerPeer: Int = 2
        /// First retry delay after a failure. Default 30s.
        public var initialBackoff: Duration = .seconds(30)
        /// Cap on the retry delay. Default 15m.
        public var maxBackoff: Duration = .seconds(900)
        /// Random spread of each delay, 0...1. Default 0.2.
        public var jitter: Double = 0.2
        /// Age after which an undelivered message expires (journaled). Default 72h.
        public var maxLifetime: Duration = .seconds(72 * 3600)
        /// Most case messages sent to a peer in one request, when the peer offers batches; 1 sends
        /// one per request. Default 64.
        public var batch: Int = 64

        /// Defaults.
        public init() {}
    }

    /// `[peer "name"]`: an organisation we deliver to and accept messages from.
    public struct Peer: Sendable, Equatable {
        /// The section's subsection name, used by routes.
        public var name: String
        /// The peer's organisationsnummer; its TLS certificate must carry it. Required.
        public var organisation: OrganisationNumber
        /// Where its stafettd listens (`host:port` or `https://host:port`). Required.
        public var address: HostPort
        /// CA bundle its TLS certificate must chain to; nil means the node's `tls-ca`.
        public var ca: String?
        /// Accepted SHA-256 fingerprints of its TLS certificate (lower-case hex); any one matches.
        public var pins: [String] = []
        /// Certificates whose keys verify its messages and receipts (several during rotation). At least one.
        public var signingCerts: [String]

        /// A peer that trusts the node CA.
        public init(name: String, organisation: OrganisationNumber, address: HostPort, signingCerts: [String]) {
            self.name = name
            self.organisation = organisation
            self.address = address
            self.signingCerts = signingCerts
        }
    }

    /// `[routing]` and `[route "EventType"]`.
    public struct Routing: Sendable, Equatable {
        /// Peer name for records that name no recipient; nil means such records fail intake.
        public var defaultPeer: String?
        /// Extra peers per event type, e.g. ReportedMissing → polisen.
        public var fanOut: [EventType: [String]] = [:]

        /// No default, no fan-out.
        public init() {}

        /// Every peer name a message of this type goes to besides its own recipient, in order.
        public func extraPeers(for type: EventType) -> [String] { fanOut[type] ?? [] }
    }

    /// `[metrics]`.
    public struct Metrics: Sendable, Equatable {
        /// Whether `/metrics` is served. Default no.
        public var enabled: Bool = false
        /// Loopback address of the endpoint. Default `127.0.0.1:9464`.
        public var listen: HostPort = HostPort(host: "127.0.0.1", port: 9464)

        /// Defaults.
        public init() {}
    }

    /// `[journal]`.
    public struct Journal: Sendable, Equatable {
        /// How often a signed checkpoint is written. Default 5m.
        public var checkpointInterval: Duration = .seconds(300)

        /// Defaults.
        public init() {}
    }
}

extension StafettConfig {
    /// `[access]`: DESIGN's "Who may touch what". The daemon gives each spool directory it creates
    /// the group and mode of that table; a group that does not exist leaves the directory in the
    /// daemon's own group (with a warning), so a machine without the groups still runs.
    public struct Access: Sendable, Equatable {
        /// Case systems and case workers: write `outbox/`, read `failed/` and `accepted/`. Default `stafett-intake`.
        public var intakeGroup: String = "stafett-intake"
        /// The local system that consumes received messages: read and remove in `inbox/`. Default `stafett-inbox`.
        public var inboxGroup: String = "stafett-inbox"
        /// Operators: read the journal, queue and archive. Default `stafett-operators`.
        public var operatorsGroup: String = "stafett-operators"

        /// Defaults.
        public init() {}
    }

    /// `[retention]`: the daemon removes files older than these from `accepted/`, `failed/` and
    /// `archive/`, journaling each removal; the journal itself is never shortened.
    public struct Retention: Sendable, Equatable {
        /// Inputs whose messages were queued. Default 30d.
        public var accepted: Duration = .seconds(30 * 86_400)
        /// Refused inputs and their reports. Default 30d.
        public var failed: Duration = .seconds(30 * 86_400)
        /// Signed originals, as Swedish social-services records are kept. Default 3653d (ten years).
        public var archive: Duration = .seconds(3653 * 86_400)

        /// Defaults.
        public init() {}
    }
}

/// Source locations of configuration values, keyed `section.key` or `section.sub.key`.
/// Always compares equal so that configs built in code equal configs parsed from text.
public struct ConfigOrigins: Sendable, Equatable {
    /// Locations by key path.
    public var locations: [String: ConfigLocation] = [:]

    /// Empty.
    public init() {}

    /// The location of a key path, or a file-less placeholder.
    public subscript(_ path: String) -> ConfigLocation {
        locations[path] ?? ConfigLocation(file: "<config>", line: 0)
    }

    public static func == (a: ConfigOrigins, b: ConfigOrigins) -> Bool { true }
}
