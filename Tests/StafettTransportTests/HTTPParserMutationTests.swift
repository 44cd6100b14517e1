import Foundation
import XCTest
import StafettModel
@testable import StafettTransport

/// Heads that are almost right, made by mutating good ones: what a confused client, a proxy or an
/// attacker sends. No input may trap the parser, a head read byte by byte must get the verdict it
/// gets when read at once, and whatever is accepted must obey the strict rules the parser states.
final class HTTPParserMutationTests: XCTestCase {
    let limits = HTTPLimits(maxHeaderBytes: 1024, maxHeaderCount: 8, maxBodyBytes: 1 << 20)

    static let requests = [
        "POST /v1/messages HTTP/1.1\r\nHost: verket:8443\r\nContent-Type: application/xml\r\nContent-Length: 2653\r\n\r\n",
        "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\nX-Trace: a b\tc\r\n\r\n",
    ]
    static let responses = [
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 1421\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 31\r\n\r\n",
    ]
    /// Bytes that matter to HTTP framing, plus some that must never pass.
    static let interesting: [UInt8] = Array(" \t\r\n:,;=/0123456789-+".utf8) + [0, 1, 0x7F, 0x80, 0xC3, 0xFF]

    static func mutate(_ input: [UInt8], _ g: inout SplitMix64) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...4, using: &g) where !b.isEmpty {
            let i = Int.random(in: 0..<b.count, using: &g)
            switch Int.random(in: 0..<6, using: &g) {
            case 0: b[i] = interesting.randomElement(using: &g)!
            case 1: b.insert(interesting.randomElement(using: &g)!, at: i)
            case 2: b.remove(at: i)
            case 3: b[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &g)
            case 4: b.insert(contentsOf: b[i..<min(b.count, i + Int.random(in: 1...12, using: &g))], at: i)
            default: b = Array(b.prefix(i))
            }
        }
        return b
    }

    /// The verdict of one scan, as something comparable.
    enum Verdict: Equatable { case incomplete, complete(Int), refused(Int) }

    func verdict<H>(_ scan: HeadScan<H>) -> Verdict {
        switch scan {
        case .incomplete: return .incomplete
        case let .complete(_, length): return .complete(length)
        case let .refused(r): return .refused(r.status)
        }
    }

    /// The same bytes fed one at a time, resuming the scan each time, as a slow client sends them.
    func trickled<H>(_ bytes: [UInt8], _ scan: (UnsafeRawBufferPointer, inout Int) -> HeadScan<H>) -> Verdict {
        var from = 0
        for n in 1...max(1, bytes.count) {
            let v = verdict(Array(bytes.prefix(n)).withUnsafeBytes { scan($0, &from) })
            if v != .incomplete { return v }
        }
        return .incomplete
    }

    func testMutatedRequestHeadsNeverTrapAndReadTheSameByteByByte() {
        var g = SplitMix64(seed: 0x5354_4146_4554_5421)
        var outcomes: [String: Int] = [:]
        for round in 0..<6_000 {
            let input = Self.mutate(Array(Self.requests[round % Self.requests.count].utf8), &g)
            var from = 0
            let scan = input.withUnsafeBytes { HTTPParser.scanRequest($0, scanFrom: &from, limits: limits) }
            let whole = verdict(scan)
            XCTAssertEqual(trickled(input) { HTTPParser.scanRequest($0, scanFrom: &$1, limits: limits) }, whole,
                           "round \(round): \(String(decoding: input, as: UTF8.self).debugDescription)")
            switch scan {
            case .incomplete:
                outcomes["incomplete", default: 0] += 1
                XCTAssertNil(input.indices.first { i in input[i] == 10 && i > 2 && input[i - 2] == 10 },
                             "round \(round): waits for more although the head ended")
            case let .refused(r):
                outcomes["refused \(r.status)", default: 0] += 1
                XCTAssertTrue([400, 411, 413, 417, 431, 501, 505].contains(r.status), "round \(round): status \(r.status)")
                XCTAssertFalse(r.message.isEmpty)
            case let .complete(head, length):
                outcomes["complete", default: 0] += 1
                let text = input.prefix(length)
                XCTAssertTrue(text.starts(with: Array("\(head.method) \(head.target) HTTP/1.1\r\n".utf8)), "round \(round)")
                XCTAssertTrue(text.suffix(4).elementsEqual([13, 10, 13, 10]), "round \(round)")
                // Strictness: no byte the rules refuse survives into an accepted head.
                XCTAssertFalse(text.contains { ($0 < 0x20 && $0 != 9 && $0 != 13 && $0 != 10) || $0 == 0x7F }, "round \(round)")
                XCTAssertFalse(zip(text, text.dropFirst()).contains { ($0 == 13) != ($1 == 10) && ($0 == 13 || $1 == 10) },
                               "round \(round): a bare CR or LF was accepted")
                XCTAssertEqual(head.headers.values(for: "host").count, 1, "round \(round)")
                XCTAssertGreaterThanOrEqual(head.contentLength, 0)
                XCTAssertLessThanOrEqual(head.headers.fields.count, limits.maxHeaderCount)
                for f in head.headers.fields {
                    XCTAssertTrue(HTTPParser.isToken(Array(f.name.utf8)), "round \(round): field name \(f.name.debugDescription)")
                    XCTAssertTrue(HTTPParser.isValidFieldValue(f.value), "round \(round): value \(f.value.debugDescription)")
                }
            }
        }
        // The mutations must reach every branch, or this test proves little.
        for needed in ["complete", "incomplete", "refused 400"] {
            XCTAssertGreaterThan(outcomes[needed] ?? 0, 50, "\(needed): \(outcomes)")
        }
    }

    func testMutatedResponseHeadsNeverTrapAndReadTheSameByteByByte() {
        var g = SplitMix64(seed: 0x5245_4345_4950_5421)
        var completes = 0, refusals = 0
        for round in 0..<4_000 {
            let input = Self.mutate(Array(Self.responses[round % Self.responses.count].utf8), &g)
            var from = 0
            let scan = input.withUnsafeBytes { HTTPParser.scanResponse($0, scanFrom: &from, limits: limits) }
            XCTAssertEqual(trickled(input) { HTTPParser.scanResponse($0, scanFrom: &$1, limits: limits) }, verdict(scan),
                           "round \(round): \(String(decoding: input, as: UTF8.self).debugDescription)")
            switch scan {
            case let .complete(head, _):
                completes += 1
                XCTAssertTrue((100...999).contains(head.status), "round \(round): status \(head.status)")
                if let n = head.contentLength { XCTAssertGreaterThanOrEqual(n, 0) }
            case .refused: refusals += 1
            case .incomplete: break
            }
        }
        XCTAssertGreaterThan(completes, 50)
        XCTAssertGreaterThan(refusals, 50)
    }
}
