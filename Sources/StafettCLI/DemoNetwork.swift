import Foundation
import StafettCrypto
import StafettDaemon
import StafettModel

/// A throwaway federation on loopback: one CA, and per node a TLS key and certificate, a signing
/// key and certificate, a journal secret, spool and state directories and a `stafett.conf` that
/// names the other nodes as peers. Used by `stafett demo`, the daemon tests and the benchmark.
public struct DemoNetwork: Sendable {
    /// One node of the network.
    public struct Node: Sendable {
        /// Peer name others use in routes (`trelleborg`, `migrationsverket`).
        public var name: String
        /// Organisation name.
        public var organisationName: String
        /// Organisation number.
        public var organisation: OrganisationNumber
        /// The receiver's loopback port.
        public var port: UInt16
        /// The node's directory.
        public var directory: URL
        /// Its configuration file.
        public var configPath: String { directory.appendingPathComponent("stafett.conf").path }
        /// Its spool and state layout.
        public var layout: SpoolLayout {
            SpoolLayout(spool: directory.appendingPathComponent("spool"), state: directory.appendingPathComponent("state"))
        }
        /// Where its TLS and signing material lives.
        public func tls(_ file: String) -> String { directory.appendingPathComponent("tls/\(file)").path }
    }

    /// The network's root directory.
    public var directory: URL
    /// The nodes.
    public var nodes: [Node]
    /// The CA certificate every node trusts.
    public var caPath: String { directory.appendingPathComponent("ca/ca.crt").path }

    /// The node with this peer name.
    public func node(_ name: String) -> Node { nodes.first { $0.name == name }! }

    /// Creates the files for `members` (peer name, organisation name, organisation number) under
    /// `directory`. Each node routes by default to the first other member; `tweak` may adjust a
    /// node's configuration before it is written (tests use it for timeouts and back-off).
    public static func create(in directory: URL, members: [(String, String, String)],
                              tweak: (String, inout StafettConfig) -> Void = { _, _ in }) throws -> DemoNetwork {
        try AtomicFile.makeDirectories(directory)
        let ca = try CertificateAuthority.create(commonName: "Stafett demo CA", organisationName: "Stafett demo")
        let caDir = directory.appendingPathComponent("ca")
        try AtomicFile.makeDirectories(caDir)
        try ca.write(keyPath: caDir.appendingPathComponent("ca.key").path, certificatePath: caDir.appendingPathComponent("ca.crt").path)
        var nodes: [Node] = []
        for (name, orgName, orgnr) in members {
            let node = Node(name: name, organisationName: orgName, organisation: try OrganisationNumber(orgnr),
                            port: try freeLoopbackPort(), directory: directory.appendingPathComponent(name))
            try AtomicFile.makeDirectories(node.directory.appendingPathComponent("tls"))
            let identity = NodeIdentity(organisationName: orgName, organisationNumber: node.organisation, host: "localhost")
            let (tlsKey, tlsCert) = try ca.issueNode(identity)
            try PEMFile.write(tlsKey.privateKeyPEM, to: node.tls("node.key"))
            try tlsCert.write(to: node.tls("node.crt"))
            let (signKey, signCert) = try ca.issueNode(identity)
            try PEMFile.write(signKey.privateKeyPEM, to: node.tls("signing.key"))
            try signCert.write(to: node.tls("signing.crt"))
            try ca.certificate.write(to: node.tls("ca.crt"))
            try AtomicFile.write(secureRandomBytes(32), to: URL(fileURLWithPath: node.tls("journal.secret")))
            nodes.append(node)
        }
        for node in nodes {
            var config = StafettConfig(node: StafettConfig.Node(organisation: node.organisation, name: node.organisationName))
            config.node.listen = HostPort(host: "127.0.0.1", port: node.port)
            config.node.tlsKey = node.tls("node.key")
            config.node.tlsCert = node.tls("node.crt")
            config.node.tlsCA = node.tls("ca.crt")
            config.node.signingKey = node.tls("signing.key")
            config.node.signingCert = node.tls("signing.crt")
            config.node.journalSecret = node.tls("journal.secret")
            config.paths.spool = node.layout.spool.path
            config.paths.state = node.layout.state.path
            config.limits.quietPeriod = .milliseconds(300)
            config.delivery.initialBackoff = .seconds(1)
            config.delivery.maxBackoff = .seconds(5)
            config.journal.checkpointInterval = .seconds(10)
            for other in nodes where other.name != node.name {
                config.peers.append(StafettConfig.Peer(name: other.name, organisation: other.organisation,
                                                       address: HostPort(host: "127.0.0.1", port: other.port),
                                                       signingCerts: [other.tls("signing.crt")]))
            }
            config.routing.defaultPeer = config.peers.first?.name
            tweak(node.name, &config)
            try AtomicFile.write(Data(config.render().utf8), to: URL(fileURLWithPath: node.configPath), mode: 0o644)
        }
        return DemoNetwork(directory: directory, nodes: nodes)
    }

    /// A port the kernel just handed out on 127.0.0.1 (closed again, so there is a small race).
    public static func freeLoopbackPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartupError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { throw StartupError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return UInt16(bigEndian: addr.sin_port)
    }
}

/// How to start a daemon: a `stafettd` binary, or a program that links the daemon and runs it
/// when given `DaemonCommand.selfLaunchArgument` first.
public struct DaemonLauncher: Sendable {
    /// The program to run.
    public let executable: String
    /// What goes before `--config PATH`.
    public let leadingArguments: [String]

    /// A `stafettd` binary at `executable`.
    public init(executable: String) {
        self.executable = executable
        leadingArguments = []
    }

    /// The running program itself when its `main` runs daemons (`stafett`, `stafett-bench`
    /// call `DaemonCommand.runIfSelfLaunched`): the demo then needs no `stafettd` beside it and
    /// runs the daemon code of its own build. Otherwise (a test runner) the `stafettd` built
    /// beside it.
    public static var forThisProgram: DaemonLauncher {
        guard DaemonCommand.canSelfLaunch else { return DaemonLauncher(executable: DaemonProcess.siblingExecutable()) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        return DaemonLauncher(executable: exe, leadingArguments: [DaemonCommand.selfLaunchArgument])
    }

    private init(executable: String, leadingArguments: [String]) {
        self.executable = executable
        self.leadingArguments = leadingArguments
    }
}

/// A `stafettd` child process, stopped with SIGTERM.
public final class DaemonProcess: @unchecked Sendable {
    /// The process.
    public let process: Process
    /// Its log file (stderr).
    public let logPath: String

    /// Starts `stafettd --config PATH`, logging to `logPath`, with `environment` added to this
    /// process's own (a crash-window test names a step to die at, `STAFETT_CRASH_AT`).
    public convenience init(executable: String, config: String, logPath: String, environment: [String: String] = [:]) throws {
        try self.init(launcher: DaemonLauncher(executable: executable), config: config, logPath: logPath, environment: environment)
    }

    /// Starts the daemon as `launcher` says, with `--config PATH`, logging to `logPath`.
    public init(launcher: DaemonLauncher, config: String, logPath: String, environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: launcher.executable)
        process.arguments = launcher.leadingArguments + ["--config", config]
        // Demo, benchmark and test networks are throwaway, and CI machines run them as root:
        // the only place that lets stafettd run as root (see `ServiceUser.allowRootVariable`).
        var inherited = ProcessInfo.processInfo.environment
        inherited[ServiceUser.allowRootVariable] = "1"
        process.environment = inherited.merging(environment) { _, added in added }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        self.logPath = logPath
        try process.run()
    }

    /// True while it runs.
    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, then waits (SIGKILL after `timeout` seconds).
    public func stop(timeout: Double = 20) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGKILL, at once (crash tests).
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// `stafettd` beside the running executable (both are built into the same directory).
    public static func siblingExecutable(_ name: String = "stafettd") -> String {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = me.deletingLastPathComponent()
        // Under `swift test` the test bundle lives in <bin>/StafettPackageTests.xctest/...
        while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent(name).path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent(name).path
    }

    /// Waits until the node's receiver accepts TCP connections.
    public static func waitForPort(_ port: UInt16, timeout: Double = 15) -> Bool {
        waitForPort(port, of: nil, timeout: timeout)
    }

    /// `waitForPort` for this daemon: false at once if it exits first (a daemon that failed to
    /// start says so in its log; another process on the port must not pass for it).
    public func waitForPort(_ port: UInt16, timeout: Double = 15) -> Bool {
        DaemonProcess.waitForPort(port, of: self, timeout: timeout) && isRunning
    }

    private static func waitForPort(_ port: UInt16, of daemon: DaemonProcess?, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let daemon, !daemon.isRunning { return false }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = port.bigEndian
            let ok = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if ok { return true }
            usleep(50_000)
        }
        return false
    }
}
