import Foundation
import XCTest
@testable import StafettTransport

final class ThroughputTests: XCTestCase {
    /// 3 000-byte messages over 4 keep-alive connections: the transport must stay far from
    /// being the bottleneck of the ~3 400 msg/s end-to-end target (this asserts a floor that
    /// holds even in a debug build on a busy machine, and prints the rate).
    func testKeepAliveThroughputOfSmallMessages() throws {
        let pki = TestPKI.shared
        let server = try Harness.server(try pki.serverContext()) { request, _ in
            HTTPResponse(status: 200, headers: ["Content-Type": "application/xml"], body: request.body.prefix(600))
        }
        defer { server.stop() }
        let client = Harness.client(server, try pki.clientContext(), maxConnections: 4)
        let body = String(repeating: "x", count: 3000)
        _ = try client.send(Harness.post(body))
        let perWorker = 500, workers = 4
        let failures = Locked(0)
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            for _ in 0..<perWorker where (try? client.send(Harness.post(body)))?.status != 200 {
                failures.mutate { $0 += 1 }
            }
        }
        let rate = Double(perWorker * workers) / Date().timeIntervalSince(start)
        print("transport throughput: \(Int(rate)) requests/s (3000 B each, 4 connections)")
        XCTAssertEqual(failures.get(), 0)
        XCTAssertLessThanOrEqual(client.connectionsOpened, 4)
        XCTAssertGreaterThan(rate, 1000)
    }
}
