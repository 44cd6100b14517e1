import Foundation

/// Limits and timeouts of an `HTTPServer`.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind (`0.0.0.0`, `::`, a name, or `127.0.0.1`).
    public var host: String
    /// Port; 0 picks a free one (see `HTTPServer.port`).
    public var port: UInt16
    /// Connections served at once. One more is accepted and closed at once, without a
    /// handshake or a response: a 503 would need a TLS handshake first, which is the very
    /// work an overloaded server must not do. Clients see the close and retry later.
    public var maxConnections: Int
    /// Connections still in their TLS handshake, from all addresses together; they count
    /// against `maxConnections` as well. Until its handshake ends a connection may be anyone's,
    /// and one that sends nothing holds its place for `handshakeTimeout`: without a smaller cap
    /// of their own, silent connections could fill `maxConnections` and lock every
    /// authenticated peer out. With it, at least `maxConnections - maxPendingHandshakes` places
    /// stay for peers that have proved who they are. One over it is closed at once, as one over
    /// `maxConnections` is. Until set, a quarter of `maxConnections`; at least 1 is used.
    public var maxPendingHandshakes: Int {
        get { pendingHandshakesSet ?? maxConnections / 4 }
        set { pendingHandshakesSet = newValue }
    }
    private var pendingHandshakesSet: Int?
    /// Connections in their TLS handshake from one source address (IPv4, or an IPv6 /64). Keeps
    /// one host from taking all of `maxPendingHandshakes`, which would lock out new connections
    /// from everyone else; a peer needs only a few handshakes at a time (one per keep-alive
    /// connection it opens). One over it is closed at once. Default 16; at least 1 is used.
    public var maxPendingHandshakesPerAddress: Int
    /// listen(2) backlog.
    public var backlog: Int32
    /// The TLS handshake must finish within this.
    public var handshakeTimeout: Duration
    /// A request's whole head (request line and headers) must arrive within this from its
    /// first byte; a slowloris sending a byte a second is cut off here (408, then close).
    public var headerTimeout: Duration
    /// A request's whole body must arrive within this once its head is read.
    public var bodyTimeout: Duration
    /// A keep-alive connection with no new request for this long is closed.
    public var idleTimeout: Duration
    /// A response must be written within this.
    public var writeTimeout: Duration
    /// Header and body size limits.
    public var limits: HTTPLimits
    /// Receives one line per failed handshake or broken connection, for the log. Connections
    /// refused at a cap come in a flood when they come at all: they get at most one line a
    /// second, naming the last address and how many more were refused.
    public var log: (@Sendable (String) -> Void)?

    /// Defaults: 256 connections, of which 64 (a quarter) and 16 from one address may be in
    /// their handshake, 10 s handshake and header, 30 s body and write, 60 s idle.
    public init(host: String = "0.0.0.0", port: UInt16 = 0, maxConnections: Int = 256,
                maxPendingHandshakes: Int? = nil, maxPendingHandshakesPerAddress: Int = 16, backlog: Int32 = 128,
                handshakeTimeout: Duration = .seconds(10), headerTimeout: Duration = .seconds(10),
                bodyTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(60),
                writeTimeout: Duration = .seconds(30), limits: HTTPLimits = HTTPLimits(),
                log: (@Sendable (String) -> Void)? = nil) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.pendingHandshakesSet = maxPendingHandshakes
        self.maxPendingHandshakesPerAddress = maxPendingHandshakesPerAddress
        self.backlog = backlog
        self.handshakeTimeout = handshakeTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
        self.limits = limits
        self.log = log
    }
}

/// Counters since the server started, for `/metrics`.
public struct HTTPServerStatistics: Sendable, Hashable {
    /// Connections accepted and served.
    public var connectionsAccepted = 0
    /// Connections closed at once because `maxConnections` were open.
    public var connectionsRefusedAtCap = 0
    /// Connections closed at once because `maxPendingHandshakes` were in their handshake.
    public var connectionsRefusedAtPendingCap = 0
    /// Connections closed at once because `maxPendingHandshakesPerAddress` from their source
    /// address were in their handshake.
    public var connectionsRefusedAtAddressCap = 0
    /// Pending handshakes closed to make room at a full `maxPendingHandshakes`: the oldest of the
    /// address holding the most, when it holds two or more.
    public var pendingHandshakesEvicted = 0
    /// TLS handshakes that failed (untrusted or missing certificate, timeout, protocol error).
    public var handshakeFailures = 0
    /// Requests passed to the handler.
    public var requestsHandled = 0
    /// Requests refused by the transport itself (limits, malformed, too slow).
    public var requestsRefused = 0
}

/// Handles one request from an authenticated peer. Called on the connection's own thread;
/// may block (signing, journal fsync): other connections are unaffected.
public typealias HTTPHandler = @Sendable (HTTPRequest, PeerIdentity) -> HTTPResponse

/// Answers a request whose body is over the limit (target, peer, what was wrong) before the
/// body is read, or nil for the plain 413. The answer is sent with `Connection: close`.
public typealias HTTPOversizeHandler = @Sendable (String, PeerIdentity, String) -> HTTPResponse?

/// An HTTP/1.1 server over mutual TLS (or, for `/metrics`, plain TCP on loopback).
///
/// One thread per connection up to `maxConnections`, blocking I/O with poll(2) deadlines.
/// Keep-alive by default; `Connection: close` honoured; `Expect: 100-continue` answered
/// before the body is read. `stop()` is the graceful drain for SIGTERM.
public final class HTTPServer: @unchecked Sendable {
    /// The bound port (the ephemeral one when configured with 0).
    public let port: UInt16
    /// The configuration it runs with.
    public let configuration: HTTPServerConfiguration

    private let listenFD: Int32
    let wakeRead: Int32
    private let wakeWrite: Int32
    private var tls: TLSServerContext?  // guarded by `state`; replaced by `updateTLS`
    let handler: @Sendable (HTTPRequest, PeerIdentity?) -> HTTPResponse
    let oversize: HTTPOversizeHandler?
    private let state = NSCondition()
    private var started = false
    private var stopping = false
    private var acceptLoopDone = false
    private var connections: Set<Int32> = []  // fds of live connections, for a forced stop
    // The source address block of each connection of `connections` still in its TLS handshake,
    // and when it arrived (a counter). Keyed by fd, which is safe because an fd leaves here (in
    // `finished`) before its socket is closed.
    private var pending: [Int32: (block: String, arrival: UInt64)] = [:]
    private var pendingFrom: [String: Int] = [:]
    private var pendingArrivals: UInt64 = 0
    /// Pending connections already shut down to make room (still in `pending` until their threads finish).
    private var evicted: Set<Int32> = []
    private var refusalLog = RefusalLog()
    private var stats = HTTPServerStatistics()

    /// Binds a mutual-TLS server. Call `start()` to accept. `oversize` may answer a body over
    /// the limit (a signed rejection, say) instead of the plain-text 413.
    public init(configuration: HTTPServerConfiguration, tls: TLSServerContext, oversize: HTTPOversizeHandler? = nil,
                handler: @escaping HTTPHandler) throws(TransportError) {
        (listenFD, port) = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        (wakeRead, wakeWrite) = HTTPServer.makePipe()
        self.configuration = configuration
        self.oversize = oversize
        self.tls = tls
        self.handler = { request, peer in
            guard let peer else { return .text(500, "no peer identity", closeConnection: true) }
            return handler(request, peer)
        }
    }

    /// Binds a plain-TCP server on a loopback address only (`127.0.0.1` unless another 127.x,
    /// `::1` or `localhost` is given), for the local `/metrics` endpoint; anything else is refused.
    public init(loopbackHost: String = "127.0.0.1", loopbackPort: UInt16,
                configuration: HTTPServerConfiguration = HTTPServerConfiguration(maxConnections: 16),
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws(TransportError) {
        let host = loopbackHost == "localhost" ? "127.0.0.1" : loopbackHost
        guard host == "::1" || host.hasPrefix("127.") else {
            throw .configuration("a plain (unauthenticated) server listens on loopback only, not \(loopbackHost)")
        }
        var config = configuration
        config.host = host
        config.port = loopbackPort
        (listenFD, port) = try Socket.listen(host: config.host, port: config.port, backlog: config.backlog)
        (wakeRead, wakeWrite) = HTTPServer.makePipe()
        self.configuration = config
        self.tls = nil
        self.oversize = nil
        self.handler = { request, _ in handler(request) }
    }

    deinit {
        stop()
        close(wakeRead)
        close(wakeWrite)
    }

    private static func makePipe() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Replaces certificate, key and client trust (SIGHUP reload). Connections accepted from
    /// now on use the new context; an open keep-alive connection is closed before its next
    /// request (see `acceptsRequests(on:)`), so a peer whose pin was removed or whose certificate
    /// was revoked by the reload is not served on a connection authenticated under the old trust.
    public func updateTLS(_ context: TLSServerContext) {
        state.lock()
        defer { state.unlock() }
        if tls != nil { tls = context }
    }

    /// Whether `channel` was authenticated under the current TLS context (always for plain ones).
    /// A connection from before a reload answers the request it is in and is then closed without
    /// reading another: the client's next request comes on a new connection, through a handshake
    /// under the trust now configured (clients retry a request that a closing keep-alive
    /// connection never read, as `PeerConnection` does).
    func acceptsRequests(on channel: Channel) -> Bool {
        guard let accepted = channel.context else { return true }
        state.lock()
        defer { state.unlock() }
        return tls.map { $0.context === accepted } ?? true
    }

    /// Counters since start.
    public var statistics: HTTPServerStatistics {
        state.lock()
        defer { state.unlock() }
        return stats
    }

    func count(_ update: (inout HTTPServerStatistics) -> Void) {
        state.lock()
        update(&stats)
        state.unlock()
    }

    /// Number of connections being served now, including those still in their handshake.
    public var activeConnections: Int {
        state.lock()
        defer { state.unlock() }
        return connections.count
    }

    /// Number of connections still in their TLS handshake.
    public var pendingHandshakes: Int {
        state.lock()
        defer { state.unlock() }
        return pending.count
    }

    /// Starts the accept loop on its own thread.
    public func start() {
        state.lock()
        defer { state.unlock() }
        guard !started, !stopping else { return }
        started = true
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "stafett-accept-\(port)"
        thread.start()
    }

    /// Stops accepting, closes idle keep-alive connections, lets in-flight requests finish
    /// (their responses carry `Connection: close`) and returns when every connection thread
    /// has ended. After `timeout`, connections still open are shut down by force (a handler
    /// still running is waited for; its response is lost).
    public func stop(timeout: Duration? = nil) {
        state.lock()
        let first = !stopping
        stopping = true
        let wasStarted = started
        state.unlock()
        if first {
            var b: UInt8 = 1
            _ = write(wakeWrite, &b, 1)  // never read: every poll on wakeRead sees it from now on
        }
        state.lock()
        defer { state.unlock() }
        if wasStarted {
            while !acceptLoopDone { state.wait() }
        } else if first {
            close(listenFD)
        }
        let limit = timeout.map { Date().addingTimeInterval(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) }
        while !connections.isEmpty {
            if let limit {
                if !state.wait(until: limit) {
                    for fd in connections { shutdown(fd, Int32(SHUT_RDWR)) }
                    while !connections.isEmpty { state.wait() }
                }
            } else {
                state.wait()
            }
        }
    }

    var isStopping: Bool {
        state.lock()
        defer { state.unlock() }
        return stopping
    }

    private func acceptLoop() {
        defer {
            close(listenFD)
            state.lock()
            acceptLoopDone = true
            state.broadcast()
            state.unlock()
        }
        let never = Deadline(nanoseconds: UInt64.max)
        while true {
            do { try Socket.wait(listenFD, for: Int16(POLLIN), until: never, wakeFD: wakeRead) } catch {
                if case .system = error { usleep(10_000); continue }  // EMFILE and friends: back off
                return  // stopped
            }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listenFD, $0, &length) }
            }
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000) }
                continue
            }
            Socket.setNonBlocking(fd)
            let source = Socket.sourceAddress(&storage, length: length) ?? "?"
            state.lock()
            let refusal = admit(fd, from: source)
            let line = refusal.flatMap { refusalLog.line(for: $0, from: source, configuration) }
            state.unlock()
            if let line { configuration.log?(line) }
            guard refusal == nil else {
                close(fd)
                continue
            }
            Socket.setNoDelay(fd)
            let thread = Thread { [self] in serve(fd) }
            thread.name = "stafett-conn"
            thread.start()
        }
    }

    /// Takes a new connection into the counts, or says why it must be closed instead.
    /// Called with `state` locked.
    private func admit(_ fd: Int32, from source: String) -> Refusal? {
        if stopping || connections.count >= configuration.maxConnections {
            stats.connectionsRefusedAtCap += 1
            return stopping ? .stopping : .connections
        }
        if tls != nil {  // a plain connection has no handshake to wait for
            let block = Socket.addressBlock(of: source)
            if pendingFrom[block, default: 0] >= max(1, configuration.maxPendingHandshakesPerAddress) {
                stats.connectionsRefusedAtAddressCap += 1
                return .handshakesFromAddress
            }
            if pending.count - evicted.count >= max(1, configuration.maxPendingHandshakes) {
                guard let victim = evictionCandidate() else {
                    stats.connectionsRefusedAtPendingCap += 1
                    return .handshakes
                }
                // Silent connections spread over a few addresses could otherwise hold every
                // handshake place for good: the address holding the most gives its oldest up.
                // Its thread sees the shutdown, ends the handshake and leaves the counts.
                evicted.insert(victim)
                shutdown(victim, Int32(SHUT_RDWR))
                stats.pendingHandshakesEvicted += 1
            }
            pendingArrivals += 1
            pending[fd] = (block, pendingArrivals)
            pendingFrom[block, default: 0] += 1
        }
        connections.insert(fd)
        stats.connectionsAccepted += 1
        return nil
    }

    /// The oldest pending handshake of the address holding the most (not yet evicted), when that
    /// address holds two or more: one connection at a time from an address is what a peer needs,
    /// so a lone handshake is never the one closed. Called with `state` locked.
    private func evictionCandidate() -> Int32? {
        var held: [String: Int] = [:]
        for (fd, p) in pending where !evicted.contains(fd) { held[p.block, default: 0] += 1 }
        guard let (busiest, count) = held.max(by: { $0.value < $1.value }), count >= 2 else { return nil }
        return pending.filter { $0.value.block == busiest && !evicted.contains($0.key) }
            .min { $0.value.arrival < $1.value.arrival }?.key
    }

    /// Takes `fd` out of the handshake counts, if it is still in them. Called with `state` locked.
    private func leavePending(_ fd: Int32) {
        evicted.remove(fd)
        guard let source = pending.removeValue(forKey: fd)?.block else { return }
        if let n = pendingFrom[source], n > 1 { pendingFrom[source] = n - 1 } else { pendingFrom[source] = nil }
    }

    /// The peer has proved who it is: from now on the connection holds one of the places
    /// the handshake cap leaves to authenticated peers.
    private func handshakeDone(_ fd: Int32) {
        state.lock()
        leavePending(fd)
        state.unlock()
    }

    private func finished(_ fd: Int32) {
        state.lock()
        leavePending(fd)
        connections.remove(fd)
        state.broadcast()
        state.unlock()
    }

    private func serve(_ fd: Int32) {
        let channel: Channel
        state.lock()
        let tls = self.tls
        state.unlock()
        if let tls {
            do {
                channel = try Channel(tls: fd, context: tls.context)
            } catch {
                finished(fd)
                Glibc.close(fd)
                return
            }
            // A stop does not wait for handshakes: like an idle keep-alive connection, one has
            // no request in flight, and a silent one would hold the stop up for handshakeTimeout.
            do { try channel.handshake(until: .after(configuration.handshakeTimeout), wakeFD: wakeRead) } catch {
                if case .stopped = error {
                    finished(fd)
                    channel.close()
                    return
                }
                count { $0.handshakeFailures += 1 }
                configuration.log?("TLS handshake with \(Self.peerAddress(fd)) failed: \(Self.describe(error))")
                // A TLS 1.3 client believes the handshake done and has sent its request already;
                // closing with that unread would reset the connection before it reads our alert.
                switch error {
                case .tls, .untrusted: channel.linger(maxBytes: configuration.limits.maxBodyBytes, for: .milliseconds(500))
                default: break
                }
                // Out of the set before the number is released, as below.
                finished(fd)
                channel.close()
                return
            }
            handshakeDone(fd)
        } else {
            channel = Channel(plain: fd)
        }
        // The fd leaves the set before it is closed, so a forced stop never shuts down a reused number.
        var handler = ConnectionHandler(server: self, channel: channel, remoteAddress: Self.peerAddress(fd))
        handler.run()
        finished(fd)
        channel.close()
    }

    enum Refusal {
        case stopping, connections, handshakes, handshakesFromAddress
    }

    /// At most one line a second for connections refused at a cap: they come in floods, and
    /// a line each would bury the rest of the log (and cost the accept loop a write each).
    struct RefusalLog {
        private var last: Deadline?
        private var unlogged = 0

        mutating func line(for refusal: Refusal, from source: String, _ config: HTTPServerConfiguration) -> String? {
            let reason: String
            switch refusal {
            case .stopping: return nil
            case .connections: reason = "\(config.maxConnections) connections already open"
            case .handshakes: reason = "\(max(1, config.maxPendingHandshakes)) connections already in their TLS handshake"
            case .handshakesFromAddress:
                reason = "\(max(1, config.maxPendingHandshakesPerAddress)) connections from that address already in their TLS handshake"
            }
            let now = Deadline.now()
            if let last, now.nanoseconds - last.nanoseconds < 1_000_000_000 {
                unlogged += 1
                return nil
            }
            defer { last = now; unlogged = 0 }
            return "connection from \(source) refused: \(reason)" + (unlogged > 0 ? " (and \(unlogged) more since the last such line)" : "")
        }
    }

    static func describe(_ e: IOFailure) -> String {
        switch e {
        case .timedOut: return "timed out"
        case .closed: return "connection closed"
        case .stopped: return "server stopping"
        case let .system(code): return Socket.errnoText(code)
        case let .tls(reason, alert): return reason + (alert.map { " (alert \($0))" } ?? "")
        case let .untrusted(reason): return "client certificate refused: \(reason)"
        case let .unresolvable(why), let .protocolViolation(why): return why
        }
    }

    static func peerAddress(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST)), serv = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let ok = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                getpeername(fd, sa, &len) == 0
                    && getnameinfo(sa, len, &host, socklen_t(host.count), &serv, socklen_t(serv.count),
                                   NI_NUMERICHOST | NI_NUMERICSERV) == 0
            }
        }
        guard ok else { return "?" }
        return "\(cText(host)):\(cText(serv))"
    }
}
