import Foundation
import StafettXML
import XCTest
@testable import StafettCrypto

/// How the XML signing path compares with a bare EVP signature, measured in the same run.
/// Meaningful in release builds (`swift test -c release --filter SignaturePerformanceTests`); in
/// debug builds it runs a few iterations only and checks correctness.
final class SignaturePerformanceTests: XCTestCase {
    #if DEBUG
    static let iterations = 50
    #else
    static let iterations = 3000
    #endif

    func rate(_ n: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<n { try body() }
        return Double(n) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    func testSignPathAgainstBareEVPSign() throws {
        let ca = try CertificateAuthority.create()
        let node = try ca.issueNode(NodeIdentity(organisationName: "Trelleborgs kommun",
                                                 organisationNumber: .init("2120001165"), host: "localhost"))
        let input = Data(sampleCase.utf8)
        let n = Self.iterations
        let evp = try rate(n) { _ = try node.key.sign(input) }
        var last = Data()
        let pipeline = try rate(n) {
            let doc = try XMLDocument.parse(input)
            try XMLSignature.sign(doc, key: node.key, certificate: node.certificate)
            last = doc.serialized()
        }
        let signer = try XMLSignature.Signer(key: node.key, certificate: node.certificate)
        let prepared = try rate(n) {
            let doc = try XMLDocument.parse(input)
            try signer.sign(doc)
            last = doc.serialized()
        }
        let unsigned = try rate(n) { _ = try XMLDocument.parse(input).serialized() }
        // Time the signature adds to a parse + serialize, against one bare EVP signature.
        let added = 1 / prepared - 1 / unsigned
        print(String(format: "Signer adds %.1f µs per document; a bare EVP sign takes %.1f µs (ratio %.2f)",
                     added * 1e6, 1e6 / evp, added * evp))
        let verify = try rate(n) {
            let doc = try XMLDocument.parse(last)
            try XMLSignature.verify(doc, trusting: node.certificate)
        }
        let evpVerify = try rate(n) { _ = node.key.verify(signature: try node.key.sign(input), over: input) }
        print(String(format: "ECDSA P-256 per core: EVP sign %.0f/s; parse+sign+serialize %.0f/s (%.0f%%), with Signer %.0f/s (%.0f%%); "
                     + "parse+verify %.0f/s; EVP sign+verify %.0f/s",
                     evp, pipeline, 100 * pipeline / evp, prepared, 100 * prepared / evp, verify, evpVerify))
        try XMLSignature.verify(XMLDocument.parse(last), trusting: node.certificate)
    }
}
