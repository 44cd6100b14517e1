import Foundation
import StafettCrypto
import StafettXML
import XCTest
@testable import StafettSignature

/// How the XML signing path compares with a bare EVP signature, measured in the same run.
/// Meaningful in release builds
/// (`swift test -c release -Xswiftc -enable-testing --filter SignaturePerformanceTests`); in debug
/// builds it runs a few iterations only and checks that what it measured is correct.
final class SignaturePerformanceTests: XCTestCase {
    #if DEBUG
    static let iterations = 20, rounds = 1
    #else
    static let iterations = 1000, rounds = 7
    #endif

    /// Best rate (per second) over interleaved rounds: on a shared machine the best round is the
    /// one least disturbed by other processes, and interleaving exposes every variant to the same load.
    func bestRates(_ variants: [(String, () throws -> Void)]) throws -> [String: Double] {
        var best: [String: Double] = [:]
        for _ in 0..<Self.rounds {
            for (name, body) in variants {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<Self.iterations { try body() }
                let r = Double(Self.iterations) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                best[name] = max(best[name] ?? 0, r)
            }
        }
        return best
    }

    func testSignPathAgainstBareEVPSign() throws {
        let ca = try CertificateAuthority.create()
        let node = try ca.issueNode(NodeIdentity(organisationName: "Trelleborgs kommun",
                                                 organisationNumber: .init("2120001165"), host: "localhost"))
        let input = Data(sampleCase.utf8)
        let signer = try XMLSignature.Signer(key: node.key, certificate: node.certificate)
        let signed = try signer.sign(xml: input)
        let derSignature = try node.key.sign(input)
        var last = Data()
        var batchCounter = 0
        let r = try bestRates([
            ("evp", { _ = try node.key.sign(input) }),
            ("parse+serialize", { last = try XMLDocument.parse(input).serialized() }),
            ("parse+sign+serialize", {
                let doc = try XMLDocument.parse(input)
                try signer.sign(doc)
                last = doc.serialized()
            }),
            ("batched", {
                // The same work in batches (one iteration = one document).
                let batch = min(100, Self.iterations)
                if batchCounter % batch == 0 {
                    let docs = try (0..<batch).map { _ in try XMLDocument.parse(input) }
                    try signer.sign(docs)
                    for d in docs { last = d.serialized() }
                }
                batchCounter += 1
            }),
            ("parse+verify", { try XMLSignature.verify(XMLDocument.parse(signed), trusting: node.certificate) }),
            ("evp verify", { XCTAssertTrue(node.key.verify(signature: derSignature, over: input)) }),
        ])
        let evp = r["evp"]!, pipeline = r["parse+sign+serialize"]!
        let added = 1 / pipeline - 1 / r["parse+serialize"]!
        print(String(format: "in batches of 100: parse+sign+serialize %.0f/s (%.0f%% of EVP sign)",
                     r["batched"]!, 100 * r["batched"]! / evp))
        print(String(format: "ECDSA P-256, one core: EVP sign %.0f/s; parse+sign+serialize %.0f/s (%.0f%% of EVP sign); "
                     + "signing adds %.1f µs to parse+serialize, %.2f× a bare EVP sign; parse+verify %.0f/s; EVP verify %.0f/s",
                     evp, pipeline, 100 * pipeline / evp, added * 1e6, added * evp, r["parse+verify"]!, r["evp verify"]!))
        try XMLSignature.verify(XMLDocument.parse(last), trusting: node.certificate)
    }
}



