import CLibXML2
import Foundation

/// Why an XML document was refused, with what an operator needs to find it.
public enum XMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input is larger than the configured limit.
    case tooLarge(bytes: Int, limit: Int)
    /// The document declares a DOCTYPE; Stafett never accepts DTDs or entities.
    case doctypeForbidden
    /// The document is in an encoding (named) whose bytes the checks before parsing cannot read.
    case unsupportedEncoding(String)
    /// The input is not well-formed XML (or breaks a parser limit such as nesting depth).
    case notWellFormed(line: Int, message: String)
    /// The document nests deeper than the configured limit.
    case tooDeep(limit: Int)
    /// A start tag carries more attributes (namespace declarations included) than the configured limit.
    case tooManyAttributes(line: Int, limit: Int)
    /// The document is well-formed but not valid against the named schema.
    case schemaInvalid(schema: String, errors: [String])
    /// The document is valid XML but does not carry what the decoder needs.
    case content(path: String, reason: String)
    /// Canonicalization or serialization failed.
    case canonicalization(String)

    public var description: String {
        switch self {
        case let .tooLarge(bytes, limit): return "document is \(bytes) bytes, over the limit of \(limit)"
        case .doctypeForbidden: return "document has a DOCTYPE; DTDs and entities are not accepted"
        case let .unsupportedEncoding(name):
            return "document is encoded as \(name); only UTF-8 and ASCII-compatible encodings (US-ASCII, ISO-8859-n, windows-125n) are accepted: save it as UTF-8"
        case let .notWellFormed(line, message): return "not well-formed XML at line \(line): \(message)"
        case let .tooDeep(limit): return "document nests deeper than \(limit) elements"
        case let .tooManyAttributes(line, limit):
            return "start tag at line \(line) has more than \(limit) attributes (namespace declarations included); refused before parsing"
        case let .schemaInvalid(schema, errors): return "not valid against \(schema): " + errors.prefix(5).joined(separator: "; ")
        case let .content(path, reason): return "\(path): \(reason)"
        case let .canonicalization(message): return "canonicalization failed: \(message)"
        }
    }
}

/// Limits applied to every untrusted XML input.
public struct XMLLimits: Sendable, Hashable {
    /// Largest accepted document in bytes.
    public var maxBytes: Int
    /// Deepest accepted element nesting.
    public var maxDepth: Int
    /// Most attributes accepted on one element, namespace declarations included. libxml2 2.9
    /// checks each attribute against every earlier one, so this bounds a quadratic cost.
    public var maxAttributesPerElement: Int

    /// Creates limits.
    public init(maxBytes: Int = 4 << 20, maxDepth: Int = 64, maxAttributesPerElement: Int = 64) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxAttributesPerElement = maxAttributesPerElement
    }

    /// The defaults: 4 MiB, 64 levels, 64 attributes per element. A case message is a few
    /// kilobytes and about 6 levels deep; no element of either schema, ds:Signature included,
    /// carries more than two attributes.
    public static let `default` = XMLLimits()
}

/// Collects libxml2's structured errors for the current thread instead of letting them reach stderr.
final class XMLErrorCollector {
    var messages: [String] = []
    var firstLine = 0

    /// Runs `body` with this collector installed as the thread's structured error handler.
    func capture<T>(_ body: () throws -> T) rethrows -> T {
        // Restore whatever handler was installed before, so that captures nest (a caller's
        // collector keeps working after an inner parse or validation).
        let previousHandler = __xmlStructuredError().pointee
        let previousContext = __xmlStructuredErrorContext().pointee
        defer { xmlSetStructuredErrorFunc(previousContext, previousHandler) }
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        xmlSetStructuredErrorFunc(ctx) { ctx, error in
            guard let ctx, let error else { return }
            let me = Unmanaged<XMLErrorCollector>.fromOpaque(ctx).takeUnretainedValue()
            if me.messages.count < 20 {
                let msg = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
                me.messages.append(msg.trimmingCharacters(in: .whitespacesAndNewlines))
                if me.firstLine == 0 { me.firstLine = Int(error.pointee.line) }
            }
        }
        return try body()
    }
}

/// A parsed XML document that owns its libxml2 tree. Confined to one thread at a time.
///
/// Parsing is always safe for untrusted input: no network, no DTD loading, no entity
/// expansion, a refused DOCTYPE, a size limit, a depth limit, a limit on attributes per element,
/// and only encodings in which those byte-level checks see every `<`, `=` and quote.
public final class XMLDocument {
    /// The libxml2 document. Owned: freed in deinit. Package-wide for XML-DSig, which walks and extends the tree.
    package let pointer: xmlDocPtr

    private init(pointer: xmlDocPtr) { self.pointer = pointer }
    deinit { xmlFreeDoc(pointer) }

    /// Options for untrusted input: no network, no entity substitution, no DTD loading,
    /// no CDATA nodes (so C14N and our reader see text only), no blank-node pruning (C14N needs them).
    static let safeOptions: Int32 = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue
        | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)

    /// Parses untrusted bytes under `limits`.
    public static func parse(_ data: Data, limits: XMLLimits = .default) throws(XMLError) -> XMLDocument {
        try checkBeforeParsing(data, limits: limits)
        LibXML.ensureInitialized()
        let collector = XMLErrorCollector()
        let doc: xmlDocPtr? = collector.capture {
            data.withUnsafeBytes { raw -> xmlDocPtr? in
                guard let base = raw.baseAddress else { return nil }
                return xmlReadMemory(base.assumingMemoryBound(to: CChar.self), Int32(raw.count),
                                     "stafett:input", nil, safeOptions)
            }
        }
        guard let doc else {
            throw .notWellFormed(line: collector.firstLine, message: collector.messages.first ?? "empty document")
        }
        let result = XMLDocument(pointer: doc)
        // The DOCTYPE sniff above is a fast path; the tree is the authority.
        if doc.pointee.intSubset != nil || doc.pointee.extSubset != nil { throw .doctypeForbidden }
        guard let root = xmlDocGetRootElement(doc) else { throw .notWellFormed(line: 0, message: "no root element") }
        if depth(of: root, limit: limits.maxDepth) > limits.maxDepth { throw .tooDeep(limit: limits.maxDepth) }
        return result
    }

    /// The checks on the raw bytes that must pass before libxml2 sees them: size, an encoding the
    /// byte checks can read, DOCTYPE and attributes per element. Shared with
    /// `SchemaValidator.validate(bytes:)`.
    static func checkBeforeParsing(_ data: Data, limits: XMLLimits) throws(XMLError) {
        guard data.count <= limits.maxBytes else { throw .tooLarge(bytes: data.count, limit: limits.maxBytes) }
        if let name = unreadableEncoding(data) { throw .unsupportedEncoding(name) }
        if declaresDoctype(data) { throw .doctypeForbidden }
        if let tag = firstStartTag(withMoreAttributesThan: limits.maxAttributesPerElement, in: data) {
            throw .tooManyAttributes(line: line(at: tag, in: data), limit: limits.maxAttributesPerElement)
        }
    }

    /// Cheap scan for `<!DOCTYPE` before the parser runs, so hostile DTDs never reach it.
    static func declaresDoctype(_ data: Data) -> Bool {
        let needle = Array("<!DOCTYPE".utf8)
        return data.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress, raw.count >= needle.count else { return false }
            var from = 1
            // memchr finds each `!` quickly; most documents have none at all.
            while from < raw.count, let hit = memchr(base + from, 0x21, raw.count - from) {
                let i = hit - UnsafeMutableRawPointer(mutating: base) - 1
                from = i + 2
                guard raw[i] == 0x3C else { continue }
                guard i + needle.count <= raw.count else { return false }
                var match = true
                for j in 2..<needle.count where raw[i + j] & 0xDF != needle[j] & 0xDF { match = false; break }
                if match { return true }
            }
            return false
        }
    }

    /// Element depth, iteratively, stopping as soon as `limit` is passed.
    static func depth(of root: xmlNodePtr, limit: Int) -> Int {
        var maxDepth = 1
        var stack: [(xmlNodePtr, Int)] = [(root, 1)]
        while let (node, d) = stack.popLast() {
            if d > maxDepth { maxDepth = d; if d > limit { return d } }
            var child = node.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE { stack.append((c, d + 1)) }
                child = c.pointee.next
            }
        }
        return maxDepth
    }

    /// The root element.
    package var root: xmlNodePtr { xmlDocGetRootElement(pointer)! }

    /// The namespace URI of the root element, or nil: tells a case message from a receipt.
    public var rootNamespace: String? { XMLDocument.namespaceURI(of: root) }

    /// Exclusive XML canonicalization 1.0 (without comments) of the whole document.
    public func exclusiveCanonical() throws(XMLError) -> Data {
        try XMLDocument.canonicalize(doc: pointer, nodes: nil)
    }

    /// Exclusive C14N of `doc`, restricted to `nodes` when given (an XPath node set).
    private static func canonicalize(doc: xmlDocPtr, nodes: xmlNodeSetPtr?) throws(XMLError) -> Data {
        var out: UnsafeMutablePointer<xmlChar>? = nil
        let collector = XMLErrorCollector()
        let n = collector.capture {
            xmlC14NDocDumpMemory(doc, nodes, Int32(XML_C14N_EXCLUSIVE_1_0.rawValue), nil, 0, &out)
        }
        guard n >= 0, let out else { throw .canonicalization(collector.messages.first ?? "xmlC14NDocDumpMemory failed") }
        defer { stafett_xml_free(out) }
        return Data(bytes: out, count: Int(n))
    }

    /// Serializes the document as UTF-8 with an XML declaration.
    public func serialized() -> Data {
        var out: UnsafeMutablePointer<xmlChar>? = nil
        var size: Int32 = 0
        xmlDocDumpMemoryEnc(pointer, &out, &size, "UTF-8")
        guard let out else { return Data() }
        defer { stafett_xml_free(out) }
        return Data(bytes: out, count: Int(size))
    }
}

/// Reading libxml2 nodes: for the decoders here and for XML-DSig, never for callers outside the package.
extension XMLDocument {
    /// A node's text content.
    package static func text(of node: xmlNodePtr) -> String {
        guard let c = xmlNodeGetContent(node) else { return "" }
        defer { stafett_xml_free(c) }
        return String(cString: c)
    }

    /// A node's local name.
    package static func localName(of node: xmlNodePtr) -> String {
        node.pointee.name.map { String(cString: $0) } ?? ""
    }

    /// A node's namespace URI, or nil.
    package static func namespaceURI(of node: xmlNodePtr) -> String? {
        node.pointee.ns?.pointee.href.map { String(cString: $0) }
    }

    /// The element children of `node`, in document order.
    package static func elementChildren(of node: xmlNodePtr) -> [xmlNodePtr] {
        var result: [xmlNodePtr] = []
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE { result.append(c) }
            child = c.pointee.next
        }
        return result
    }

    /// An attribute value (no namespace), or nil.
    package static func attribute(_ name: String, of node: xmlNodePtr) -> String? {
        guard let v = xmlGetNoNsProp(node, name) else { return nil }
        defer { stafett_xml_free(v) }
        return String(cString: v)
    }
}
