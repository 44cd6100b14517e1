import COpenSSL
import Foundation

/// Why a certificate is not acceptable, naming the certificate (subject) and the dates involved.
public enum CertificateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The certificate's validity has not started.
    case notYetValid(subject: String, notBefore: Date)
    /// The certificate's validity has ended.
    case expired(subject: String, notAfter: Date)
    /// The issuer named in the certificate is not this CA (or the CA cannot sign certificates).
    case issuerMismatch(subject: String, issuer: String)
    /// The CA's key did not make the certificate's signature.
    case badSignature(subject: String)

    /// A one-line explanation for logs and operators.
    public var description: String {
        let f = ISO8601DateFormatter()
        switch self {
        case let .notYetValid(s, d): return "certificate \(s) is not valid before \(f.string(from: d))"
        case let .expired(s, d): return "certificate \(s) expired at \(f.string(from: d))"
        case let .issuerMismatch(s, i): return "certificate \(s) was not issued by \(i)"
        case let .badSignature(s): return "certificate \(s) has a signature its issuer's key did not make"
        }
    }
}

extension Certificate {
    /// Whether `date` lies in the validity window (both ends inclusive).
    public func isValid(at date: Date = Date()) -> Bool {
        notBefore <= date && date <= notAfter
    }

    /// Whether the certificate's validity ends within `interval` after `date` (or has ended):
    /// for the warning 30 days ahead of expiry.
    public func expires(within interval: TimeInterval, of date: Date = Date()) -> Bool {
        notAfter <= date.addingTimeInterval(interval)
    }

    /// Throws when `date` lies outside the validity window.
    public func checkValidity(at date: Date = Date()) throws(CertificateError) {
        if date < notBefore { throw .notYetValid(subject: subjectLine, notBefore: notBefore) }
        if date > notAfter { throw .expired(subject: subjectLine, notAfter: notAfter) }
    }

    /// Checks that `ca` issued this certificate: issuer name, key identifiers and CA capability
    /// (`X509_check_issued`), the signature (`X509_verify`), and that both certificates are valid at
    /// `date`. Revocation is not checked.
    public func verify(issuedBy ca: Certificate, at date: Date = Date()) throws(CertificateError) {
        guard X509_check_issued(ca.pointer, pointer) == X509_V_OK else {
            ERR_clear_error()
            throw .issuerMismatch(subject: subjectLine, issuer: ca.subjectLine)
        }
        guard let caKey = X509_get0_pubkey(ca.pointer), X509_verify(pointer, caKey) == 1 else {
            ERR_clear_error()
            throw .badSignature(subject: subjectLine)
        }
        try ca.checkValidity(at: date)
        try checkValidity(at: date)
    }

    /// Whether the certificate covers `host` (a DNS name, matched by `X509_check_host`, or an IP
    /// address, matched against subjectAltName IP entries).
    public func matches(host: String) -> Bool {
        if CertificateAuthority.isIPAddress(host) { return X509_check_ip_asc(pointer, host, 0) == 1 }
        return X509_check_host(pointer, host, host.utf8.count, 0, nil) == 1
    }
}
