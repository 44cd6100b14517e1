import COpenSSL
import Foundation
import StafettCrypto
import StafettModel

/// What certificate verification decided for one connection; hung on the `SSL` as ex_data
/// so the capture-free C callback can report back to the connection that owns it.
final class VerificationOutcome {
    var identity: PeerIdentity?
    var failure: String?
}

/// The ex_data slot of `VerificationOutcome` on every `SSL`.
let verificationOutcomeIndex: Int32 = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, nil, nil, nil, nil)

/// An owned `X509_STORE` holding one peer's anchors.
final class AnchorStore: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ anchors: [Certificate], revocationLists: [RevocationList] = [], organisation: OrganisationNumber) throws(TransportError) {
        guard let store = X509_STORE_new() else { throw .configuration("X509_STORE_new failed") }
        pointer = store
        for cert in anchors where X509_STORE_add_cert(store, cert.pointer) != 1 {
            throw .configuration("cannot add CA \(cert.subjectLine) for peer \(organisation): \(openSSLErrorText())")
        }
        // Only the lists of these anchors: with CRL checking on, OpenSSL refuses a leaf whose
        // issuer has no list, so a bundle with other CAs' lists must not switch it on.
        let own = revocationLists.filter { crl in anchors.contains { crl.isIssued(by: $0) } }
        for crl in own where X509_STORE_add_crl(store, crl.pointer) != 1 {
            throw .configuration("cannot add a revocation list for peer \(organisation): \(openSSLErrorText())")
        }
        // The operator names the anchors explicitly; an intermediate may be one.
        var flags = UInt(X509_V_FLAG_PARTIAL_CHAIN)
        if !own.isEmpty { flags |= UInt(X509_V_FLAG_CRL_CHECK) }
        X509_STORE_set_flags(store, flags)
    }

    deinit { X509_STORE_free(pointer) }
}

/// Decides whether a presented leaf certificate belongs to a trusted peer.
final class TrustEvaluator: @unchecked Sendable {
    enum Mode {
        case server(ClientTrust)
        case client(PeerTrust)
    }

    struct Failure: Error {
        var code: Int32
        var reason: String
    }

    let mode: Mode
    let stores: [OrganisationNumber: AnchorStore]
    var verifiesClients: Bool { if case .server = mode { return true } else { return false } }

    init(_ mode: Mode) throws(TransportError) {
        self.mode = mode
        let trusts: [PeerTrust]
        switch mode {
        case let .server(table): trusts = Array(table.peers.values)
        case let .client(t): trusts = [t]
        }
        var stores: [OrganisationNumber: AnchorStore] = [:]
        for t in trusts where !t.caCertificates.isEmpty {
            stores[t.organisation] = try AnchorStore(t.caCertificates, revocationLists: t.revocationLists, organisation: t.organisation)
        }
        self.stores = stores
    }

    func evaluate(leaf: OpaquePointer, untrusted: OpaquePointer?) -> Result<PeerIdentity, Failure> {
        X509_up_ref(leaf)
        let cert = Certificate(taking: leaf)
        let fingerprint = cert.sha256Fingerprint
        let named = cert.organisationNumber
        let trust: PeerTrust
        switch mode {
        case let .client(t):
            trust = t
        case let .server(table):
            if let org = table.pins[fingerprint], let t = table.peers[org] {
                trust = t
            } else if let org = named, let t = table.peers[org] {
                trust = t
            } else {
                let who = named.map { "organisation \($0)" } ?? "no organisation number"
                return .failure(Failure(code: X509_V_ERR_CERT_REJECTED,
                                        reason: "unknown peer: \(cert.subjectLine) (\(who)) is neither pinned nor a configured peer"))
            }
        }

        if trust.pinnedFingerprints.contains(fingerprint) {
            if X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0 {
                return .failure(Failure(code: X509_V_ERR_CERT_NOT_YET_VALID,
                                        reason: "pinned certificate \(cert.subjectLine) is not yet valid"))
            }
            if X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0 {
                return .failure(Failure(code: X509_V_ERR_CERT_HAS_EXPIRED,
                                        reason: "pinned certificate \(cert.subjectLine) has expired"))
            }
            if let named, named != trust.organisation {
                return .failure(Failure(code: X509_V_ERR_CERT_REJECTED,
                                        reason: "pinned certificate names organisation \(named), expected \(trust.organisation)"))
            }
            return .success(PeerIdentity(organisation: trust.organisation, certificate: cert, basis: .pinnedCertificate))
        }

        guard let store = stores[trust.organisation] else {
            return .failure(Failure(code: X509_V_ERR_CERT_UNTRUSTED,
                                    reason: "certificate \(cert.subjectLine) (SHA-256 \(fingerprint)) is not pinned for \(trust.organisation)"))
        }
        guard let ctx = X509_STORE_CTX_new() else {
            return .failure(Failure(code: X509_V_ERR_OUT_OF_MEM, reason: "out of memory"))
        }
        defer { X509_STORE_CTX_free(ctx) }
        guard X509_STORE_CTX_init(ctx, store.pointer, leaf, untrusted) == 1 else {
            return .failure(Failure(code: X509_V_ERR_UNSPECIFIED, reason: openSSLErrorText()))
        }
        _ = X509_STORE_CTX_set_default(ctx, verifiesClients ? "ssl_client" : "ssl_server")
        if X509_verify_cert(ctx) != 1 {
            let code = X509_STORE_CTX_get_error(ctx)
            ERR_clear_error()
            let text = String(cString: X509_verify_cert_error_string(Int(code)))
            return .failure(Failure(code: code, reason: "\(cert.subjectLine): \(text) (trusting the CA of \(trust.organisation))"))
        }
        guard let named else {
            return .failure(Failure(code: X509_V_ERR_CERT_REJECTED,
                                    reason: "certificate \(cert.subjectLine) names no organisation number"))
        }
        guard named == trust.organisation else {
            return .failure(Failure(code: X509_V_ERR_CERT_REJECTED,
                                    reason: "certificate is for organisation \(named), expected \(trust.organisation)"))
        }
        return .success(PeerIdentity(organisation: named, certificate: cert, basis: .certificateAuthority))
    }
}

/// `SSL_CTX_set_cert_verify_callback`: replaces OpenSSL's chain check with `TrustEvaluator`.
func stafettCertificateVerify(_ storeCtx: OpaquePointer?, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let storeCtx, let arg else { return 0 }
    let evaluator = Unmanaged<TrustEvaluator>.fromOpaque(arg).takeUnretainedValue()
    var outcome: VerificationOutcome?
    if let raw = X509_STORE_CTX_get_ex_data(storeCtx, SSL_get_ex_data_X509_STORE_CTX_idx()),
       let slot = SSL_get_ex_data(OpaquePointer(raw), verificationOutcomeIndex) {
        outcome = Unmanaged<VerificationOutcome>.fromOpaque(slot).takeUnretainedValue()
    }
    guard let leaf = X509_STORE_CTX_get0_cert(storeCtx) else {
        outcome?.failure = "no peer certificate"
        X509_STORE_CTX_set_error(storeCtx, X509_V_ERR_UNSPECIFIED)
        return 0
    }
    switch evaluator.evaluate(leaf: leaf, untrusted: X509_STORE_CTX_get0_untrusted(storeCtx)) {
    case let .success(identity):
        outcome?.identity = identity
        X509_STORE_CTX_set_error(storeCtx, X509_V_OK)
        return 1
    case let .failure(f):
        outcome?.failure = f.reason
        X509_STORE_CTX_set_error(storeCtx, f.code)
        return 0
    }
}
