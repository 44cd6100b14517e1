import Foundation

/// A point on the monotonic clock by which an operation must finish.
struct Deadline: Sendable, Comparable {
    var nanoseconds: UInt64

    static func now() -> Deadline {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Deadline(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    static func after(_ d: Duration) -> Deadline {
        Deadline(nanoseconds: now().nanoseconds + span(d))
    }

    /// `d` in nanoseconds, clamped to ~30 years so that "practically never" cannot overflow.
    static func span(_ d: Duration) -> UInt64 {
        let (s, atto) = d.components
        return UInt64(min(max(0, s), 1 << 30)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }

    /// Milliseconds left, rounded up, for poll(2); 0 once passed.
    var remainingMilliseconds: Int32 {
        let n = Deadline.now().nanoseconds
        guard nanoseconds > n else { return 0 }
        return Int32(min(UInt64(Int32.max), (nanoseconds - n) / 1_000_000 + 1))
    }

    var hasPassed: Bool { Deadline.now().nanoseconds >= nanoseconds }

    static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}

/// Why a socket operation stopped. Mapped to `TransportError` (client) or a close (server).
enum IOFailure: Error, Equatable {
    case timedOut
    /// Orderly or abrupt end of the stream (EOF, close_notify, reset).
    case closed
    /// The server's stop signal fired while waiting for a new request.
    case stopped
    case system(Int32)
    /// A TLS protocol failure; `alert` is the alert the peer sent, when it sent one.
    case tls(reason: String, alert: String?)
    /// Our verification refused the peer's certificate.
    case untrusted(String)
    /// The host name did not resolve.
    case unresolvable(String)
    /// The peer's HTTP was malformed or over a limit.
    case protocolViolation(String)
}

enum Socket {
    static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// Closes with a reset rather than a FIN: the socket is freed at once, with no closing
    /// handshake and no lingering state. For connections shed in a flood, which would otherwise
    /// cost the server a closing exchange each.
    static func abort(_ fd: Int32) {
        var hard = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Waits until `fd` is ready for `events`, the deadline passes, or `wakeFD` becomes readable.
    static func wait(_ fd: Int32, for events: Int16, until deadline: Deadline, wakeFD: Int32 = -1) throws(IOFailure) {
        var fds = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        let count: nfds_t = wakeFD >= 0 ? 2 : 1
        while true {
            let ms = deadline.remainingMilliseconds
            if ms == 0 { throw .timedOut }
            let r = poll(&fds, count, ms)
            if r < 0 {
                if errno == EINTR { continue }
                throw .system(errno)
            }
            if r == 0 { continue }  // re-check the deadline
            if wakeFD >= 0, fds[1].revents != 0 { throw .stopped }
            if fds[0].revents != 0 { return }  // readable, writable, HUP or ERR: the next call tells
        }
    }

    /// The numeric host of an accepted peer's address, for counting connections per source.
    /// An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`; it is counted as
    /// `a.b.c.d`, the same host as when it reaches an IPv4 listener.
    static func sourceAddress(_ storage: inout sockaddr_storage, length: socklen_t) -> String? {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let rc = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
            }
        }
        guard rc == 0 else { return nil }
        let text = cText(host)
        if text.hasPrefix("::ffff:"), text.contains(".") { return String(text.dropFirst(7)) }
        return text
    }

    /// The block a source address is counted under for per-address limits: an IPv4 address as
    /// it is, an IPv6 address by its /64, since one host is routinely given a whole /64 and could
    /// otherwise take a new address per connection.
    static func addressBlock(of source: String) -> String {
        guard source.contains(":") else { return source }
        var raw = in6_addr()
        guard inet_pton(AF_INET6, source, &raw) == 1 else { return source }
        let bytes = withUnsafeBytes(of: raw) { Array($0.prefix(8)) }
        return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":") + "::/64"
    }

    /// Resolves `host:port` (numeric or name) to socket addresses.
    static func resolve(host: String, port: UInt16, passive: Bool) throws(IOFailure) -> [(family: Int32, address: Data)] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        if passive { hints.ai_flags = AI_PASSIVE }
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw .unresolvable("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var out: [(Int32, Data)] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let a = p {
            out.append((a.pointee.ai_family, Data(bytes: a.pointee.ai_addr, count: Int(a.pointee.ai_addrlen))))
            p = a.pointee.ai_next
        }
        return out
    }

    /// Opens a listening socket; returns it and the bound port (useful when asked for port 0).
    static func listen(host: String, port: UInt16, backlog: Int32) throws(TransportError) -> (fd: Int32, port: UInt16) {
        let where_ = "\(host):\(port)"
        let addrs: [(family: Int32, address: Data)]
        do { addrs = try resolve(host: host, port: port, passive: true) } catch {
            throw .listen(address: where_, reason: "cannot resolve host")
        }
        var lastError: Int32 = 0
        for a in addrs {
            let fd = socket(a.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastError = errno; continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let ok = a.address.withUnsafeBytes { raw in
                bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)) == 0
                    && Glibc.listen(fd, backlog) == 0
            }
            if !ok { lastError = errno; close(fd); continue }
            setNonBlocking(fd)
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let bound: UInt16 = withUnsafeMutablePointer(to: &storage) { p in
                _ = p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
                if p.pointee.ss_family == sa_family_t(AF_INET6) {
                    return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                }
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
            return (fd, bound)
        }
        throw .listen(address: where_, reason: errnoText(lastError))
    }

    /// Connects with a deadline, from the numeric address `source` when given; the socket comes
    /// back non-blocking with TCP_NODELAY.
    static func connect(host: String, port: UInt16, from source: String? = nil, deadline: Deadline) throws(IOFailure) -> Int32 {
        var lastFailure = IOFailure.system(ECONNREFUSED)
        var sources: [(family: Int32, address: Data)] = []
        if let source { sources = try resolve(host: source, port: 0, passive: false) }
        for a in try resolve(host: host, port: port, passive: false) {
            let local = sources.first { $0.family == a.family }
            if source != nil && local == nil { continue }
            let fd = socket(a.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastFailure = .system(errno); continue }
            if let local, local.address.withUnsafeBytes({ raw in
                bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }) != 0 {
                lastFailure = .system(errno)
                close(fd)
                continue
            }
            setNonBlocking(fd)
            setNoDelay(fd)
            let rc = a.address.withUnsafeBytes { raw in
                Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
            if rc == 0 { return fd }
            guard errno == EINPROGRESS else { lastFailure = .system(errno); close(fd); continue }
            do {
                try wait(fd, for: Int16(POLLOUT), until: deadline)
            } catch {
                close(fd)
                lastFailure = error
                if case .timedOut = error { throw error }
                continue
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            if soError == 0 { return fd }
            lastFailure = .system(soError)
            close(fd)
        }
        throw lastFailure
    }
}
