import CLibXML2
import Foundation

/// Exclusive XML Canonicalization 1.0 without comments, written directly from a libxml2 tree into
/// one byte buffer: the signing path's digest.
///
/// libxml2's `xmlC14NExecute` allocates for every attribute list, namespace stack and escaped
/// string, and costs about as much as the ECDSA signature itself on a case message. This walk does
/// the same job without per-node allocations. It is used only to *make* signatures: verification
/// always uses libxml2's C14N, so a divergence here could only produce a signature that peers
/// refuse, never make a forged document verify. Debug builds compare every result with libxml2's;
/// the tests compare them over generated documents. Anything outside what Stafett parses (entity
/// references, DTD nodes, XInclude markers, relative namespace URIs) returns nil, and the caller
/// falls back to libxml2 (which reports the relative URIs as errors).
struct FastCanonicalizer {
    private var out: [UInt8] = []
    /// Namespace bindings rendered on output ancestors: (prefix, URI), innermost last. The prefix
    /// is empty for the default namespace.
    private var rendered: [(prefix: [UInt8], uri: [UInt8])] = []

    private init() {
        out.reserveCapacity(4096)
        rendered.reserveCapacity(16)
    }

    /// The canonical bytes of the whole of `doc` (as for `Reference URI=""` before a signature is
    /// added), or nil when the tree holds something this walk does not handle.
    static func canonicalize(_ doc: xmlDocPtr) -> [UInt8]? {
        var c = FastCanonicalizer()
        let root = xmlDocGetRootElement(doc)
        var seenRoot = false
        var node = doc.pointee.children
        while let n = node {
            switch n.pointee.type {
            case XML_ELEMENT_NODE:
                guard c.element(n) else { return nil }
                seenRoot = true
            case XML_PI_NODE:
                // Outside the document element, a PI is separated from it by a line feed.
                if seenRoot { c.out.append(0x0A) }
                c.processingInstruction(n)
                if !seenRoot { c.out.append(0x0A) }
            case XML_COMMENT_NODE:
                break
            default:
                return nil
            }
            node = n.pointee.next
        }
        return seenRoot && root != nil ? c.out : nil
    }

    // MARK: - Nodes

    private mutating func element(_ e: xmlNodePtr) -> Bool {
        // libxml2 fails on any relative namespace URI declared here, used or not. Rather than
        // re-implement its URI parser, leave anything but a plain absolute URI to libxml2.
        var def = e.pointee.nsDef
        while let d = def {
            if let href = d.pointee.href, href.pointee != 0,
               !Self.isPlainAbsoluteURI(UnsafeBufferPointer(start: href, count: strlen(href))) { return false }
            def = d.pointee.next
        }
        let mark = rendered.count
        defer { rendered.removeSubrange(mark...) }

        out.append(0x3C)  // <
        appendQName(e.pointee.ns, e.pointee.name)

        // Namespace nodes: those this element visibly utilizes (its own prefix, its attributes'
        // prefixes) and that no output ancestor has rendered with the same URI.
        var declarations: [(prefix: [UInt8], uri: [UInt8])] = []
        func utilize(_ ns: xmlNsPtr?) -> Bool {
            var prefix: [UInt8] = [], uri: [UInt8] = []
            if let ns {
                if let p = ns.pointee.prefix {
                    prefix = bytes(p)
                    if prefix == Self.xmlPrefix { return true }
                }
                uri = ns.pointee.href.map(bytes) ?? []
            }
            let current = rendered.last { $0.prefix == prefix }?.uri ?? []
            // The empty default namespace is in effect until something else is rendered.
            if current == uri { return true }
            if !declarations.contains(where: { $0.prefix == prefix }) { declarations.append((prefix, uri)) }
            return true
        }
        guard utilize(e.pointee.ns) else { return false }
        var attr = e.pointee.properties
        var attributes: [xmlAttrPtr] = []
        while let a = attr {
            if let ns = a.pointee.ns, ns.pointee.prefix != nil { guard utilize(ns) else { return false } }
            attributes.append(a)
            attr = a.pointee.next
        }
        declarations.sort { $0.prefix.lexicographicallyPrecedes($1.prefix) }
        for d in declarations {
            out.append(contentsOf: d.prefix.isEmpty ? Self.xmlnsDefault : Self.xmlnsPrefixed)
            out.append(contentsOf: d.prefix)
            out.append(contentsOf: Self.equalsQuote)
            escapeAttribute(d.uri)
            out.append(0x22)
            rendered.append(d)
        }

        // Attributes in order of (namespace URI, local name).
        if attributes.count > 1 {
            attributes.sort { a, b in
                let ua = a.pointee.ns?.pointee.href.map(bytes) ?? [], ub = b.pointee.ns?.pointee.href.map(bytes) ?? []
                if ua != ub { return ua.lexicographicallyPrecedes(ub) }
                return bytes(a.pointee.name).lexicographicallyPrecedes(bytes(b.pointee.name))
            }
        }
        for a in attributes {
            out.append(0x20)
            appendQName(a.pointee.ns, a.pointee.name)
            out.append(contentsOf: Self.equalsQuote)
            var child = a.pointee.children
            while let c = child {
                guard c.pointee.type == XML_TEXT_NODE else { return false }
                if let content = c.pointee.content { escapeAttribute(UnsafeBufferPointer(start: content, count: strlen(content))) }
                child = c.pointee.next
            }
            out.append(0x22)
        }
        out.append(0x3E)  // >

        var child = e.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE:
                guard element(c) else { return false }
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = c.pointee.content { escapeText(UnsafeBufferPointer(start: content, count: strlen(content))) }
            case XML_PI_NODE:
                processingInstruction(c)
            case XML_COMMENT_NODE:
                break
            default:
                return false
            }
            child = c.pointee.next
        }
        out.append(contentsOf: Self.endTagOpen)
        appendQName(e.pointee.ns, e.pointee.name)
        out.append(0x3E)
        return true
    }

    private mutating func processingInstruction(_ n: xmlNodePtr) {
        out.append(contentsOf: Self.piOpen)
        if let name = n.pointee.name { out.append(contentsOf: UnsafeBufferPointer(start: name, count: strlen(name))) }
        if let content = n.pointee.content, content.pointee != 0 {
            out.append(0x20)
            // Only "\r" needs escaping in PI data.
            for b in UnsafeBufferPointer(start: content, count: strlen(content)) {
                if b == 0x0D { out.append(contentsOf: Self.crRef) } else { out.append(b) }
            }
        }
        out.append(contentsOf: Self.piClose)
    }

    // MARK: - Output helpers

    private mutating func appendQName(_ ns: xmlNsPtr?, _ name: UnsafePointer<xmlChar>?) {
        if let p = ns?.pointee.prefix {
            out.append(contentsOf: UnsafeBufferPointer(start: p, count: strlen(p)))
            out.append(0x3A)
        }
        if let name { out.append(contentsOf: UnsafeBufferPointer(start: name, count: strlen(name))) }
    }

    private mutating func escapeText<C: Collection>(_ s: C) where C.Element == UInt8 {
        for b in s {
            switch b {
            case 0x26: out.append(contentsOf: Self.ampRef)
            case 0x3C: out.append(contentsOf: Self.ltRef)
            case 0x3E: out.append(contentsOf: Self.gtRef)
            case 0x0D: out.append(contentsOf: Self.crRef)
            default: out.append(b)
            }
        }
    }

    private mutating func escapeAttribute<C: Collection>(_ s: C) where C.Element == UInt8 {
        for b in s {
            switch b {
            case 0x26: out.append(contentsOf: Self.ampRef)
            case 0x3C: out.append(contentsOf: Self.ltRef)
            case 0x22: out.append(contentsOf: Self.quotRef)
            case 0x09: out.append(contentsOf: Self.tabRef)
            case 0x0A: out.append(contentsOf: Self.lfRef)
            case 0x0D: out.append(contentsOf: Self.crRef)
            default: out.append(b)
            }
        }
    }

    private func bytes(_ p: UnsafePointer<xmlChar>) -> [UInt8] { Array(UnsafeBufferPointer(start: p, count: strlen(p))) }

    /// `scheme ":" rest`, with the scheme as RFC 3986 spells it and the rest in URI characters only.
    private static func isPlainAbsoluteURI(_ uri: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = uri.first, (first | 0x20) >= 0x61, (first | 0x20) <= 0x7A else { return false }
        var inScheme = true
        for b in uri.dropFirst() {
            let alnum = ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A) || (b >= 0x30 && b <= 0x39)
            if inScheme {
                if b == 0x3A { inScheme = false; continue }
                guard alnum || b == 0x2B || b == 0x2D || b == 0x2E else { return false }
            } else {
                guard alnum || uriPunctuation.contains(b) else { return false }
            }
        }
        return !inScheme
    }

    private static let uriPunctuation = Set(Array("-._~:/?#[]@!$&'()*+,;=%".utf8))
    private static let xmlPrefix = Array("xml".utf8)
    private static let xmlnsDefault = Array(" xmlns".utf8)
    private static let xmlnsPrefixed = Array(" xmlns:".utf8)
    private static let equalsQuote = Array("=\"".utf8)
    private static let endTagOpen = Array("</".utf8)
    private static let piOpen = Array("<?".utf8)
    private static let piClose = Array("?>".utf8)
    private static let ampRef = Array("&amp;".utf8)
    private static let ltRef = Array("&lt;".utf8)
    private static let gtRef = Array("&gt;".utf8)
    private static let quotRef = Array("&quot;".utf8)
    private static let tabRef = Array("&#x9;".utf8)
    private static let lfRef = Array("&#xA;".utf8)
    private static let crRef = Array("&#xD;".utf8)
}
