import Foundation
import XCTest
@testable import StafettTransport

final class HTTPParserTests: XCTestCase {
    let limits = HTTPLimits(maxHeaderBytes: 1024, maxHeaderCount: 8, maxBodyBytes: 1000)

    func scan(_ text: String) -> HeadScan<RequestHead> {
        var from = 0
        return Array(text.utf8).withUnsafeBytes { HTTPParser.scanRequest($0, scanFrom: &from, limits: limits) }
    }

    func head(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> RequestHead? {
        guard case let .complete(h, length) = scan(text) else { XCTFail("not complete: \(scan(text))", file: file, line: line); return nil }
        XCTAssertEqual(length, text.utf8.count, file: file, line: line)
        return h
    }

    func refusal(_ text: String) -> Int? {
        if case let .refused(r) = scan(text) { return r.status }
        return nil
    }

    func testParsesAStrictRequest() throws {
        let h = try XCTUnwrap(head("POST /v1/messages?a=b HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nX-Tab:\t v \t\r\nExpect: 100-continue\r\nConnection: keep-alive, Close\r\n\r\n"))
        XCTAssertEqual(h.method, "POST")
        XCTAssertEqual(h.target, "/v1/messages?a=b")
        XCTAssertEqual(h.contentLength, 12)
        XCTAssertEqual(h.headers["x-tab"], "v")
        XCTAssertTrue(h.expectContinue)
        XCTAssertTrue(h.wantsClose)
        XCTAssertEqual(head("GET / HTTP/1.1\r\nHost: x\r\n\r\n")?.wantsClose, false)
    }

    func testIncompleteHeadWaitsForMore() {
        guard case .incomplete = scan("GET / HTTP/1.1\r\nHost: x\r\n") else { return XCTFail() }
        guard case .incomplete = scan("GET / HTTP/1.1\r\nHost: x\r\n\r") else { return XCTFail() }
    }

    func testScanResumesWhereItStopped() {
        let text = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        var from = 0
        for n in 1..<text.count {
            let r = text.prefix(n).withUnsafeBytes { HTTPParser.scanRequest($0, scanFrom: &from, limits: limits) }
            guard case .incomplete = r else { return XCTFail("complete after \(n) bytes") }
        }
        guard case .complete = text.withUnsafeBytes({ HTTPParser.scanRequest($0, scanFrom: &from, limits: limits) }) else {
            return XCTFail()
        }
    }

    func testRefusesMalformedFraming() {
        XCTAssertEqual(refusal("GET / HTTP/1.1\nHost: x\r\n\r\n"), 400, "bare LF")
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n"), 400, "bare CR")
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n  folded\r\n\r\n"), 400, "obs-fold")
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400, "space before colon")
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\nX: a\u{1}b\r\n\r\n"), 400, "control character")
        XCTAssertEqual(refusal("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "double space")
        XCTAssertEqual(refusal("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "absolute form")
        XCTAssertEqual(refusal("GET / HTTP/1.0\r\nHost: x\r\n\r\n"), 505)
        XCTAssertEqual(refusal("GET / HTTP/2\r\nHost: x\r\n\r\n"), 505)
        XCTAssertEqual(refusal("GET / FOO\r\nHost: x\r\n\r\n"), 400)
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\n\r\n"), 400, "no Host")
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"), 400, "two Hosts")
        XCTAssertEqual(refusal("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "leading empty line")
    }

    func testRefusesSmugglingShapes() {
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), 400)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n"), 400)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"), 400)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n"), 400)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), 411)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n"), 417)
    }

    func testLimits() {
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"), 413)
        XCTAssertNotNil(head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"))
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400)
        let many = (0..<8).map { "X-\($0): v\r\n" }.joined()
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\n\(many)\r\n"), 431)
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "a", count: 1100))"), 431, "no end in sight")
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "a", count: 1100))\r\n\r\n"), 431)
    }

    func testResponseSerializationDropsInjectedHeadersAndSetsLength() {
        var r = HTTPResponse(status: 200, body: Data("abc".utf8))
        r.headers.add("X-Ok", "1")
        r.headers.add("X-Bad", "a\r\nSet-Cookie: x")
        r.headers.add("Content-Length", "99")
        let text = String(decoding: HTTPParser.serialize(r, close: true), as: UTF8.self)
        XCTAssertEqual(text, "HTTP/1.1 200 OK\r\nX-Ok: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    }

    func testResponseParsing() throws {
        var from = 0
        let text = Array("HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody".utf8)
        guard case let .complete(h, length) = text.withUnsafeBytes({ HTTPParser.scanResponse($0, scanFrom: &from, limits: limits) }) else {
            return XCTFail()
        }
        XCTAssertEqual(h.status, 413)
        XCTAssertEqual(h.reason, "Content Too Large")
        XCTAssertEqual(h.contentLength, 4)
        XCTAssertTrue(h.wantsClose)
        XCTAssertEqual(length, text.count - 4)
    }

    func testRequestSerializationRefusesInjection() {
        XCTAssertNil(HTTPParser.serialize(HTTPRequest(method: "GET", target: "/a b"), host: "h"))
        XCTAssertNil(HTTPParser.serialize(HTTPRequest(method: "GET", target: "/", headers: ["X": "a\nb"]), host: "h"))
        let ok = HTTPParser.serialize(HTTPRequest(method: "POST", target: "/m", body: Data("x".utf8)), host: "h:1")
        XCTAssertEqual(ok.map { String(decoding: $0, as: UTF8.self) }, "POST /m HTTP/1.1\r\nHost: h:1\r\nContent-Length: 1\r\n\r\nx")
    }

    func testRoutingHelpers() {
        let req = HTTPRequest(method: "DELETE", target: "/v1/messages?x")
        XCTAssertEqual(req.path, "/v1/messages")
        XCTAssertEqual(req.query, "x")
        let r = HTTPResponse.methodNotAllowed(req, allowed: ["POST"])
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.headers["allow"], "POST")
        XCTAssertEqual(HTTPResponse.notFound(req).status, 404)
    }
}
