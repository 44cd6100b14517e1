import COpenSSL
import Foundation

/// A small pool of initialized `EVP_PKEY_CTX`s for one key and one operation (sign or verify).
///
/// Setting up a context (`EVP_DigestSignInit`: provider look-ups, key export, context
/// allocation) costs about a quarter of a P-256 signature in OpenSSL 3. A context initialized once
/// can sign again and again, but only one thread may use it at a time, so each call borrows one
/// under a lock and gives it back; contention is brief since the lock only guards the array.
final class PKeyContextPool: @unchecked Sendable {
    /// Which operation the contexts are initialized for.
    enum Operation { case sign, verify }

    private let operation: Operation
    private let lock = NSLock()
    private var idle: [OpaquePointer] = []
    /// Enough for the threads that sign with one key at once; more are freed after use.
    private let keep = 16

    init(_ operation: Operation) { self.operation = operation }

    deinit { for ctx in idle { EVP_PKEY_CTX_free(ctx) } }

    /// Runs `body` with an initialized context for `pkey` (SHA-256 as the signature digest).
    func with<R>(_ pkey: OpaquePointer, _ body: (OpaquePointer) -> R) -> R? {
        let borrowed: OpaquePointer? = lock.withLock { idle.popLast() }
        guard let ctx = borrowed ?? make(pkey) else { return nil }
        let result = body(ctx)
        let kept = lock.withLock { () -> Bool in
            guard idle.count < keep else { return false }
            idle.append(ctx)
            return true
        }
        if !kept { EVP_PKEY_CTX_free(ctx) }
        return result
    }

    private func make(_ pkey: OpaquePointer) -> OpaquePointer? {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { return nil }
        let ok: Bool
        switch operation {
        case .sign: ok = EVP_PKEY_sign_init(ctx) == 1
        case .verify: ok = EVP_PKEY_verify_init(ctx) == 1
        }
        // For RSA this also selects PKCS#1 v1.5 with the SHA-256 DigestInfo, as EVP_DigestSign does.
        guard ok, EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 else {
            EVP_PKEY_CTX_free(ctx)
            return nil
        }
        return ctx
    }
}
