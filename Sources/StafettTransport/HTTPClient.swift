import Foundation

/// Where and how an `HTTPClient` connects.
public struct HTTPClientConfiguration: Sendable {
    /// Host name or address of the peer.
    public var host: String
    /// Port.
    public var port: UInt16
    /// Keep-alive connections kept and used in parallel; a `send` beyond that waits for one.
    public var maxConnections: Int
    /// TCP connect deadline.
    public var connectTimeout: Duration
    /// TLS handshake deadline.
    public var handshakeTimeout: Duration
    /// Deadline for one exchange: waiting for a free connection, writing the request and
    /// reading the whole response.
    public var requestTimeout: Duration
    /// A pooled connection unused for longer is closed instead of reused (keep it below the
    /// server's idle timeout, which is 60 s for Stafett).
    public var maxIdle: Duration
    /// Limits on the response.
    public var limits: HTTPLimits
    /// Numeric local address to connect from; nil lets the kernel choose. A benchmark that plays
    /// many organisations on loopback gives each its own, as each has its own address in reality.
    public var sourceAddress: String?

    /// Defaults: 4 connections, 5 s connect, 10 s handshake, 30 s per request, 30 s idle.
    public init(host: String, port: UInt16, maxConnections: Int = 4, connectTimeout: Duration = .seconds(5),
                handshakeTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(30),
                maxIdle: Duration = .seconds(30), limits: HTTPLimits = HTTPLimits(), sourceAddress: String? = nil) {
        self.host = host
        self.port = port
        self.maxConnections = max(1, maxConnections)
        self.connectTimeout = connectTimeout
        self.handshakeTimeout = handshakeTimeout
        self.requestTimeout = requestTimeout
        self.maxIdle = maxIdle
        self.limits = limits
        self.sourceAddress = sourceAddress
    }

    var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// HTTP/1.1 client for one peer, over mutual TLS, with a small pool of keep-alive connections.
///
/// The server must prove it is the organisation in `TLSClientContext.serverTrust` (pin or
/// CA + organisation number); host names are not checked, organisation numbers are.
///
/// Retry: a request that fails on a reused keep-alive connection before any byte of the
/// response arrived (the server had closed it meanwhile) is sent once more on a fresh
/// connection. That can deliver a request twice when the server did receive it; Stafett's
/// POST of a message is idempotent because the receiver deduplicates by message id.
/// Timeouts are never retried here: the caller's back-off decides.
public final class HTTPClient: @unchecked Sendable {
    /// Where it connects.
    public let configuration: HTTPClientConfiguration
    /// `host:port` (bracketed for IPv6), for the Host header and errors: formatted once, not per request.
    private let address: String
    private let tls: TLSClientContext?
    private let pool = NSCondition()
    private var idle: [PooledConnection] = []
    private var inUse = 0
    private var closed = false
    private var opened = 0

    /// A client over mutual TLS; `tls` nil makes a plain-HTTP client (for loopback `/metrics`).
    public init(configuration: HTTPClientConfiguration, tls: TLSClientContext?) {
        self.configuration = configuration
        address = configuration.address
        self.tls = tls
    }

    deinit { close() }

    /// Connections opened so far (each one a TCP connect and a TLS handshake).
    public var connectionsOpened: Int {
        pool.lock()
        defer { pool.unlock() }
        return opened
    }

    /// Closes idle connections and refuses further sends; in-flight sends finish.
    public func close() {
        pool.lock()
        closed = true
        let drop = idle
        idle.removeAll()
        pool.broadcast()
        pool.unlock()
        for c in drop { c.channel.close() }
    }

    private var peerLabel: String? { tls?.serverTrust.organisation.description }

    private func context(_ phase: TransportPhase) -> TransportContext {
        TransportContext(peer: peerLabel, address: address, phase: phase)
    }

    /// Sends one request and returns the response (any status: 4xx and 5xx are answers,
    /// not errors). Adds `Host` and `Content-Length`.
    public func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
        guard let bytes = HTTPParser.serialize(request, host: address) else {
            throw .invalidRequest("\(request.method) \(request.target): the method must be a token, the target a path without spaces or controls, header values without CR, LF or NUL")
        }
        let deadline = Deadline.after(configuration.requestTimeout)
        var fresh = false
        while true {
            let connection = try acquire(fresh: fresh, deadline: deadline)
            var exchange = Exchange(connection: connection, limits: configuration.limits, deadline: deadline)
            do {
                let (response, reusable) = try exchange.run(bytes, isHEAD: request.method == "HEAD")
                release(connection, reusable: reusable)
                return response
            } catch {
                release(connection, reusable: false)
                if connection.reused, !fresh, !exchange.responseStarted, Self.isStale(error) {
                    fresh = true  // the keep-alive connection had died under us: once more, new
                    continue
                }
                throw map(error, phase: exchange.phase, freshConnection: !connection.reused)
            }
        }
    }

    static func isStale(_ e: IOFailure) -> Bool {
        switch e {
        case .closed: return true
        case let .system(code): return code == ECONNRESET || code == EPIPE
        default: return false
        }
    }

    private func map(_ e: IOFailure, phase: TransportPhase, freshConnection: Bool) -> TransportError {
        switch e {
        case .timedOut: return .timedOut(context(phase))
        case .closed, .stopped: return .connectionClosed(context(phase))
        case let .system(code): return .network(context(phase), reason: Socket.errnoText(code))
        case let .untrusted(reason): return .untrustedPeer(context(.handshake), reason: reason)
        case let .unresolvable(why): return .network(context(.connect), reason: why)
        case let .protocolViolation(why): return .invalidResponse(context(phase), reason: why)
        case let .tls(reason, alert):
            // TLS 1.3: a server refusing our certificate says so only on our first read.
            let p: TransportPhase = freshConnection && alert != nil && phase == .read ? .handshake : phase
            return .tls(context(p), reason: reason, alert: alert)
        }
    }

    private func acquire(fresh: Bool, deadline: Deadline) throws(TransportError) -> PooledConnection {
        pool.lock()
        while true {
            if closed {
                pool.unlock()
                throw .closed(address: address)
            }
            if !fresh, let c = idle.popLast() {
                inUse += 1
                pool.unlock()
                if c.lastUsed.nanoseconds + Self.nanoseconds(configuration.maxIdle) > Deadline.now().nanoseconds,
                   !c.channel.isReadableWhileIdle() {
                    c.reused = true
                    return c
                }
                c.channel.close()  // the server closed it, or it is older than the server would keep it
                pool.lock()
                inUse -= 1
                continue
            }
            if inUse + idle.count < configuration.maxConnections || (fresh && !idle.isEmpty) {
                if fresh, inUse + idle.count >= configuration.maxConnections, let old = idle.popLast() {
                    old.channel.close()
                }
                inUse += 1
                opened += 1
                pool.unlock()
                do { return try connect() } catch {
                    pool.lock()
                    inUse -= 1
                    pool.signal()
                    pool.unlock()
                    throw error
                }
            }
            let ms = deadline.remainingMilliseconds
            if ms == 0 {
                pool.unlock()
                throw .timedOut(context(.connect))
            }
            _ = pool.wait(until: Date().addingTimeInterval(Double(ms) / 1000))
        }
    }

    private func release(_ c: PooledConnection, reusable: Bool) {
        c.lastUsed = .now()
        pool.lock()
        inUse -= 1
        let keep = reusable && !closed
        if keep { idle.append(c) }
        pool.signal()
        pool.unlock()
        if !keep { c.channel.close() }
    }

    private func connect() throws(TransportError) -> PooledConnection {
        let fd: Int32
        do {
            fd = try Socket.connect(host: configuration.host, port: configuration.port, from: configuration.sourceAddress,
                                    deadline: .after(configuration.connectTimeout))
        } catch { throw map(error, phase: .connect, freshConnection: true) }
        guard let tls else { return PooledConnection(Channel(plain: fd)) }
        do throws(IOFailure) {
            let channel: Channel
            do { channel = try Channel(tls: fd, context: tls.context) } catch { Glibc.close(fd); throw error }
            channel.setServerName(configuration.host)
            do { try channel.handshake(until: .after(configuration.handshakeTimeout)) } catch {
                channel.close()
                throw error
            }
            return PooledConnection(channel)
        } catch { throw map(error, phase: .handshake, freshConnection: true) }
    }

    static func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, atto) = d.components
        return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }
}

/// A connection in (or taken from) the pool.
final class PooledConnection: @unchecked Sendable {
    let channel: Channel
    var buffer = ByteBuffer(capacity: 16 * 1024)
    var lastUsed = Deadline.now()
    var reused = false

    init(_ channel: Channel) { self.channel = channel }
}

/// One request/response on one connection; remembers how far it got.
struct Exchange {
    let connection: PooledConnection
    let limits: HTTPLimits
    let deadline: Deadline
    var phase = TransportPhase.write
    var responseStarted = false

    init(connection: PooledConnection, limits: HTTPLimits, deadline: Deadline) {
        self.connection = connection
        self.limits = limits
        self.deadline = deadline
    }

    /// Returns the response and whether the connection may carry another request.
    mutating func run(_ bytes: [UInt8], isHEAD: Bool) throws(IOFailure) -> (HTTPResponse, Bool) {
        let channel = connection.channel
        do { try channel.write(bytes, until: deadline) } catch {
            // The server may have answered (413, say) or sent a TLS alert (our certificate
            // refused) and closed before reading everything: that answer says more.
            guard case .closed = error else { throw error }
            do {
                let answer = try readResponse(isHEAD: isHEAD)
                return (answer.0, false)
            } catch {
                if case .tls = error { throw error }
            }
            phase = .write
            throw error
        }
        phase = .read
        return try readResponse(isHEAD: isHEAD)
    }

    private mutating func readResponse(isHEAD: Bool) throws(IOFailure) -> (HTTPResponse, Bool) {
        phase = .read
        let channel = connection.channel
        while true {
            var scanFrom = 0
            var head: ResponseHead?
            while head == nil {
                let limits = self.limits
                switch connection.buffer.withReadableBytes({ HTTPParser.scanResponse($0, scanFrom: &scanFrom, limits: limits) }) {
                case let .complete(h, headLength):
                    head = h
                    connection.buffer.consume(headLength)
                case let .refused(r):
                    throw .protocolViolation(r.message)
                case .incomplete:
                    try connection.buffer.fill(from: channel, until: deadline)
                    responseStarted = true
                }
            }
            guard let head else { continue }
            if head.status < 200 { continue }  // 100 Continue and friends: the real answer follows
            var reusable = !head.wantsClose
            let body: Data
            if isHEAD {
                body = Data()
            } else if let length = head.contentLength {
                while connection.buffer.readable < length {
                    try connection.buffer.fill(from: channel, atLeast: min(length - connection.buffer.readable, 256 * 1024),
                                               until: deadline)
                }
                body = connection.buffer.take(length)
            } else {
                reusable = false  // the body runs to the close
                while true {
                    do { try connection.buffer.fill(from: channel, until: deadline) } catch {
                        if case .closed = error { break }
                        throw error
                    }
                    if connection.buffer.readable > limits.maxBodyBytes {
                        throw .protocolViolation("body exceeds \(limits.maxBodyBytes) bytes")
                    }
                }
                body = connection.buffer.take(connection.buffer.readable)
            }
            if !connection.buffer.isEmpty { reusable = false }  // bytes nobody asked for
            return (HTTPResponse(status: head.status, reason: head.reason, headers: head.headers, body: body), reusable)
        }
    }
}
