import Foundation
import StafettCrypto
import StafettModel

/// How we recognise one peer organisation's TLS certificate.
///
/// A certificate is accepted for the peer when either
/// - its SHA-256 fingerprint is one of `pinnedFingerprints` (the chain need not verify
///   against any CA; rotation is listing the old and the new fingerprint at once), or
/// - it chains to one of `caCertificates` and its subject carries `organisation`
///   (`organizationIdentifier=NTRSE-<orgnr>` or a 10-digit `serialNumber`).
///
/// In both cases the certificate must be within its validity period, and a pinned
/// certificate that names an organisation must name this one.
public struct PeerTrust: Sendable {
    /// The organisation we expect at the other end.
    public var organisation: OrganisationNumber
    /// Trust anchors for this peer (roots or intermediates: partial chains are accepted).
    public var caCertificates: [Certificate]
    /// Revocation lists of the CAs above. A list whose issuer is one of `caCertificates` makes
    /// a certificate that list revokes unacceptable; with none, revocation is not checked.
    /// Pinned certificates are revoked by unpinning them.
    public var revocationLists: [RevocationList] = []
    /// Lowercase hex SHA-256 fingerprints of accepted certificates (DER). Colon-separated or
    /// uppercase forms are normalised on assignment.
    public var pinnedFingerprints: Set<String> {
        didSet { pinnedFingerprints = Set(pinnedFingerprints.map(PeerTrust.normalise)) }
    }

    /// Creates a trust rule.
    public init(organisation: OrganisationNumber, caCertificates: [Certificate] = [],
                pinnedFingerprints: Set<String> = []) {
        self.organisation = organisation
        self.caCertificates = caCertificates
        self.pinnedFingerprints = Set(pinnedFingerprints.map(PeerTrust.normalise))
    }

    /// Trust by CA: every certificate in the PEM file `caFile` is an anchor.
    public init(organisation: OrganisationNumber, caFile: String) throws(TransportError) {
        guard let pem = FileManager.default.contents(atPath: caFile) else {
            throw .configuration("cannot read CA file \(caFile)")
        }
        do {
            self.init(organisation: organisation, caCertificates: try Certificate.all(pem: pem, source: caFile))
        } catch { throw .configuration(error.description) }
    }

    /// Trust by pinning these exact certificates.
    public init(organisation: OrganisationNumber, pinnedCertificates: [Certificate]) {
        self.init(organisation: organisation, pinnedFingerprints: Set(pinnedCertificates.map(\.sha256Fingerprint)))
    }

    /// Accepts `AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it, or plain hex.
    static func normalise(_ fingerprint: String) -> String {
        String(fingerprint.lowercased().filter { $0 != ":" && !$0.isWhitespace })
    }
}

/// The server's table of known peers: a client certificate is mapped to exactly one of
/// them or the handshake is refused.
public struct ClientTrust: Sendable {
    /// Peers by organisation number.
    public private(set) var peers: [OrganisationNumber: PeerTrust]
    /// Pinned fingerprint → the peer that pinned it.
    private(set) var pins: [String: OrganisationNumber]

    /// Builds the table. A later entry for the same organisation replaces an earlier one.
    public init(_ peers: [PeerTrust]) {
        var byOrg: [OrganisationNumber: PeerTrust] = [:]
        var pins: [String: OrganisationNumber] = [:]
        for p in peers {
            byOrg[p.organisation] = p
            for f in p.pinnedFingerprints { pins[f] = p.organisation }
        }
        self.peers = byOrg
        self.pins = pins
    }
}

/// How a peer's certificate was accepted.
public enum TrustBasis: String, Sendable, Hashable {
    /// Its fingerprint was pinned.
    case pinnedCertificate
    /// It chained to a configured CA and named the expected organisation.
    case certificateAuthority
}

/// The authenticated other end of a TLS connection, known once the handshake is done.
/// The daemon compares `organisation` with the sender named inside each message.
public struct PeerIdentity: Sendable, CustomStringConvertible {
    /// The organisation the certificate was accepted for.
    public let organisation: OrganisationNumber
    /// The peer's leaf certificate.
    public let certificate: Certificate
    /// How it was accepted.
    public let basis: TrustBasis

    /// Creates an identity (the transport makes these; tests and the daemon may too).
    public init(organisation: OrganisationNumber, certificate: Certificate, basis: TrustBasis) {
        self.organisation = organisation
        self.certificate = certificate
        self.basis = basis
    }

    /// SHA-256 fingerprint of the peer's certificate.
    public var fingerprint: String { certificate.sha256Fingerprint }

    public var description: String { "\(organisation) (\(certificate.subjectLine), \(basis.rawValue))" }
}
