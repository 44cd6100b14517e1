import Foundation
import StafettCrypto
import StafettModel
import XCTest
@testable import StafettTransport

/// Real certificates made once per test run by the openssl CLI in a temporary directory.
final class TestPKI: @unchecked Sendable {
    static let shared: TestPKI = {
        signal(SIGPIPE, SIG_IGN)
        return try! TestPKI()
    }()

    static let trelleborg = try! OrganisationNumber("2120000142")
    static let migrationsverket = try! OrganisationNumber("2021005489")
    static let stranger = try! OrganisationNumber("2321000016")

    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-pki-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let script = #"""
        set -e
        ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        openssl req -x509 $ec -keyout ca.key -out ca.pem -days 3 -subj "/C=SE/O=Stafett Test CA/CN=Stafett Test CA"
        openssl req -x509 $ec -keyout ca2.key -out ca2.pem -days 3 -subj "/C=SE/O=Other CA/CN=Other CA"
        printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" > san.ext
        issue() {
          openssl req -new $ec -keyout $1.key -out $1.csr -subj "$4"
          openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -days $3 -out $1.pem -extfile san.ext
        }
        selfsigned() {
          openssl req -new $ec -keyout $1.key -out $1.csr -subj "$3"
          openssl x509 -req -in $1.csr -signkey $1.key -days $2 -out $1.pem
        }
        M="/C=SE/O=Migrationsverket/organizationIdentifier=NTRSE-2021005489"
        issue server ca 2 "/C=SE/O=Trelleborgs kommun/organizationIdentifier=NTRSE-2120000142/CN=stafett.trelleborg.se"
        issue client ca 2 "$M/CN=node1"
        issue client-otherca ca2 2 "$M/CN=node1"
        issue client-expired ca -1 "$M/CN=old"
        issue stranger ca 2 "/C=SE/O=Okand/organizationIdentifier=NTRSE-2321000016/CN=x"
        issue noorg ca 2 "/C=SE/O=Nobody/CN=nobody"
        selfsigned pinned 2 "$M/CN=pinned"
        selfsigned pinned-new 2 "$M/CN=pinned-new"
        selfsigned pinned-expired -1 "$M/CN=pinned-old"
        mkdir db; : > db/index.txt; echo 1000 > db/serial
        echo 01 > db/crlnumber
        printf '[ca]\ndefault_ca = d\n[d]\ndatabase = db/index.txt\nnew_certs_dir = db\nserial = db/serial\ncrlnumber = db/crlnumber\ndefault_crl_days = 2\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\norganizationName = optional\n' > ca.cnf
        openssl req -new $ec -keyout client-future.key -out client-future.csr -subj "$M/CN=future"
        openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in client-future.csr -out client-future.pem \
          -startdate 20990101000000Z -enddate 20991231000000Z -preserveDN -notext
        selfsigned server-pinned 2 "/C=SE/O=Trelleborgs kommun/organizationIdentifier=NTRSE-2120000142/CN=self"
        # A client certificate the CA revokes, the CA's list, and a list of another CA.
        openssl req -new $ec -keyout client-revoked.key -out client-revoked.csr -subj "$M/CN=revoked"
        openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in client-revoked.csr -out client-revoked.pem -days 2 -preserveDN -notext
        openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -revoke client-revoked.pem
        openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -out ca.crl
        mkdir db2; : > db2/index.txt; echo 01 > db2/crlnumber
        sed 's/db\//db2\//g' ca.cnf > ca2.cnf
        openssl ca -config ca2.cnf -cert ca2.pem -keyfile ca2.key -gencrl -out ca2.crl
        """#
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = dir
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TransportError.configuration("openssl CLI failed") }
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func cert(_ name: String) -> Certificate { try! Certificate.load(path: path("\(name).pem")) }
    func tls(_ name: String, allowTLS12: Bool = false) -> TLSConfiguration {
        try! TLSConfiguration(certificateFile: path("\(name).pem"), privateKeyFile: path("\(name).key"), allowTLS12: allowTLS12)
    }

    /// Trelleborg's server trusting Migrationsverket through the test CA.
    func serverContext(_ clients: [PeerTrust]? = nil, allowTLS12: Bool = false) throws -> TLSServerContext {
        let trust = clients ?? [PeerTrust(organisation: Self.migrationsverket, caCertificates: [cert("ca")])]
        return try TLSServerContext(tls("server", allowTLS12: allowTLS12), clientTrust: ClientTrust(trust))
    }

    /// A client presenting `certName`, expecting Trelleborg behind the test CA.
    func clientContext(_ certName: String = "client", serverTrust: PeerTrust? = nil) throws -> TLSClientContext {
        try TLSClientContext(tls(certName), serverTrust: serverTrust ?? PeerTrust(organisation: Self.trelleborg, caCertificates: [cert("ca")]))
    }
}

/// Server and client plumbing for the tests.
enum Harness {
    static func echoHandler(_ request: HTTPRequest, _ peer: PeerIdentity) -> HTTPResponse {
        var r = HTTPResponse(status: 200, body: request.body)
        r.headers.add("X-Peer", peer.organisation.digits)
        r.headers.add("X-Basis", peer.basis.rawValue)
        r.headers.add("X-Path", request.target)
        return r
    }

    static func server(_ tls: TLSServerContext, _ config: HTTPServerConfiguration = HTTPServerConfiguration(host: "127.0.0.1"),
                       handler: @escaping HTTPHandler = echoHandler) throws -> HTTPServer {
        let s = try HTTPServer(configuration: config, tls: tls, handler: handler)
        s.start()
        return s
    }

    static func client(_ server: HTTPServer, _ tls: TLSClientContext?, maxConnections: Int = 4,
                       requestTimeout: Duration = .seconds(10)) -> HTTPClient {
        HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: server.port,
                                                              maxConnections: maxConnections, requestTimeout: requestTimeout),
                       tls: tls)
    }

    static func post(_ body: String = "hej", to path: String = "/v1/messages") -> HTTPRequest {
        HTTPRequest(method: "POST", target: path, headers: ["Content-Type": "application/xml"], body: Data(body.utf8))
    }
}

/// A hand-driven TLS connection for sending malformed or slow requests.
final class RawConnection {
    let channel: Channel
    var received = ByteBuffer(capacity: 16 * 1024)

    init(port: UInt16, tls: TLSClientContext?) throws {
        let fd = try Socket.connect(host: "127.0.0.1", port: port, deadline: .after(.seconds(5)))
        if let tls {
            channel = try Channel(tls: fd, context: tls.context)
            try channel.handshake(until: .after(.seconds(5)))
        } else {
            channel = Channel(plain: fd)
        }
    }

    func send(_ text: String) throws { try channel.write(Array(text.utf8), until: .after(.seconds(5))) }

    /// Everything until the server closes (or `timeout`).
    func readToClose(timeout: Duration = .seconds(5)) -> String {
        let deadline = Deadline.after(timeout)
        while true {
            do { try received.fill(from: channel, until: deadline) } catch { break }
        }
        return received.withReadableBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads until `marker` has arrived.
    func read(until marker: String, timeout: Duration = .seconds(5)) -> String {
        let deadline = Deadline.after(timeout)
        while true {
            let text = received.withReadableBytes { String(decoding: $0, as: UTF8.self) }
            if text.contains(marker) { return text }
            do { try received.fill(from: channel, until: deadline) } catch { return text }
        }
    }

    func close() { channel.close() }
}

/// Runs a command; returns exit status and standard output.
func runTool(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
