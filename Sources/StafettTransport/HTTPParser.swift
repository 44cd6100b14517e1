import Foundation

/// The head of a request, parsed strictly (RFC 9112), before its body is read.
struct RequestHead {
    var method: String
    var target: String
    var headers: HTTPHeaders
    var contentLength: Int
    var expectContinue: Bool
    var wantsClose: Bool
}

/// The head of a response, parsed on the client.
struct ResponseHead {
    var status: Int
    var reason: String
    var headers: HTTPHeaders
    /// nil: the body runs to the end of the connection.
    var contentLength: Int?
    var wantsClose: Bool
}

/// A request the server refuses before its handler sees it; always answered with
/// `Connection: close`, since the framing of anything after it cannot be trusted.
struct HTTPRefusal: Error, Equatable {
    var status: Int
    var message: String
    /// The request target, when the head was readable (a body over the limit).
    var target: String? = nil
}

enum HeadScan<Head> {
    case incomplete
    case complete(Head, headLength: Int)
    case refused(HTTPRefusal)
}

/// Strict HTTP/1.1 parsing on bytes.
///
/// Refused (status in brackets): lines not ended by CRLF, bare CR or LF [400]; obs-fold [400];
/// whitespace before a colon [400]; control characters [400]; a version other than HTTP/1.1
/// [505]; a missing or repeated Host [400]; a repeated, non-numeric or comma-listed
/// Content-Length [400]; Transfer-Encoding with Content-Length [400]; Transfer-Encoding
/// chunked [411: send Content-Length] or any other coding [501]; Expect other than
/// 100-continue [417]; too many or too large headers [431]; a body over the limit [413].
enum HTTPParser {

    /// Index just past the blank line that ends the head, searching from `scanFrom` (so a
    /// head trickling in byte by byte is not rescanned each time); -1 at the first bare LF,
    /// which is refused at once rather than waited on.
    static func headEnd(_ bytes: UnsafeRawBufferPointer, scanFrom: inout Int) -> Int? {
        let n = bytes.count
        var i = scanFrom
        while i < n {
            if bytes[i] == 10 {
                guard i > 0, bytes[i - 1] == 13 else { return -1 }
                if i >= 3, bytes[i - 2] == 10, bytes[i - 3] == 13 { return i + 1 }
            }
            i += 1
        }
        scanFrom = n
        return nil
    }

    static let bareLF = HTTPRefusal(status: 400, message: "lines must end with CRLF, not a bare LF")

    static func scanRequest(_ bytes: UnsafeRawBufferPointer, scanFrom: inout Int, limits: HTTPLimits) -> HeadScan<RequestHead> {
        guard let end = headEnd(bytes, scanFrom: &scanFrom) else {
            if bytes.count > limits.maxHeaderBytes {
                return .refused(HTTPRefusal(status: 431, message: "request headers exceed \(limits.maxHeaderBytes) bytes"))
            }
            return .incomplete
        }
        if end < 0 { return .refused(bareLF) }
        if end > limits.maxHeaderBytes {
            return .refused(HTTPRefusal(status: 431, message: "request headers exceed \(limits.maxHeaderBytes) bytes"))
        }
        switch parseRequestHead(UnsafeRawBufferPointer(rebasing: bytes[0..<end]), limits: limits) {
        case let .success(head): return .complete(head, headLength: end)
        case let .failure(refusal): return .refused(refusal)
        }
    }

    static func scanResponse(_ bytes: UnsafeRawBufferPointer, scanFrom: inout Int, limits: HTTPLimits) -> HeadScan<ResponseHead> {
        guard let end = headEnd(bytes, scanFrom: &scanFrom) else {
            if bytes.count > limits.maxHeaderBytes {
                return .refused(HTTPRefusal(status: 0, message: "response headers exceed \(limits.maxHeaderBytes) bytes"))
            }
            return .incomplete
        }
        if end < 0 { return .refused(HTTPRefusal(status: 0, message: bareLF.message)) }
        switch parseResponseHead(UnsafeRawBufferPointer(rebasing: bytes[0..<end]), limits: limits) {
        case let .success(head): return .complete(head, headLength: end)
        case let .failure(refusal): return .refused(refusal)
        }
    }

    /// Splits a head (ending in CRLF CRLF) into lines; nil if a CR or LF stands alone.
    static func lines(_ head: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer]? {
        var out: [UnsafeRawBufferPointer] = []
        var start = 0
        var i = 0
        while i < head.count {
            let b = head[i]
            if b == 13 {
                guard i + 1 < head.count, head[i + 1] == 10 else { return nil }
                out.append(UnsafeRawBufferPointer(rebasing: head[start..<i]))
                i += 2
                start = i
                continue
            }
            if b == 10 { return nil }
            i += 1
        }
        if out.last?.isEmpty == true { out.removeLast() }
        return out
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    static func isToken<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        !bytes.isEmpty && bytes.allSatisfy(isTokenByte)
    }

    static func string(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Parses header lines (all but the first line) into fields.
    static func parseFields(_ lines: ArraySlice<UnsafeRawBufferPointer>, limits: HTTPLimits) -> Result<HTTPHeaders, HTTPRefusal> {
        if lines.count > limits.maxHeaderCount {
            return .failure(HTTPRefusal(status: 431, message: "more than \(limits.maxHeaderCount) header fields"))
        }
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(lines.count)
        for line in lines {
            guard let first = line.first else { continue }
            if first == 0x20 || first == 0x09 {
                return .failure(HTTPRefusal(status: 400, message: "obsolete line folding in headers is not accepted"))
            }
            guard let colon = line.firstIndex(of: 0x3A) else {
                return .failure(HTTPRefusal(status: 400, message: "header line without a colon"))
            }
            let name = UnsafeRawBufferPointer(rebasing: line[0..<colon])
            guard isToken(name) else {
                return .failure(HTTPRefusal(status: 400, message: "invalid header name (whitespace before the colon?)"))
            }
            var lo = colon + 1, hi = line.count
            while lo < hi, line[lo] == 0x20 || line[lo] == 0x09 { lo += 1 }
            while hi > lo, line[hi - 1] == 0x20 || line[hi - 1] == 0x09 { hi -= 1 }
            let value = UnsafeRawBufferPointer(rebasing: line[lo..<hi])
            guard value.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else {
                return .failure(HTTPRefusal(status: 400, message: "control character in header \(string(name))"))
            }
            fields.append((string(name), string(value)))
        }
        return .success(HTTPHeaders(fields))
    }

    /// Content-Length as 1*DIGIT, at most once.
    static func contentLength(_ headers: HTTPHeaders) -> Result<Int?, HTTPRefusal> {
        let values = headers.values(for: "Content-Length")
        guard let v = values.first else { return .success(nil) }
        guard values.count == 1 else {
            return .failure(HTTPRefusal(status: 400, message: "more than one Content-Length"))
        }
        guard !v.isEmpty, v.utf8.count <= 15, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(v) else {
            return .failure(HTTPRefusal(status: 400, message: "Content-Length must be one decimal number"))
        }
        return .success(n)
    }

    static func connectionClose(_ headers: HTTPHeaders) -> Bool {
        headers.values(for: "Connection").contains { v in
            v.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
    }

    static func parseRequestHead(_ head: UnsafeRawBufferPointer, limits: HTTPLimits) -> Result<RequestHead, HTTPRefusal> {
        guard let lines = lines(head), let requestLine = lines.first else {
            return .failure(HTTPRefusal(status: 400, message: "lines must end with CRLF"))
        }
        let parts = requestLine.split(separator: 0x20, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            return .failure(HTTPRefusal(status: 400, message: "the request line must be METHOD SP target SP HTTP/1.1"))
        }
        let method = parts[0], target = parts[1], version = parts[2]
        guard isToken(method) else { return .failure(HTTPRefusal(status: 400, message: "invalid method")) }
        guard target.first == 0x2F || (target.elementsEqual([0x2A]) && method.elementsEqual("OPTIONS".utf8)),
              target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(HTTPRefusal(status: 400, message: "the request target must be a path starting with /"))
        }
        guard version.elementsEqual("HTTP/1.1".utf8) else {
            if version.starts(with: "HTTP/".utf8) {
                return .failure(HTTPRefusal(status: 505, message: "only HTTP/1.1 is spoken here"))
            }
            return .failure(HTTPRefusal(status: 400, message: "the request line must end with HTTP/1.1"))
        }
        let headers: HTTPHeaders
        switch parseFields(lines.dropFirst(), limits: limits) {
        case let .success(h): headers = h
        case let .failure(r): return .failure(r)
        }
        guard headers.values(for: "Host").count == 1 else {
            return .failure(HTTPRefusal(status: 400, message: "an HTTP/1.1 request needs exactly one Host header"))
        }
        let length: Int?
        switch contentLength(headers) {
        case let .success(n): length = n
        case let .failure(r): return .failure(r)
        }
        let codings = headers.values(for: "Transfer-Encoding")
        if !codings.isEmpty {
            if length != nil {
                return .failure(HTTPRefusal(status: 400, message: "Transfer-Encoding together with Content-Length is refused"))
            }
            let all = codings.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if all == ["chunked"] {
                return .failure(HTTPRefusal(status: 411, message: "chunked bodies are not accepted; send Content-Length"))
            }
            return .failure(HTTPRefusal(status: 501, message: "Transfer-Encoding is not supported; send Content-Length"))
        }
        let n = length ?? 0
        if n > limits.maxBodyBytes {
            return .failure(HTTPRefusal(status: 413, message: "the body of \(n) bytes exceeds the limit of \(limits.maxBodyBytes)",
                                        target: String(decoding: target, as: UTF8.self)))
        }
        var expectContinue = false
        let expectations = headers.values(for: "Expect")
        if !expectations.isEmpty {
            guard expectations.count == 1, expectations[0].lowercased() == "100-continue" else {
                return .failure(HTTPRefusal(status: 417, message: "only Expect: 100-continue is understood"))
            }
            expectContinue = true
        }
        return .success(RequestHead(method: string(UnsafeRawBufferPointer(rebasing: method)),
                                    target: string(UnsafeRawBufferPointer(rebasing: target)),
                                    headers: headers, contentLength: n, expectContinue: expectContinue,
                                    wantsClose: connectionClose(headers)))
    }

    static func parseResponseHead(_ head: UnsafeRawBufferPointer, limits: HTTPLimits) -> Result<ResponseHead, HTTPRefusal> {
        guard let lines = lines(head), let statusLine = lines.first else {
            return .failure(HTTPRefusal(status: 0, message: "lines must end with CRLF"))
        }
        let parts = statusLine.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].elementsEqual("HTTP/1.1".utf8) || parts[0].elementsEqual("HTTP/1.0".utf8),
              parts[1].count == 3, parts[1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let status = Int(string(UnsafeRawBufferPointer(rebasing: parts[1]))), status >= 100 else {
            return .failure(HTTPRefusal(status: 0, message: "malformed status line"))
        }
        let reason = parts.count == 3 ? string(UnsafeRawBufferPointer(rebasing: parts[2])) : ""
        let headers: HTTPHeaders
        switch parseFields(lines.dropFirst(), limits: limits) {
        case let .success(h): headers = h
        case let .failure(r): return .failure(HTTPRefusal(status: 0, message: r.message))
        }
        if !headers.values(for: "Transfer-Encoding").isEmpty {
            return .failure(HTTPRefusal(status: 0, message: "Transfer-Encoding in a response is not supported"))
        }
        var length: Int?
        switch contentLength(headers) {
        case let .success(n): length = n
        case let .failure(r): return .failure(HTTPRefusal(status: 0, message: r.message))
        }
        if status < 200 || status == 204 || status == 304 { length = 0 }
        if let n = length, n > limits.maxBodyBytes {
            return .failure(HTTPRefusal(status: 0, message: "the response body of \(n) bytes exceeds \(limits.maxBodyBytes)"))
        }
        return .success(ResponseHead(status: status, reason: reason, headers: headers, contentLength: length,
                                     wantsClose: connectionClose(headers) || parts[0].elementsEqual("HTTP/1.0".utf8)))
    }

    static func isValidFieldValue(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }
    }

    /// Status line, the handler's valid headers, Content-Length, and the body, in one buffer
    /// so that it leaves in as few TLS records and TCP segments as possible.
    /// A 1xx or 204 response has neither Content-Length nor body; the answer to HEAD keeps the
    /// length of the body it would have had but not the body (`bodyless`).
    static func serialize(_ r: HTTPResponse, close: Bool, bodyless: Bool = false) -> [UInt8] {
        let noContent = r.status < 200 || r.status == 204
        var head = "HTTP/1.1 \(r.status) \(r.reason.filter { $0 != "\r" && $0 != "\n" })\r\n"
        for (name, value) in r.headers {
            guard isToken(name.utf8), isValidFieldValue(value) else { continue }
            if name.caseInsensitiveEquals("Content-Length") || name.caseInsensitiveEquals("Connection")
                || name.caseInsensitiveEquals("Transfer-Encoding") { continue }
            head += "\(name): \(value)\r\n"
        }
        if !noContent { head += "Content-Length: \(r.body.count)\r\n" }
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        let withBody = !noContent && !bodyless
        var out = [UInt8]()
        out.reserveCapacity(head.utf8.count + (withBody ? r.body.count : 0))
        out.append(contentsOf: head.utf8)
        if withBody { out.append(contentsOf: r.body) }
        return out
    }

    /// The request as the client sends it; nil when the method, target or a header is invalid.
    static func serialize(_ r: HTTPRequest, host: String) -> [UInt8]? {
        guard isToken(r.method.utf8), r.target.first == "/", r.target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return nil
        }
        var head = "\(r.method) \(r.target) HTTP/1.1\r\n"
        if r.headers["Host"] == nil { head += "Host: \(host)\r\n" }
        for (name, value) in r.headers {
            guard isToken(name.utf8), isValidFieldValue(value) else { return nil }
            if name.caseInsensitiveEquals("Content-Length") || name.caseInsensitiveEquals("Transfer-Encoding") { continue }
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(r.body.count)\r\n\r\n"
        var out = [UInt8]()
        out.reserveCapacity(head.utf8.count + r.body.count)
        out.append(contentsOf: head.utf8)
        out.append(contentsOf: r.body)
        return out
    }
}
