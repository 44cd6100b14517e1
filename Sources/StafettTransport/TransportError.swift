import Foundation

/// Where in a connection's life a failure happened.
public enum TransportPhase: String, Sendable, Hashable {
    /// Resolving the address and establishing the TCP connection.
    case connect
    /// The TLS handshake, including certificate verification on either side. In TLS 1.3 a
    /// client whose certificate the server refuses only learns it on its first read; such a
    /// failure is still reported as `handshake`.
    case handshake
    /// Sending the request.
    case write
    /// Waiting for and reading the response.
    case read
}

/// Who and where a failed exchange was with, for the log line an operator reads.
public struct TransportContext: Sendable, Hashable, CustomStringConvertible {
    /// The peer's organisationsnummer (or another label the caller chose), when known.
    public var peer: String?
    /// `host:port`.
    public var address: String
    /// The phase that failed.
    public var phase: TransportPhase

    /// Creates a context.
    public init(peer: String?, address: String, phase: TransportPhase) {
        self.peer = peer
        self.address = address
        self.phase = phase
    }

    public var description: String {
        (peer.map { "peer \($0) at " } ?? "") + "\(address) during \(phase.rawValue)"
    }
}

/// Why a transport operation failed. Every case names the peer, the address and the phase.
public enum TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A certificate, key or trust setting could not be used.
    case configuration(String)
    /// The listening socket could not be opened.
    case listen(address: String, reason: String)
    /// An operating-system error (`connect`, `read`, `write`), with its `strerror` text.
    case network(TransportContext, reason: String)
    /// A deadline passed.
    case timedOut(TransportContext)
    /// The other side closed the connection.
    case connectionClosed(TransportContext)
    /// TLS failed. `reason` is OpenSSL's text; `alert` the TLS alert the peer sent us, such as
    /// `unknown ca`, `certificate required` or `certificate unknown`, when there was one.
    case tls(TransportContext, reason: String, alert: String?)
    /// The peer's certificate did not pass our trust rules (wrong CA, unknown pin, expired,
    /// wrong organisation).
    case untrustedPeer(TransportContext, reason: String)
    /// The peer answered with something that is not an acceptable HTTP/1.1 response.
    case invalidResponse(TransportContext, reason: String)
    /// The request cannot be sent as given (a method, target or header that is not valid HTTP).
    case invalidRequest(String)
    /// The client was closed.
    case closed(address: String)

    /// The context of the failed exchange, when there was one.
    public var context: TransportContext? {
        switch self {
        case .configuration, .listen, .closed, .invalidRequest: return nil
        case let .network(c, _), let .timedOut(c), let .connectionClosed(c), let .tls(c, _, _),
             let .untrustedPeer(c, _), let .invalidResponse(c, _): return c
        }
    }

    public var description: String {
        switch self {
        case let .configuration(why): return "TLS configuration: \(why)"
        case let .listen(address, reason): return "cannot listen on \(address): \(reason)"
        case let .network(c, reason): return "\(c): \(reason)"
        case let .timedOut(c): return "\(c): timed out"
        case let .connectionClosed(c): return "\(c): connection closed by peer"
        case let .tls(c, reason, alert):
            return "\(c): TLS: \(reason)" + (alert.map { " (peer sent alert: \($0))" } ?? "")
        case let .untrustedPeer(c, reason): return "\(c): peer certificate refused: \(reason)"
        case let .invalidResponse(c, reason): return "\(c): invalid HTTP response: \(reason)"
        case let .invalidRequest(why): return "invalid request: \(why)"
        case let .closed(address): return "client for \(address) is closed"
        }
    }
}
