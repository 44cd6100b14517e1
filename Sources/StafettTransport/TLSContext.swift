import COpenSSL
import CShims
import Foundation
import StafettCrypto
import StafettModel

/// Our own side of TLS: the certificate chain we present and its private key.
///
/// TLS 1.3 only unless `allowTLS12` is set (then TLS 1.2 with ECDHE and AEAD ciphers only).
/// Renegotiation, compression, session tickets and the session cache are off: connections
/// are long-lived and reused instead of resumed.
///
/// The process must ignore SIGPIPE (`Transport.ignoreSIGPIPE()` at start-up): OpenSSL writes
/// to sockets with `write(2)`, and a peer that closes mid-write would otherwise kill it.
public struct TLSConfiguration: Sendable {
    /// Leaf first, then any intermediates to send along.
    public var certificateChain: [Certificate]
    /// The leaf's private key.
    public var privateKey: Key
    /// Whether TLS 1.2 is accepted besides TLS 1.3.
    public var allowTLS12: Bool

    /// Creates a configuration from loaded certificates and key.
    public init(certificateChain: [Certificate], privateKey: Key, allowTLS12: Bool = false) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.allowTLS12 = allowTLS12
    }

    /// Loads a PEM chain (leaf first) and a PEM private key.
    public init(certificateFile: String, privateKeyFile: String, allowTLS12: Bool = false) throws(TransportError) {
        guard let pem = FileManager.default.contents(atPath: certificateFile) else {
            throw .configuration("cannot read certificate file \(certificateFile)")
        }
        do {
            self.init(certificateChain: try Certificate.all(pem: pem, source: certificateFile),
                      privateKey: try Key.privateKey(path: privateKeyFile), allowTLS12: allowTLS12)
        } catch { throw .configuration(error.description) }
    }
}

/// Ignores SIGPIPE for the whole process; call once at start-up.
public enum Transport {
    /// `signal(SIGPIPE, SIG_IGN)`.
    public static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }
}

/// A server-side TLS context: our certificate, and the table of client organisations we accept.
/// Unknown clients are refused inside the handshake.
public final class TLSServerContext: @unchecked Sendable {
    let context: SSLContext
    /// The peers this server accepts.
    public let clientTrust: ClientTrust

    /// Builds the OpenSSL context; fails on an unusable certificate, key or CA.
    public init(_ configuration: TLSConfiguration, clientTrust: ClientTrust) throws(TransportError) {
        self.clientTrust = clientTrust
        context = try SSLContext(configuration, evaluator: try TrustEvaluator(.server(clientTrust)))
    }
}

/// A client-side TLS context for talking to one peer organisation.
public final class TLSClientContext: @unchecked Sendable {
    let context: SSLContext
    /// How the server must prove it is the peer we mean.
    public let serverTrust: PeerTrust

    /// Builds the OpenSSL context; fails on an unusable certificate, key or CA.
    public init(_ configuration: TLSConfiguration, serverTrust: PeerTrust) throws(TransportError) {
        self.serverTrust = serverTrust
        context = try SSLContext(configuration, evaluator: try TrustEvaluator(.client(serverTrust)))
    }
}

/// An owned `SSL_CTX`. Read-only once built, so shared by all connection threads.
final class SSLContext: @unchecked Sendable {
    let pointer: OpaquePointer
    let evaluator: TrustEvaluator
    var isServer: Bool { evaluator.verifiesClients }

    init(_ configuration: TLSConfiguration, evaluator: TrustEvaluator) throws(TransportError) {
        let server = evaluator.verifiesClients
        guard let ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw .configuration("SSL_CTX_new: \(openSSLErrorText())")
        }
        pointer = ctx
        self.evaluator = evaluator
        let minVersion = configuration.allowTLS12 ? stafett_tls1_2_version() : stafett_tls1_3_version()
        guard stafett_ssl_ctx_set_min_proto_version(ctx, minVersion) == 1,
              stafett_ssl_ctx_set_max_proto_version(ctx, stafett_tls1_3_version()) == 1 else {
            throw .configuration("cannot set TLS protocol versions: \(openSSLErrorText())")
        }
        SSL_CTX_set_options(ctx, stafett_ssl_op_no_renegotiation() | stafett_ssl_op_no_compression()
                                 | stafett_ssl_op_no_ticket() | stafett_ssl_op_cipher_server_preference())
        SSL_CTX_set_num_tickets(ctx, 0)
        _ = stafett_ssl_ctx_set_session_cache_mode(ctx, stafett_ssl_sess_cache_off())
        // SSL_write is retried from a buffer that may be a fresh slice of the same bytes.
        _ = stafett_ssl_ctx_set_mode(ctx, stafett_ssl_mode_accept_moving_write_buffer())
        if configuration.allowTLS12, SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 {
            throw .configuration("cannot set TLS 1.2 ciphers: \(openSSLErrorText())")
        }
        guard let leaf = configuration.certificateChain.first else {
            throw .configuration("the certificate chain is empty")
        }
        guard SSL_CTX_use_certificate(ctx, leaf.pointer) == 1 else {
            throw .configuration("cannot use certificate \(leaf.subjectLine): \(openSSLErrorText())")
        }
        for extra in configuration.certificateChain.dropFirst() {
            guard SSL_CTX_ctrl(ctx, SSL_CTRL_CHAIN_CERT, 1, UnsafeMutableRawPointer(extra.pointer)) == 1 else {
                throw .configuration("cannot add chain certificate \(extra.subjectLine): \(openSSLErrorText())")
            }
        }
        guard SSL_CTX_use_PrivateKey(ctx, configuration.privateKey.pointer) == 1,
              SSL_CTX_check_private_key(ctx) == 1 else {
            throw .configuration("the private key does not match certificate \(leaf.subjectLine): \(openSSLErrorText())")
        }
        SSL_CTX_set_verify(ctx, server ? (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT) : SSL_VERIFY_PEER, nil)
        // The whole chain decision is ours (pins or per-peer CA + organisation), see TrustEvaluator.
        SSL_CTX_set_cert_verify_callback(ctx, stafettCertificateVerify, Unmanaged.passUnretained(evaluator).toOpaque())
    }

    deinit { SSL_CTX_free(pointer) }
}

/// The oldest queued OpenSSL error of this thread as text; clears the queue.
func openSSLErrorText() -> String {
    let code = ERR_get_error()
    ERR_clear_error()
    guard code != 0 else { return "unknown error" }
    var buf = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buf, buf.count)
    return cText(buf)
}

/// The text of a NUL-terminated C character buffer.
func cText(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
