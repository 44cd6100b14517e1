import COpenSSL
import CShims
import Foundation

/// One connection's byte stream, TLS or plain, over a non-blocking socket. Every call takes
/// a deadline and waits with poll(2), so a thread never blocks past it. Confined to one thread.
final class Channel {
    let fd: Int32
    private let ssl: OpaquePointer?
    /// The context it was made under: keeps the SSL_CTX and its trust evaluator alive, and tells
    /// the server whether a reload has replaced it since (`HTTPServer.acceptsRequests(on:)`).
    let context: SSLContext?
    /// The server context whose trust last accepted the peer: `context` after the handshake, a
    /// newer one once a reload's trust has accepted the peer again (`stillTrusted(under:)`).
    private(set) var trustedUnder: SSLContext?
    private let outcome = VerificationOutcome()
    private var usable = true  // false after a fatal TLS error: no close_notify then
    private var closed = false

    /// A plain TCP stream.
    init(plain fd: Int32) {
        self.fd = fd
        ssl = nil
        context = nil
    }

    /// A TLS stream; call `handshake` next.
    init(tls fd: Int32, context: SSLContext) throws(IOFailure) {
        self.fd = fd
        self.context = context
        trustedUnder = context
        // On failure the socket stays open: its owner closes it (the server only after taking it
        // out of its connection set, so a forced stop never shuts down a reused number).
        guard let ssl = SSL_new(context.pointer) else {
            closed = true
            throw .tls(reason: "SSL_new: \(openSSLErrorText())", alert: nil)
        }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        SSL_set_ex_data(ssl, verificationOutcomeIndex, Unmanaged.passUnretained(outcome).toOpaque())
        if context.isServer { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
    }

    deinit { close() }

    var sslHandle: OpaquePointer? { ssl }

    /// Whether this is a TLS stream.
    var isTLS: Bool { ssl != nil }

    /// The authenticated peer, after a successful handshake.
    var peerIdentity: PeerIdentity? { outcome.identity }

    /// Runs the TLS handshake (a no-op for plain streams). `wakeFD` (the server's stop pipe)
    /// interrupts the wait with `.stopped`. `answered` is called once, when we have sent our
    /// first flight and wait for the other side's: for a server, a complete ClientHello came.
    func handshake(until deadline: Deadline, wakeFD: Int32 = -1, answered: (() -> Void)? = nil) throws(IOFailure) {
        guard let ssl else { return }
        var unanswered = answered
        while true {
            ERR_clear_error()
            let r = SSL_do_handshake(ssl)
            if let call = unanswered, BIO_number_written(SSL_get_wbio(ssl)) > 0 {
                unanswered = nil
                call()
            }
            if r == 1 {
                guard outcome.identity != nil else {
                    usable = false
                    throw .untrusted(outcome.failure ?? "the peer presented no certificate")
                }
                return
            }
            do { try await_(SSL_get_error(ssl, r), deadline: deadline, wakeFD: wakeFD) } catch {
                if let reason = outcome.failure { usable = false; throw .untrusted(reason) }
                throw error
            }
        }
    }

    /// Whether the peer's certificate (with the chain it sent) is accepted under `context`'s
    /// trust as the same organisation as at the handshake; remembered when it is. For a server's
    /// kept-alive connections after a reload.
    func stillTrusted(under context: SSLContext) -> Bool {
        guard let ssl, let identity = outcome.identity else { return false }
        guard case let .success(again) = context.evaluator.evaluate(leaf: identity.certificate.pointer,
                                                                     untrusted: SSL_get_peer_cert_chain(ssl)),
              again.organisation == identity.organisation else { return false }
        trustedUnder = context
        return true
    }

    /// Reads at least one byte into `buffer`; throws `.closed` at end of stream.
    /// `wakeFD` (the server's stop pipe) interrupts the wait with `.stopped`.
    func read(into buffer: UnsafeMutableRawBufferPointer, until deadline: Deadline, wakeFD: Int32 = -1) throws(IOFailure) -> Int {
        let size = Int32(clamping: buffer.count)
        if let ssl {
            while true {
                ERR_clear_error()
                let n = SSL_read(ssl, buffer.baseAddress, size)
                if n > 0 { return Int(n) }
                try await_(SSL_get_error(ssl, n), deadline: deadline, wakeFD: wakeFD)
            }
        }
        while true {
            let n = recv(fd, buffer.baseAddress, Int(size), 0)
            if n > 0 { return n }
            if n == 0 { throw .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try Socket.wait(fd, for: Int16(POLLIN), until: deadline, wakeFD: wakeFD)
            case ECONNRESET: throw .closed
            default: throw .system(errno)
            }
        }
    }

    /// Writes all of `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer, until deadline: Deadline) throws(IOFailure) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            if let ssl {
                ERR_clear_error()
                let n = SSL_write(ssl, p, Int32(clamping: left))
                if n > 0 { p += Int(n); left -= Int(n); continue }
                try await_(SSL_get_error(ssl, n), deadline: deadline, wakeFD: -1)
            } else {
                let n = send(fd, p, left, Int32(MSG_NOSIGNAL))
                if n >= 0 { p += n; left -= n; continue }
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: try Socket.wait(fd, for: Int16(POLLOUT), until: deadline)
                case ECONNRESET, EPIPE: throw .closed
                default: throw .system(errno)
                }
            }
        }
    }

    func write(_ bytes: [UInt8], until deadline: Deadline) throws(IOFailure) {
        let result: Result<Void, IOFailure> = bytes.withUnsafeBytes { raw in
            do throws(IOFailure) { try write(raw, until: deadline); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// True when an idle connection has something to read: data the peer should not have sent,
    /// or (usually) its close. Either way the connection must not be reused.
    func isReadableWhileIdle() -> Bool {
        if let ssl, SSL_pending(ssl) > 0 { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) != 0
    }

    /// Stops further sending and discards what the peer still sends for a moment, so that a
    /// final error response is not destroyed by a TCP reset caused by unread request bytes.
    /// Leaves the socket open: its owner closes it (see `HTTPServer.serve`).
    func linger(maxBytes: Int, for duration: Duration) {
        sendCloseNotify()
        shutdown(fd, Int32(SHUT_WR))
        let deadline = Deadline.after(duration)
        var scratch = [UInt8](repeating: 0, count: 16384)
        var discarded = 0
        while discarded < maxBytes {
            do { try Socket.wait(fd, for: Int16(POLLIN), until: deadline) } catch { break }
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { discarded += n; continue }
            if n < 0, errno == EINTR || errno == EAGAIN { continue }
            break
        }
    }

    /// Sends close_notify (best effort, never waits), frees the TLS state and closes the socket.
    func close() {
        guard !closed else { return }
        closed = true
        sendCloseNotify()
        if let ssl { SSL_free(ssl) }
        Glibc.close(fd)
    }

    private func sendCloseNotify() {
        guard let ssl, usable, SSL_is_init_finished(ssl) == 1 else { return }
        usable = false
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Turns an `SSL_get_error` code into a wait (retry) or a failure.
    private func await_(_ code: Int32, deadline: Deadline, wakeFD: Int32) throws(IOFailure) {
        switch code {
        case SSL_ERROR_WANT_READ:
            try Socket.wait(fd, for: Int16(POLLIN), until: deadline, wakeFD: wakeFD)
        case SSL_ERROR_WANT_WRITE:
            try Socket.wait(fd, for: Int16(POLLOUT), until: deadline, wakeFD: wakeFD)
        case SSL_ERROR_ZERO_RETURN:
            throw .closed
        case SSL_ERROR_SYSCALL:
            usable = false
            let e = errno
            let queued = ERR_peek_error()
            if queued != 0 { throw tlsFailure() }
            if e == 0 || e == ECONNRESET || e == EPIPE { throw .closed }
            throw .system(e)
        default:
            usable = false
            throw tlsFailure()
        }
    }

    /// The queued OpenSSL error as a failure, with the alert name split out.
    private func tlsFailure() -> IOFailure {
        let code = ERR_get_error()
        ERR_clear_error()
        if ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING { return .closed }
        var reason = "unknown TLS error"
        if let r = ERR_reason_error_string(code) { reason = String(cString: r) }
        var alert: String?
        if let range = reason.range(of: "alert ") { alert = String(reason[range.upperBound...]) }
        if let ssl, alert == nil, SSL_get_verify_result(ssl) != X509_V_OK {
            if let failure = outcome.failure { return .untrusted(failure) }
            reason += ": " + String(cString: X509_verify_cert_error_string(SSL_get_verify_result(ssl)))
        }
        return .tls(reason: reason, alert: alert)
    }
}

extension Channel {
    /// Sends SNI for a host name (not for an IP literal); call before `handshake`.
    func setServerName(_ host: String) {
        guard let ssl = sslHandle else { return }
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 { return }
        _ = stafett_ssl_set_tlsext_host_name(ssl, host)
    }
}
