import Foundation
import StafettModel

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
    /// TLS handshakes under way (a thread each, from a whole ClientHello to the Finished), from all
    /// addresses together; they count against `maxConnections` as well. Until its handshake ends
    /// a connection may be anyone's: without a smaller cap of their own, handshakes could fill
    /// `maxConnections` and lock every authenticated peer out. With it, at least
    /// `maxConnections - maxPendingHandshakes` places stay for peers that have proved who they
    /// are. Connections that have not yet sent a whole ClientHello take no handshake place: they
    /// wait without a thread and give way to any newcomer when every place is taken. At the cap
    /// a newcomer takes the place of a less advanced handshake (see `ConnectionAdmission`), and is
    /// closed at once only when none may give way. Until set, a quarter of `maxConnections`; at
    /// least 1 is used.
    public var maxPendingHandshakes: Int {
        get { pendingHandshakesSet ?? maxConnections / 4 }
        set { pendingHandshakesSet = newValue }
    }
    private var pendingHandshakesSet: Int?
    /// Connections not yet authenticated from one source address (IPv4, or an IPv6 /64), silent
    /// ones included. Keeps one host from taking all of `maxPendingHandshakes`, or every place
    /// silent connections may take, which would make newcomers from everyone else churn; a peer
    /// needs only a few handshakes at a time (one per keep-alive connection it opens). One over it
    /// is closed at once. Default 16; at least 1 is used.
    public var maxPendingHandshakesPerAddress: Int
    /// Authenticated connections one peer organisation may hold; one over it is answered 503
    /// right after its handshake and closed. Keeps one peer (say, one whose requests never
    /// finish) from taking the places all others need. nil: only `maxConnections` applies.
    public var maxConnectionsPerPeer: Int?
    /// listen(2) backlog.
    public var backlog: Int32
    /// The TLS handshake must finish within this.
    public var handshakeTimeout: Duration
    /// A new connection must send its whole ClientHello (its first TLS record) within this; a
    /// real client sends it with its TCP handshake. Until then it has no thread: it waits in the
    /// accept loop's poll set (`HandshakeWaitingRoom`). Clamped to `handshakeTimeout`.
    public var firstByteTimeout: Duration = .seconds(2)
    /// At a full handshake cap, how long a handshake whose ClientHello was answered keeps its
    /// place against a newcomer: long enough for a real client's one round trip, so that a
    /// reconnect storm larger than the cap completes rather than evicting itself.
    public var handshakeGrace: Duration = .milliseconds(250)
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
    /// second, naming the last address and how many more were refused, and a summary line a
    /// second later for those refused after the last such line.
    public var log: (@Sendable (String) -> Void)?

    /// Defaults: 256 connections, of which 64 (a quarter) and 16 from one address may be in
    /// their handshake, 10 s handshake and header, 30 s body and write, 60 s idle.
    public init(host: String = "0.0.0.0", port: UInt16 = 0, maxConnections: Int = 256,
                maxPendingHandshakes: Int? = nil, maxPendingHandshakesPerAddress: Int = 16,
                maxConnectionsPerPeer: Int? = nil, backlog: Int32 = 128,
                handshakeTimeout: Duration = .seconds(10), headerTimeout: Duration = .seconds(10),
                bodyTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(60),
                writeTimeout: Duration = .seconds(30), limits: HTTPLimits = HTTPLimits(),
                log: (@Sendable (String) -> Void)? = nil) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.pendingHandshakesSet = maxPendingHandshakes
        self.maxPendingHandshakesPerAddress = maxPendingHandshakesPerAddress
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
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
    /// Connections closed at once because `maxPendingHandshakes` handshakes were under way.
    public var connectionsRefusedAtPendingCap = 0
    /// Connections closed at once because `maxPendingHandshakesPerAddress` from their source
    /// address were not yet authenticated.
    public var connectionsRefusedAtAddressCap = 0
    /// Authenticated connections closed after their handshake because their peer held
    /// `maxConnectionsPerPeer` already.
    public var connectionsRefusedPerPeer = 0
    /// Connections not yet authenticated closed to make room for a newcomer: silent ones at a full
    /// `maxConnections`, handshakes under way at a full `maxPendingHandshakes`.
    public var pendingHandshakesEvicted = 0
    /// TLS handshakes that failed (untrusted or missing certificate, timeout, protocol error);
    /// evictions are not counted here.
    public var handshakeFailures = 0
    /// Of `handshakeFailures`, connections that sent no whole ClientHello within `firstByteTimeout`.
    public var silentConnectionsClosed = 0
    /// Of `handshakeFailures`, handshakes that did not finish within `handshakeTimeout`.
    public var handshakeTimeouts = 0
    /// Kept-alive connections closed after a reload (`updateTLS`) because their peer's
    /// certificate is no longer trusted; those still trusted stay open.
    public var connectionsClosedAtReload = 0
    /// Requests passed to the handler.
    public var requestsHandled = 0
    /// Requests refused by the transport itself (limits, malformed, too slow).
    public var requestsRefused = 0

    /// Connections closed at once, by reason.
    public var connectionsRefused: [ConnectionRefusal: Int] {
        [.maxConnections: connectionsRefusedAtCap, .handshakes: connectionsRefusedAtPendingCap,
         .perAddress: connectionsRefusedAtAddressCap, .perPeer: connectionsRefusedPerPeer]
    }
}

/// Handles one request from an authenticated peer. Called on the connection's own thread;
/// may block (signing, journal fsync): other connections are unaffected.
public typealias HTTPHandler = @Sendable (HTTPRequest, PeerIdentity) -> HTTPResponse

/// Answers a request whose body is over the limit (target, peer, what was wrong) before the
/// body is read, or nil for the plain 413. The answer is sent with `Connection: close`.
public typealias HTTPOversizeHandler = @Sendable (String, PeerIdentity, String) -> HTTPResponse?

/// An HTTP/1.1 server over mutual TLS (or, for `/metrics`, plain TCP on loopback).
///
/// One thread per connection up to `maxConnections`, blocking I/O with poll(2) deadlines. A TLS
/// connection gets its thread once its ClientHello is in; until then the accept loop holds it.
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
    // Live connections by fd, which is safe because an fd leaves the books (in `finished`)
    // before its socket is closed.
    private var books = ConnectionAdmission()
    private var refusalLog = RefusalLog()

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
    /// now on use the new context; an open keep-alive connection has its peer's certificate
    /// checked again under the new trust before its next request (see `acceptsRequests(on:)`):
    /// it stays open while still trusted, and is closed when the reload removed the peer or its
    /// pin or revoked its certificate.
    public func updateTLS(_ context: TLSServerContext) {
        state.lock()
        defer { state.unlock() }
        if tls != nil { tls = context }
    }

    /// Whether `channel`'s peer is trusted under the current TLS context (always for plain ones).
    /// A connection from before a reload is checked again once: a peer whose certificate the new
    /// trust still accepts as the same organisation keeps its connection (a routine CRL refresh
    /// must not make every peer reconnect). One it no longer accepts answers the request it is in
    /// and is then closed without reading another: the client's next request comes on a new
    /// connection, through a handshake under the trust now configured (clients retry a request
    /// that a closing keep-alive connection never read, as `HTTPClient` does).
    func acceptsRequests(on channel: Channel) -> Bool {
        guard channel.context != nil else { return true }
        state.lock()
        let current = tls?.context
        state.unlock()
        guard let current, channel.trustedUnder !== current else { return true }
        if channel.stillTrusted(under: current) { return true }
        count { $0.connectionsClosedAtReload += 1 }
        configuration.log?("connection from \(channel.peerIdentity?.description ?? "?") closed: its certificate is no longer trusted after a reload")
        return false
    }

    /// Counters since start.
    public var statistics: HTTPServerStatistics {
        state.lock()
        defer { state.unlock() }
        return books.stats
    }

    func count(_ update: (inout HTTPServerStatistics) -> Void) {
        state.lock()
        update(&books.stats)
        state.unlock()
    }

    /// Number of connections being served now, including those still in their handshake.
    public var activeConnections: Int {
        state.lock()
        defer { state.unlock() }
        return books.connections.count
    }

    /// Number of connections not yet authenticated: silent ones waiting for their ClientHello
    /// and those with a handshake under way.
    public var pendingHandshakes: Int {
        state.lock()
        defer { state.unlock() }
        return books.pendingCount
    }

    /// Number of handshakes under way (each holding a handshake place and a thread).
    public var handshakesUnderWay: Int {
        state.lock()
        defer { state.unlock() }
        return books.underWayCount
    }

    /// Number of handshakes whose ClientHello the server has answered.
    var handshakesAnswered: Int {
        state.lock()
        defer { state.unlock() }
        return books.answeredCount
    }

    /// Number of authenticated connections `peer` holds now.
    public func connections(of peer: OrganisationNumber) -> Int {
        state.lock()
        defer { state.unlock() }
        return books.held(by: peer)
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
        while !books.connections.isEmpty {
            if let limit {
                if !state.wait(until: limit) {
                    for fd in books.connections { shutdown(fd, Int32(SHUT_RDWR)) }
                    while !books.connections.isEmpty { state.wait() }
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
        // TLS connections wait here, in this loop's poll set, until their ClientHello is in.
        var room = HandshakeWaitingRoom()
        defer {
            for fd in Array(room.held) {
                room.release(fd)
                finished(fd)
                close(fd)
            }
            close(listenFD)
            state.lock()
            acceptLoopDone = true
            state.broadcast()
            state.unlock()
        }
        let never = Deadline(nanoseconds: UInt64.max)
        while true {
            // While refusals wait for their summary line, wake for it even when no one connects.
            state.lock()
            let summaryDue = refusalLog.summaryDue
            state.unlock()
            let woken: (accept: Bool, left: [(fd: Int32, verdict: HandshakeWaitingRoom.Verdict, handshakeBy: Deadline)])
            do { woken = try room.wait(listenFD: listenFD, wakeFD: wakeRead, until: summaryDue ?? never) } catch {
                if case .system = error { usleep(10_000); continue }  // EMFILE and friends: back off
                return  // stopped
            }
            for (fd, verdict, handshakeBy) in woken.left { leaveWaitingRoom(fd, verdict, handshakeBy: handshakeBy) }
            if woken.accept { acceptWaiting(into: &room) }
            state.lock()
            let line = refusalLog.summary()
            state.unlock()
            if let line { configuration.log?(line) }
        }
    }

    /// Accepts the connections waiting in the listen queue (a bounded number, so that held
    /// connections and the stop signal are looked at between rounds of a flood). Each round costs
    /// a poll over every held connection, so the bound is large: a full listen queue drops a real
    /// peer's SYN, which TCP sends again only a second later (with 64 a round, the flood benchmark
    /// kept the queue full often enough for a p99 of 1 s; with 512 and a backlog of 4 096, which
    /// the daemon now uses too, 53–67 ms in 5 of 5 runs).
    private func acceptWaiting(into room: inout HandshakeWaitingRoom) {
        for _ in 0..<512 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listenFD, $0, &length) }
            }
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000) }
                return  // EAGAIN: the queue is empty
            }
            Socket.setNonBlocking(fd)
            let source = Socket.sourceAddress(&storage, length: length) ?? "?"
            // One waiting in the room that gives way has no thread to notice a shutdown: it is closed here.
            var displaced: Int32?
            state.lock()
            let handshakes = tls != nil
            let refusal: ConnectionRefusal? = stopping ? .maxConnections : books.admit(
                fd, from: source, handshakes: handshakes, configuration, hasSpoken: HTTPServer.hasBytesWaiting,
                displace: { displaced = $0 })
            let line = stopping ? nil : refusal.flatMap { refusalLog.line(for: $0, from: source, configuration) }
            state.unlock()
            if let displaced {
                room.release(displaced)
                Socket.abort(displaced)
            }
            if let line { configuration.log?(line) }
            guard refusal == nil else {
                close(fd)
                continue
            }
            guard handshakes else {
                startThread(for: fd, handshakeDeadline: Deadline(nanoseconds: UInt64.max))
                continue
            }
            let handshakeBy = Deadline.after(configuration.handshakeTimeout)
            if let verdict = room.admit(fd, .init(firstRecordBy: min(handshakeBy, .after(configuration.firstByteTimeout)), handshakeBy: handshakeBy)) {
                leaveWaitingRoom(fd, verdict, handshakeBy: handshakeBy)
            }
        }
    }

    /// A connection leaves the waiting room: to a thread for its handshake, or closed.
    private func leaveWaitingRoom(_ fd: Int32, _ verdict: HandshakeWaitingRoom.Verdict, handshakeBy: Deadline) {
        switch verdict {
        case .ready:
            state.lock()
            let refusal = books.startHandshake(fd, configuration) { shutdown($0, Int32(SHUT_RDWR)) }
            if refusal != nil { books.finished(fd) }
            let line = refusal.flatMap { refusalLog.line(for: $0, from: Self.peerAddress(fd), configuration) }
            state.unlock()
            if let line { configuration.log?(line) }
            guard refusal == nil else {
                close(fd)
                return
            }
            startThread(for: fd, handshakeDeadline: handshakeBy)
        case .closed:
            handshakeFailed(fd, "TLS handshake with \(Self.peerAddress(fd)) failed: connection closed")
        case let .expired(spoke):
            count { $0.silentConnectionsClosed += 1 }
            handshakeFailed(fd, "connection from \(Self.peerAddress(fd)) closed: it sent \(spoke ? "no whole ClientHello" : "nothing") within \(configuration.firstByteTimeout)")
        }
    }

    private func handshakeFailed(_ fd: Int32, _ line: String) {
        count { $0.handshakeFailures += 1 }
        configuration.log?(line)
        finished(fd)
        close(fd)
    }

    private func startThread(for fd: Int32, handshakeDeadline: Deadline) {
        Socket.setNoDelay(fd)
        let thread = Thread { [self] in serve(fd, handshakeDeadline: handshakeDeadline) }
        thread.name = "stafett-conn"
        thread.start()
    }

    /// Whether a connection has bytes (or its end) waiting to be read, without reading them.
    static func hasBytesWaiting(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }

    private func advance(_ fd: Int32, to progress: HandshakeProgress) {
        state.lock()
        books.advance(fd, to: progress)
        state.unlock()
    }

    /// Takes `fd` out of the books; says whether it had been evicted to make room.
    @discardableResult
    private func finished(_ fd: Int32) -> Bool {
        state.lock()
        let evicted = books.finished(fd)
        state.broadcast()
        state.unlock()
        return evicted
    }

    private func serve(_ fd: Int32, handshakeDeadline: Deadline) {
        let channel: Channel
        state.lock()
        let tls = self.tls
        state.unlock()
        if let tls {
            guard let authenticated = authenticate(fd, under: tls, until: handshakeDeadline) else { return }
            channel = authenticated
        } else {
            channel = Channel(plain: fd)
        }
        // The fd leaves the set before it is closed, so a forced stop never shuts down a reused number.
        var handler = ConnectionHandler(server: self, channel: channel, remoteAddress: Self.peerAddress(fd))
        handler.run()
        finished(fd)
        channel.close()
    }

    /// Runs the TLS handshake of a pending connection and takes its peer into the books; nil when
    /// the connection was closed instead (it has then left the books).
    private func authenticate(_ fd: Int32, under tls: TLSServerContext, until deadline: Deadline) -> Channel? {
        let channel: Channel
        do { channel = try Channel(tls: fd, context: tls.context) } catch {
            finished(fd)
            Glibc.close(fd)
            return nil
        }
        // A stop does not wait for handshakes: like an idle keep-alive connection, one has
        // no request in flight.
        do throws(IOFailure) {
            try channel.handshake(until: deadline, wakeFD: wakeRead) { [self] in advance(fd, to: .answered) }
        } catch {
            if error != .stopped, !wasEvicted(fd) {  // neither is a failure of the peer's
                count { stats in
                    stats.handshakeFailures += 1
                    if error == .timedOut { stats.handshakeTimeouts += 1 }
                }
                configuration.log?("TLS handshake with \(Self.peerAddress(fd)) failed: \(Self.describe(error))")
                // A TLS 1.3 client believes the handshake done and has sent its request already;
                // closing with that unread would reset the connection before it reads our alert.
                switch error {
                case .tls, .untrusted: channel.linger(maxBytes: configuration.limits.maxBodyBytes, for: .milliseconds(500))
                default: break
                }
            }
            // Out of the set before the number is released, as in `serve`.
            finished(fd)
            channel.close()
            return nil
        }
        guard let peer = channel.peerIdentity else { return channel }  // the handshake refuses a peer without one
        state.lock()
        let refusal = books.authenticated(fd, as: peer.organisation, configuration)
        let line = refusal.flatMap { refusalLog.line(for: $0, from: "\(Self.peerAddress(fd)) (\(peer.organisation))", configuration) }
        state.unlock()
        if let line { configuration.log?(line) }
        guard refusal != nil else { return channel }
        // Answered before its request is read: a sender sees why, rather than a bare close, and
        // retries later as after any 503.
        var busy = HTTPResponse.text(503, "organisation \(peer.organisation) already holds \(configuration.maxConnectionsPerPeer ?? 0) connections",
                                     closeConnection: true)
        busy.headers.add("Retry-After", "1")
        try? channel.write(HTTPParser.serialize(busy, close: true), until: .after(configuration.writeTimeout))
        channel.linger(maxBytes: configuration.limits.maxBodyBytes, for: .milliseconds(500))
        finished(fd)
        channel.close()
        return nil
    }

    private func wasEvicted(_ fd: Int32) -> Bool {
        state.lock()
        defer { state.unlock() }
        return books.evicted.contains(fd)
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
