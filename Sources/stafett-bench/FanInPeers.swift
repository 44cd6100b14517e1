import Foundation
import StafettCLI
import StafettCrypto
import StafettDaemon
import StafettModel
import StafettTransport

/// The sending side of `stafett-bench fanin`: N organisations, each with its own certificate
/// from the receiver's CA, its own keep-alive connections and a pool of case messages it signed
/// before the timed phases (the signature covers the message id, so each send needs its own).
final class FanInPeer: @unchecked Sendable {
    let index: Int
    let organisation: OrganisationNumber
    let client: HTTPClient
    private let pool: [Data]
    private let lock = NSLock()
    private var next = 0

    init(index: Int, organisation: OrganisationNumber, client: HTTPClient, pool: [Data]) {
        self.index = index
        self.organisation = organisation
        self.client = client
        self.pool = pool
    }

    /// The next unsent signed message; nil when the pool is used up (the run asked for more
    /// than it signed: a bug in the phase sizes).
    func takeMessage() -> Data? {
        lock.withLock {
            guard next < pool.count else { return nil }
            defer { next += 1 }
            return pool[next]
        }
    }
}

/// Generated organisations, their certificates and the receiver's peer list.
enum FanInPeers {
    /// The `i`th generated organisationsnummer: `212` (a legal person: third digit ≥ 2), six
    /// digits of `i` and the Luhn check digit, so the same run always yields the same numbers.
    static func organisationNumber(_ i: Int) throws -> OrganisationNumber {
        let body = "212" + String(format: "%06d", i % 1_000_000)
        let digits = body.utf8.map { $0 - 0x30 }
        let check = (0...9).first { Luhn.isValid(digits + [UInt8($0)]) }!
        return try OrganisationNumber(body + String(check))
    }

    /// Issues a key and certificate per peer (one pair for TLS and for signing), writes each
    /// certificate where the receiver's `peers.conf` names it, and writes that file.
    static func issue(count: Int, ca: CertificateAuthority, directory: URL) throws -> [(OrganisationNumber, Key, Certificate)] {
        let certs = directory.appendingPathComponent("peers")
        try AtomicFile.makeDirectories(certs)
        var peers: [(OrganisationNumber, Key, Certificate)] = []
        var conf = "# \(count) generated peers of stafett-bench fanin\n"
        for i in 0..<count {
            let org = try organisationNumber(i)
            let (key, cert) = try ca.issueNode(NodeIdentity(organisationName: "Kommun \(i)", organisationNumber: org, host: "localhost"))
            let path = certs.appendingPathComponent("p\(i).crt").path
            try Data(cert.pem.utf8).write(to: URL(fileURLWithPath: path))
            // The receiver never delivers to them in this run; port 9 (discard) is a placeholder.
            conf += "\n[peer \"p\(i)\"]\norganisation = \(org.formatted)\naddress = 127.0.0.1:9\nsigning-cert = \(path)\n"
            peers.append((org, key, cert))
        }
        try AtomicFile.write(Data(conf.utf8), to: directory.appendingPathComponent("peers.conf"), mode: 0o644)
        return peers
    }

    /// `count` signed case messages from `sender` to `recipient`, ids unique to this run.
    static func signedMessages(count: Int, sender: OrganisationNumber, key: Key, certificate: Certificate,
                               recipient: OrganisationNumber, template: [IntakeRecord], run: String) throws -> [Data] {
        let records = Array(template.prefix(count))
        let digest = SHA256.hex(Data("\(run)/\(sender.digits)".utf8))
        let messages = IntakeFile.caseMessages(records, fileDigestHex: digest, sender: sender,
                                               defaultRecipient: recipient, createdAt: Date())
        let sealer = try MessageSealer(key: key, certificate: certificate)
        var out: [Data] = []
        out.reserveCapacity(count)
        var i = 0
        while i < messages.count {
            out += try sealer.seal(Array(messages[i..<min(i + 32, messages.count)])).map(\.signedXML)
            i += 32
        }
        return out
    }
}
