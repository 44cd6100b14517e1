import Foundation
import StafettCrypto
import StafettJournal
import StafettModel
import StafettSignature
import StafettTransport
import StafettXML

/// Why the daemon could not turn its configuration into keys, certificates and trust.
public struct StartupError: Error, Sendable, CustomStringConvertible {
    /// What failed, naming the file and the config key.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A configured peer with everything loaded: its trust, its signing certificates, its address.
public struct LoadedPeer: Sendable {
    /// The `[peer "name"]` section.
    public var config: StafettConfig.Peer
    /// How its TLS certificate is checked (as client and as server).
    public var trust: PeerTrust
    /// Certificates whose keys verify its messages and receipts.
    public var signingCertificates: [Certificate]

    /// Verifies a message or receipt from this peer with those of its signing certificates that
    /// are valid at `now`, and returns the one whose key verified. Checked here, on every
    /// document, because a certificate that expires while the daemon runs must stop verifying
    /// then, not at the next restart. A signature made with an expired (or not yet valid)
    /// certificate is named as such, so the peer learns to renew rather than to debug its signing.
    /// The result carries the signed content's digest as well (`ReceiptDigest.of(_:)`).
    @discardableResult
    public func verifySignature(_ doc: StafettXML.XMLDocument, now: Date = Date()) throws(SignatureError) -> XMLSignature.Verification {
        let valid = signingCertificates.filter { $0.notBefore <= now && now <= $0.notAfter }
        do {
            return try XMLSignature.verification(of: doc, trustingAnyOf: valid)
        } catch {
            let stale = signingCertificates.filter { c in !valid.contains { $0.der == c.der } }
            if !stale.isEmpty, let c = try? XMLSignature.verify(doc, trustingAnyOf: stale) {
                throw .certificateNotValid("\(c.subjectLine) is valid from \(c.notBefore) to \(c.notAfter)")
            }
            throw error
        }
    }
}

/// The immutable part of a running node, built from a `StafettConfig`; a reload builds a new one.
public struct NodeRuntime: Sendable {
    /// The configuration it came from.
    public var config: StafettConfig
    /// Our signing key and certificate: messages, receipts and journal checkpoints.
    public var sealer: MessageSealer
    /// The same key and certificate prepared once for signing receipts: a signer made per
    /// receipt re-checked the certificate against the key and re-encoded it every time.
    public var receiptSigner: XMLSignature.Signer
    /// Our TLS identity.
    public var tls: TLSConfiguration
    /// Peers by name.
    public var peers: [String: LoadedPeer]
    /// Keys personnummer for the journal.
    public var keyer: PersonKeyer
    /// Warnings found while loading (certificates expiring within 30 days, revocation lists
    /// expired or running out within a day).
    public var warnings: [String]
    /// The revocation lists of `node.tls-crl` (empty without one).
    public var revocationLists: [RevocationList] = []

    /// The peer with this organisation number.
    public func peer(for organisation: OrganisationNumber) -> LoadedPeer? {
        peers.values.first { $0.config.organisation == organisation }
    }

    /// Loads keys, certificates and trust named by `config`. Every failure names the file.
    public static func load(_ config: StafettConfig, now: Date = Date()) throws(StartupError) -> NodeRuntime {
        var warnings: [String] = []
        func check(_ cert: Certificate, _ what: String) throws(StartupError) {
            if cert.notAfter < now { throw StartupError("\(what): certificate \(cert.subjectLine) expired on \(cert.notAfter)") }
            if cert.notBefore > now { throw StartupError("\(what): certificate \(cert.subjectLine) is not valid before \(cert.notBefore)") }
            if cert.notAfter < now.addingTimeInterval(30 * 86400) {
                warnings.append("\(what): certificate \(cert.subjectLine) expires on \(cert.notAfter): renew it")
            }
        }
        do {
            let node = config.node
            let key = try Key.privateKey(path: node.signingKey)
            let cert = try Certificate.load(path: node.signingCert)
            guard try cert.publicKey().hasSamePublicKey(as: key) else {
                throw StartupError("node.signing-cert \(node.signingCert) does not certify node.signing-key \(node.signingKey)")
            }
            try check(cert, "node.signing-cert \(node.signingCert)")
            let tls = try TLSConfiguration(certificateFile: node.tlsCert, privateKeyFile: node.tlsKey, allowTLS12: node.allowTLS12)
            if let leaf = tls.certificateChain.first {
                try check(leaf, "node.tls-cert \(node.tlsCert)")
                if leaf.organisationNumber != node.organisation {
                    throw StartupError("node.tls-cert \(node.tlsCert) speaks for \(leaf.organisationNumber?.description ?? "no organisation"), not node.organisation \(node.organisation)")
                }
            }
            // Read on every start and reload, so a CRL refreshed by cron takes effect with SIGHUP.
            let revocationLists = try node.tlsCRL.map { try RevocationList.load(path: $0) } ?? []
            for crl in revocationLists {
                guard let next = crl.nextUpdate, let path = node.tlsCRL else { continue }
                if next < now {
                    warnings.append("node.tls-crl \(path): the revocation list of \(crl.issuerLine) expired on \(next): peers of that CA are refused until it is refreshed")
                } else if next < now.addingTimeInterval(86_400) {
                    warnings.append("node.tls-crl \(path): the revocation list of \(crl.issuerLine) runs out on \(next): refresh it and reload")
                }
            }
            var peers: [String: LoadedPeer] = [:]
            // Most peers share the node's CA file: read and decode it once, not once per peer
            // (OpenSSL's PEM decoding was most of a 1 000-peer configuration's load).
            var trustByCAFile: [String: PeerTrust] = [:]
            for p in config.peers {
                var trust: PeerTrust
                if p.pins.isEmpty {
                    let caFile = p.ca ?? node.tlsCA
                    trust = try trustByCAFile[caFile] ?? PeerTrust(organisation: p.organisation, caFile: caFile)
                    trustByCAFile[caFile] = trust
                    trust.organisation = p.organisation
                } else {
                    let cas = try p.ca.map { (path: String) throws -> [Certificate] in
                        guard let data = FileManager.default.contents(atPath: path) else { throw StartupError("peer \(p.name): cannot read ca \(path)") }
                        return try Certificate.all(pem: data, source: path)
                    } ?? []
                    trust = PeerTrust(organisation: p.organisation, caCertificates: cas, pinnedFingerprints: Set(p.pins))
                }
                trust.revocationLists = revocationLists
                // A peer's certificate out of its validity is a warning, not a reason to stop the
                // node: one peer's lapse (or an old certificate left listed after a rotation) must
                // not cut every other link. Each document is checked against the time it arrives.
                var signing: [Certificate] = []
                for path in p.signingCerts {
                    let c = try Certificate.load(path: path)
                    if c.notAfter < now || c.notBefore > now {
                        warnings.append("peer \(p.name) signing-cert \(path): certificate \(c.subjectLine) is valid from \(c.notBefore) "
                            + "to \(c.notAfter), not now: its documents are refused until a valid certificate is configured")
                    } else {
                        try check(c, "peer \(p.name) signing-cert \(path)")
                    }
                    signing.append(c)
                }
                peers[p.name] = LoadedPeer(config: p, trust: trust, signingCertificates: signing)
            }
            let keyer = try PersonKeyer(secretFile: node.journalSecret)
            var rt = NodeRuntime(config: config, sealer: try MessageSealer(key: key, certificate: cert),
                                 receiptSigner: try XMLSignature.Signer(key: key, certificate: cert), tls: tls,
                                 peers: peers, keyer: keyer, warnings: warnings)
            rt.revocationLists = revocationLists
            return rt
        } catch let e as StartupError {
            throw e
        } catch {
            throw StartupError("\(error)")
        }
    }
}
