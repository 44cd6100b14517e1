import COpenSSL
import Foundation
import StafettModel

/// Who a node certificate speaks for: the organisation (name and organisationsnummer) and the
/// host names and addresses its TLS endpoint answers on.
public struct NodeIdentity: Sendable, Hashable {
    /// Subject O, e.g. "Trelleborgs kommun".
    public var organisationName: String
    /// Goes into the subject as `organizationIdentifier=NTRSE-<10 digits>` (ETSI EN 319 412-1).
    public var organisationNumber: OrganisationNumber
    /// Subject CN, and the first subjectAltName (DNS name or IP address).
    public var host: String
    /// Further DNS names for subjectAltName.
    public var dnsNames: [String]
    /// Further IP addresses for subjectAltName.
    public var ipAddresses: [String]

    /// Creates an identity; by default the certificate also covers `localhost` and `127.0.0.1`.
    public init(organisationName: String, organisationNumber: OrganisationNumber, host: String,
                dnsNames: [String] = ["localhost"], ipAddresses: [String] = ["127.0.0.1"]) {
        self.organisationName = organisationName
        self.organisationNumber = organisationNumber
        self.host = host
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
    }
}

/// A small certificate authority for a Stafett federation's test and demo set-ups: a self-signed
/// CA certificate that issues node certificates usable both for mutual TLS and for XML signing.
///
/// Production deployments will more likely use certificates from an existing PKI; Stafett reads
/// those the same way (``Certificate/organisationNumber``).
public struct CertificateAuthority: Sendable {
    /// The CA's private key.
    public let key: Key
    /// The CA's self-signed certificate: what peers list as their trust anchor.
    public let certificate: Certificate

    /// Wraps an existing CA key and certificate; refuses a key that does not belong to the certificate.
    public init(key: Key, certificate: Certificate) throws(CryptoError) {
        guard try certificate.publicKey().hasSamePublicKey(as: key) else {
            throw .issuance("the CA key does not belong to the CA certificate \(certificate.subjectLine)")
        }
        self.key = key
        self.certificate = certificate
    }

    /// Loads a CA from PEM files.
    public static func load(keyPath: String, certificatePath: String) throws(CryptoError) -> CertificateAuthority {
        try CertificateAuthority(key: Key.privateKey(path: keyPath), certificate: Certificate.load(path: certificatePath))
    }

    /// Makes a new CA with a fresh key and a self-signed certificate (basicConstraints CA:TRUE,
    /// keyUsage keyCertSign and cRLSign).
    public static func create(commonName: String = "Stafett CA", organisationName: String? = nil,
                              key spec: KeySpecification = .ecdsaP256SHA256,
                              notBefore: Date = Date().addingTimeInterval(-3600),
                              notAfter: Date = Date().addingTimeInterval(10 * 365 * 86400)) throws(CryptoError) -> CertificateAuthority {
        let key = try Key.generate(spec)
        var subject: [(Int32, String)] = [(NID_countryName, "SE")]
        if let organisationName { subject.append((NID_organizationName, organisationName)) }
        subject.append((NID_commonName, commonName))
        let builder = try CertificateBuilder(subject: subject, publicKey: key, notBefore: notBefore, notAfter: notAfter)
        try builder.setIssuer(nil)
        try builder.addExtension(NID_basic_constraints, "critical,CA:TRUE")
        try builder.addExtension(NID_key_usage, "critical,keyCertSign,cRLSign")
        try builder.addExtension(NID_subject_key_identifier, "hash")
        try builder.addExtension(NID_authority_key_identifier, "keyid:always")
        let certificate = try builder.sign(with: key)
        return try CertificateAuthority(key: key, certificate: certificate)
    }

    /// Issues a node certificate for `publicKey`: subject `C=SE, O=<name>,
    /// organizationIdentifier=NTRSE-<digits>, CN=<host>`, subjectAltName DNS/IP, keyUsage
    /// digitalSignature, extendedKeyUsage serverAuth and clientAuth. The validity window is the
    /// caller's (tests issue expired and not-yet-valid certificates).
    public func issue(for identity: NodeIdentity, publicKey: Key, notBefore: Date = Date().addingTimeInterval(-3600),
                      notAfter: Date = Date().addingTimeInterval(365 * 86400)) throws(CryptoError) -> Certificate {
        let names = try Self.subjectAltNames(identity)
        let builder = try CertificateBuilder(
            subject: [(NID_countryName, "SE"), (NID_organizationName, identity.organisationName),
                      (NID_organizationIdentifier, "NTRSE-" + identity.organisationNumber.digits),
                      (NID_commonName, identity.host)],
            publicKey: publicKey, notBefore: notBefore, notAfter: notAfter)
        try builder.setIssuer(certificate)
        try builder.addExtension(NID_basic_constraints, "critical,CA:FALSE")
        try builder.addExtension(NID_key_usage, "critical,digitalSignature")
        try builder.addExtension(NID_ext_key_usage, "serverAuth,clientAuth")
        try builder.addExtension(NID_subject_alt_name, names)
        try builder.addExtension(NID_subject_key_identifier, "hash")
        try builder.addExtension(NID_authority_key_identifier, "keyid:always")
        return try builder.sign(with: key)
    }

    /// Generates a node key and issues its certificate in one step.
    public func issueNode(_ identity: NodeIdentity, key spec: KeySpecification = .ecdsaP256SHA256,
                          notBefore: Date = Date().addingTimeInterval(-3600),
                          notAfter: Date = Date().addingTimeInterval(365 * 86400)) throws(CryptoError) -> (key: Key, certificate: Certificate) {
        let nodeKey = try Key.generate(spec)
        return (nodeKey, try issue(for: identity, publicKey: nodeKey, notBefore: notBefore, notAfter: notAfter))
    }

    /// Writes the CA key (0600) and certificate (0644) atomically.
    public func write(keyPath: String, certificatePath: String) throws(CryptoError) {
        try PEMFile.write(key.privateKeyPEM, to: keyPath, mode: 0o600)
        try PEMFile.write(certificate.pem, to: certificatePath, mode: 0o644)
    }

    /// The subjectAltName value, refusing anything that is not a plain host name or IP address (the
    /// value is OpenSSL's comma-separated config syntax, so a comma in a name would inject entries).
    static func subjectAltNames(_ identity: NodeIdentity) throws(CryptoError) -> String {
        var entries: [String] = []
        for name in [identity.host] + identity.dnsNames + identity.ipAddresses {
            let entry: String
            if isIPAddress(name) { entry = "IP:" + name }
            else if isHostName(name) { entry = "DNS:" + name }
            else { throw .issuance("not a host name or IP address: \(name)") }
            if !entries.contains(entry) { entries.append(entry) }
        }
        return entries.joined(separator: ",")
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    static func isHostName(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 253 else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
        }
    }
}

extension Certificate {
    /// Writes the certificate as PEM, atomically, mode 0644.
    public func write(to path: String) throws(CryptoError) {
        try PEMFile.write(pem, to: path, mode: 0o644)
    }
}
