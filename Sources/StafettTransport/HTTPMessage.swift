import Foundation

/// Header fields in arrival order; names compare case-insensitively.
public struct HTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields as (name, value) pairs, names as given.
    public private(set) var fields: [(name: String, value: String)]

    /// Creates headers from pairs.
    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    /// Creates headers from a literal.
    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Every value of `name`.
    public func values(for name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// Appends a field.
    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// Replaces every field of `name` with one.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name, value))
    }

    /// Removes every field of `name`.
    public mutating func remove(_ name: String) { fields.removeAll { $0.name.caseInsensitiveEquals(name) } }

    /// Number of fields.
    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into h: inout Hasher) {
        for f in fields { h.combine(f.name); h.combine(f.value) }
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A) }
    }
}

/// Size limits for requests (server) and responses (client).
public struct HTTPLimits: Sendable, Hashable {
    /// Request or status line plus all header lines, in bytes (over it: 431).
    public var maxHeaderBytes: Int
    /// Number of header fields (over it: 431).
    public var maxHeaderCount: Int
    /// Body bytes (over it: 413 with `Connection: close`).
    public var maxBodyBytes: Int

    /// Defaults: 16 KiB of headers, 64 fields, 4 MiB of body.
    public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 64, maxBodyBytes: Int = 4 * 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A parsed HTTP/1.1 request with its whole body.
public struct HTTPRequest: Sendable, Hashable {
    /// The method, e.g. `POST` (case-sensitive, as HTTP defines it).
    public var method: String
    /// The request target in origin form: path and optional query, e.g. `/v1/messages?x=1`.
    public var target: String
    /// Header fields. On the server `Content-Length`, `Host` etc. are as received.
    public var headers: HTTPHeaders
    /// The body (empty when there is none).
    public var body: Data
    /// On the server: the client's `address:port`, for logs. Ignored when sending.
    public var remoteAddress: String?

    /// Creates a request. The client adds `Host` and `Content-Length` itself.
    public init(method: String, target: String, headers: HTTPHeaders = [:], body: Data = Data()) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    /// The path: the target up to any `?`.
    public var path: Substring { target.prefix { $0 != "?" } }

    /// The query after `?`, or nil.
    public var query: Substring? {
        guard let i = target.firstIndex(of: "?") else { return nil }
        return target[target.index(after: i)...]
    }
}

/// An HTTP response. The server adds `Content-Length` (and `Connection: close` when it closes).
public struct HTTPResponse: Sendable, Hashable {
    /// Status code, 100–599.
    public var status: Int
    /// Reason phrase; the standard one by default.
    public var reason: String
    /// Header fields. Fields with invalid names or values (CR, LF, NUL) are dropped when sent.
    public var headers: HTTPHeaders
    /// The body.
    public var body: Data
    /// Ask the server to close the connection after this response.
    public var closeConnection: Bool

    /// Creates a response.
    public init(status: Int, reason: String? = nil, headers: HTTPHeaders = [:], body: Data = Data(),
                closeConnection: Bool = false) {
        self.status = status
        self.reason = reason ?? HTTPResponse.standardReason(status)
        self.headers = headers
        self.body = body
        self.closeConnection = closeConnection
    }

    /// A plain-text response (UTF-8, with a trailing newline added if missing).
    public static func text(_ status: Int, _ text: String, closeConnection: Bool = false) -> HTTPResponse {
        let body = text.hasSuffix("\n") ? text : text + "\n"
        return HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"],
                            body: Data(body.utf8), closeConnection: closeConnection)
    }

    /// 404 for a path the handler does not serve.
    public static func notFound(_ request: HTTPRequest) -> HTTPResponse {
        text(404, "no resource at \(request.path)")
    }

    /// 405 with the `Allow` header a client needs.
    public static func methodNotAllowed(_ request: HTTPRequest, allowed: [String]) -> HTTPResponse {
        var r = text(405, "\(request.method) is not allowed on \(request.path); use \(allowed.joined(separator: ", "))")
        r.headers.set("Allow", allowed.joined(separator: ", "))
        return r
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// Reason phrases of the statuses this project uses.
    public static func standardReason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
