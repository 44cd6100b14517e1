import Foundation
import StafettCrypto
import StafettModel
import StafettTransport

/// `stafett-bench flood`: a configured peer's submissions while silent connections from many
/// loopback addresses flood the receiver (issue 14, "Floods"). The receiver runs the daemon's
/// default caps for a small federation; the flood keeps `--connections` connections open from
/// `--addresses` addresses of 127.0.0.0/8 and opens a new one for every one the receiver
/// closes; the peer opens a new connection for each submission, so every one of them has to
/// win a handshake place against the flood.
enum FloodBenchmark {
    static func run(connections: Int, addresses: Int, seconds: Double, rate: Double) throws {
        print("== flood: \(connections) silent connections from \(addresses) addresses, \(Int(rate)) submissions/s for \(Int(seconds)) s")
        raiseDescriptorLimit(to: rlim_t(connections * 2 + 1024))
        let receiver = try OrganisationNumber("2021005489"), sender = try OrganisationNumber("2120000142")
        let ca = try CertificateAuthority.create(commonName: "flood bench CA")
        let (serverKey, serverCert) = try ca.issueNode(NodeIdentity(organisationName: "Receiver", organisationNumber: receiver, host: "127.0.0.1"))
        let (clientKey, clientCert) = try ca.issueNode(NodeIdentity(organisationName: "Sender", organisationNumber: sender, host: "127.0.0.1"))
        let serverTLS = try TLSServerContext(TLSConfiguration(certificateChain: [serverCert], privateKey: serverKey),
                                             clientTrust: ClientTrust([PeerTrust(organisation: sender, caCertificates: [ca.certificate])]))
        let clientTLS = try TLSClientContext(TLSConfiguration(certificateChain: [clientCert], privateKey: clientKey),
                                             serverTrust: PeerTrust(organisation: receiver, caCertificates: [ca.certificate]))
        // The daemon's defaults for a federation of a few peers (ReceiverCaps): 256 connections, 64 handshakes, backlog 4 096.
        let server = try HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", maxConnections: 256, maxPendingHandshakes: 64,
                                                                           maxConnectionsPerPeer: 6, backlog: 4096),
                                    tls: serverTLS) { request, _ in HTTPResponse(status: 200, body: request.body) }
        server.start()
        defer { server.stop(timeout: .milliseconds(500)) }

        let flood = SilentFlood(port: server.port, connections: connections, addresses: addresses)
        flood.start()
        defer { flood.stop() }
        let rampUp = Date()
        while flood.opened < connections, Date().timeIntervalSince(rampUp) < 10 { usleep(50_000) }
        print("flood: \(flood.opened) connections opened in \(String(format: "%.1f", Date().timeIntervalSince(rampUp))) s; measuring")

        var latencies: [Double] = []
        var failures: [String: Int] = [:]
        let total = Int(seconds * rate)
        let start = Date()
        for i in 0..<total {
            let due = start.addingTimeInterval(Double(i) / rate)
            if due > Date() { usleep(useconds_t(due.timeIntervalSinceNow * 1e6)) }
            let client = HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: server.port, maxConnections: 1,
                                                                               requestTimeout: .seconds(5)), tls: clientTLS)
            let t0 = DispatchTime.now().uptimeNanoseconds
            do {
                let response = try client.send(HTTPRequest(method: "POST", target: "/v1/messages", body: Data("submission \(i)".utf8)))
                if response.status == 200 {
                    latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                } else {
                    failures["HTTP \(response.status)", default: 0] += 1
                }
            } catch {
                failures[String(describing: error).prefix(80).description, default: 0] += 1
            }
            client.close()
        }
        let stats = server.statistics
        latencies.sort()
        let ok = latencies.count
        let share = Double(ok) / Double(max(1, total)) * 100
        let p50 = percentile(latencies, 0.5) ?? .infinity
        let p99 = percentile(latencies, 0.99) ?? .infinity
        print("peer: \(ok)/\(total) submissions succeeded (\(String(format: "%.1f", share)) %), each on a new connection;"
            + " latency p50 \(String(format: "%.1f", p50)) ms, p99 \(String(format: "%.1f", p99)) ms")
        for (why, n) in failures.sorted(by: { $0.value > $1.value }) { print("  failed \(n)×: \(why)") }
        print("flood during the run: \(flood.opened) opened, \(flood.closedByServer) closed by the receiver, \(flood.failedConnects) connects failed;"
            + " \(flood.holding) held at the end")
        print("receiver: \(stats.pendingHandshakesEvicted) pending handshakes evicted, \(stats.silentConnectionsClosed) silent closed after 2 s;"
            + " refused: " + ConnectionRefusal.allCases.map { "\(stats.connectionsRefused[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", "))
        let pass = share >= 99 && p99 < 100
        print("target (>= 99 % succeed, p99 < 100 ms): \(pass ? "met" : "NOT met")")
    }

    static func raiseDescriptorLimit(to wanted: rlim_t) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// Silent TCP connections from many loopback source addresses, each re-opened when the
/// receiver closes it, on one thread that polls them all.
final class SilentFlood: @unchecked Sendable {
    let port: UInt16
    let connections: Int
    let addresses: [in_addr]
    private let lock = NSLock()
    private var running = true
    private var done = DispatchSemaphore(value: 0)
    private var counts = (opened: 0, closed: 0, failed: 0, holding: 0)

    init(port: UInt16, connections: Int, addresses: Int) {
        self.port = port
        self.connections = connections
        // 127.0.1.1, 127.0.1.2, ...: each its own address to the receiver's per-address cap.
        self.addresses = (0..<addresses).map { i in
            var a = in_addr()
            _ = inet_pton(AF_INET, "127.0.\(1 + i / 250).\(1 + i % 250)", &a)
            return a
        }
    }

    var opened: Int { lock.withLock { counts.opened } }
    var closedByServer: Int { lock.withLock { counts.closed } }
    var failedConnects: Int { lock.withLock { counts.failed } }
    var holding: Int { lock.withLock { counts.holding } }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "flood"
        thread.start()
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }

    private func loop() {
        var fds = [pollfd](repeating: pollfd(fd: -1, events: Int16(POLLIN), revents: 0), count: connections)
        var scratch = [UInt8](repeating: 0, count: 512)
        while lock.withLock({ running }) {
            for i in fds.indices where fds[i].fd < 0 {
                fds[i].fd = open(from: addresses[i % addresses.count])
            }
            lock.withLock { counts.holding = fds.lazy.filter { $0.fd >= 0 }.count }
            _ = poll(&fds, nfds_t(fds.count), 10)
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = scratch.withUnsafeMutableBytes { recv(fds[i].fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 || (n < 0 && errno == EAGAIN) { fds[i].revents = 0; continue }
                close(fds[i].fd)
                fds[i].fd = -1
                lock.withLock { counts.closed += 1 }
            }
        }
        for f in fds where f.fd >= 0 { close(f.fd) }
        done.signal()
    }

    /// A non-blocking connect from `source`; -1 when it could not even start.
    private func open(from source: in_addr) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { lock.withLock { counts.failed += 1 }; return -1 }
        var local = sockaddr_in(), remote = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr = source
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = port.bigEndian
        remote.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &local) { l in
            withUnsafePointer(to: &remote) { r in
                l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } == 0
                    && (r.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } == 0 || errno == EINPROGRESS)
            }
        }
        guard ok else {
            close(fd)
            lock.withLock { counts.failed += 1 }
            return -1
        }
        lock.withLock { counts.opened += 1 }
        return fd
    }
}
