import CLibXML2
import Foundation

/// Exclusive XML Canonicalization 1.0 without comments, written directly from a libxml2 tree into
/// one byte buffer: the signing path's digest.
///
/// libxml2's `xmlC14NExecute` allocates for every attribute list, namespace stack and escaped
/// string, and costs about as much as the ECDSA signature itself on a case message. This walk does
/// the same job without per-node allocations. Debug builds compare every result with libxml2's;
/// the tests compare them over generated documents. Anything outside what Stafett parses (entity
/// references, DTD nodes, XInclude markers, relative namespace URIs) returns nil, and the caller
/// falls back to libxml2 (which reports the relative URIs as errors).
///
/// The verifier digests with it too. What keeps a forgery out is not that these bytes equal
/// libxml2's but that they are a faithful serialization: every element, attribute and text node
/// written, names with the namespaces in effect, markup characters escaped, so that parsing the
/// output gives back the tree the decoders read. Two trees that read differently then never give
/// the same bytes, and a document verifies only if its content is the content that was signed.
/// Equality with libxml2 is what makes peers and xmlsec1 agree, and the verifier still asks
/// libxml2 when this walk declines or its digest does not match.
struct FastCanonicalizer {
    private var out: [UInt8] = []
    /// Namespace bindings rendered on output ancestors: (prefix, URI), innermost last. The prefix
    /// is empty for the default namespace.
    private var rendered: [(prefix: UnsafePointer<xmlChar>?, uri: UnsafePointer<xmlChar>?)] = []
    /// Per-element scratch space, reused: each element's namespaces and attributes are written
    /// before its children are visited, so one buffer serves every level.
    private var declarations: [(prefix: UnsafePointer<xmlChar>?, uri: UnsafePointer<xmlChar>?)] = []
    private var attributes: [xmlAttrPtr] = []
    /// An element left out with its subtree (the enveloped signature), or nil.
    private let excluded: xmlNodePtr?

    private init(excluding excluded: xmlNodePtr? = nil) {
        self.excluded = excluded
        out.reserveCapacity(4096)
        rendered.reserveCapacity(16)
    }

    /// The canonical bytes of the whole of `doc` (as for `Reference URI=""` before a signature is
    /// added), or without the element `excluded` and its subtree (the enveloped-signature
    /// transform), or nil when the tree holds something this walk does not handle.
    static func canonicalize(_ doc: xmlDocPtr, excluding excluded: xmlNodePtr? = nil) -> [UInt8]? {
        var c = FastCanonicalizer(excluding: excluded)
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

    /// The canonical bytes of the subtree at element `apex` in its document (what is signed of
    /// `SignedInfo`): exclusive C14N renders the namespaces the subtree utilizes and imports
    /// nothing else from the ancestors. Nil when the subtree holds something this walk does not
    /// handle, or an ancestor declares a namespace URI libxml2 would refuse (as it refuses the
    /// document then).
    static func canonicalize(subtree apex: xmlNodePtr) -> [UInt8]? {
        var ancestor = apex.pointee.parent
        while let a = ancestor, a.pointee.type == XML_ELEMENT_NODE {
            guard declaresPlainAbsoluteURIs(a) else { return nil }
            ancestor = a.pointee.parent
        }
        var c = FastCanonicalizer()
        return c.element(apex) ? c.out : nil
    }

    // MARK: - Nodes

    private mutating func element(_ e: xmlNodePtr) -> Bool {
        guard Self.declaresPlainAbsoluteURIs(e) else { return false }
        let mark = rendered.count
        defer { rendered.removeSubrange(mark...) }

        out.append(0x3C)  // <
        appendQName(e.pointee.ns, e.pointee.name)

        // Namespace nodes: those this element visibly utilizes (its own prefix, its attributes'
        // prefixes) and that no output ancestor has rendered with the same URI. Kept as pointers
        // into the tree, compared as strings with nil meaning "": no copies.
        declarations.removeAll(keepingCapacity: true)
        attributes.removeAll(keepingCapacity: true)
        utilize(e.pointee.ns)
        var attr = e.pointee.properties
        while let a = attr {
            if let ns = a.pointee.ns, ns.pointee.prefix != nil { utilize(ns) }
            attributes.append(a)
            attr = a.pointee.next
        }
        if declarations.count > 1 { declarations.sort { Self.less($0.prefix, $1.prefix) } }
        for d in declarations {
            if let prefix = d.prefix, prefix.pointee != 0 {
                out.append(contentsOf: Self.xmlnsPrefixed)
                out.append(contentsOf: Self.buffer(prefix))
            } else {
                out.append(contentsOf: Self.xmlnsDefault)
            }
            out.append(contentsOf: Self.equalsQuote)
            escape(Self.buffer(d.uri), attribute: true)
            out.append(0x22)
            rendered.append(d)
        }

        // Attributes in order of (namespace URI, local name).
        if attributes.count > 1 {
            attributes.sort { a, b in
                let ua = a.pointee.ns?.pointee.href, ub = b.pointee.ns?.pointee.href
                if !Self.same(ua, ub) { return Self.less(ua, ub) }
                return Self.less(a.pointee.name, b.pointee.name)
            }
        }
        for a in attributes {
            out.append(0x20)
            appendQName(a.pointee.ns, a.pointee.name)
            out.append(contentsOf: Self.equalsQuote)
            var child = a.pointee.children
            while let c = child {
                guard c.pointee.type == XML_TEXT_NODE else { return false }
                escape(Self.buffer(c.pointee.content), attribute: true)
                child = c.pointee.next
            }
            out.append(0x22)
        }
        out.append(0x3E)  // >

        var child = e.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE where c == excluded:
                // Left out of the output, but libxml2 refuses relative namespace URIs anywhere
                // in the document, so the walk must decline them here too.
                guard Self.subtreeDeclaresPlainAbsoluteURIs(c) else { return false }
            case XML_ELEMENT_NODE:
                guard element(c) else { return false }
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                escape(Self.buffer(c.pointee.content), attribute: false)
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

    /// Notes `ns` for rendering on the current element unless an output ancestor rendered the same
    /// binding. Nothing rendered for a prefix means the empty namespace ("") is in effect.
    private mutating func utilize(_ ns: xmlNsPtr?) {
        let prefix = ns?.pointee.prefix, uri = ns?.pointee.href
        if let prefix, strcmp(prefix, "xml") == 0 { return }
        var i = rendered.count - 1
        var current: UnsafePointer<xmlChar>? = nil
        while i >= 0 {
            if Self.same(rendered[i].prefix, prefix) { current = rendered[i].uri; break }
            i -= 1
        }
        if Self.same(current, uri) { return }
        for d in declarations where Self.same(d.prefix, prefix) { return }
        declarations.append((prefix, uri))
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

    /// Appends `s` escaped as C14N requires for text (`attribute` false) or attribute values,
    /// copying runs without special bytes in one piece.
    private mutating func escape(_ s: UnsafeBufferPointer<UInt8>, attribute: Bool) {
        var start = 0
        for i in 0..<s.count {
            let ref: [UInt8]
            switch s[i] {
            case 0x26: ref = Self.ampRef
            case 0x3C: ref = Self.ltRef
            case 0x0D: ref = Self.crRef
            case 0x3E where !attribute: ref = Self.gtRef
            case 0x22 where attribute: ref = Self.quotRef
            case 0x09 where attribute: ref = Self.tabRef
            case 0x0A where attribute: ref = Self.lfRef
            default: continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: s[start..<i]))
            out.append(contentsOf: ref)
            start = i + 1
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: s[start...]))
    }

    /// A NUL-terminated libxml2 string as a buffer (empty for nil).
    private static func buffer(_ p: UnsafePointer<xmlChar>?) -> UnsafeBufferPointer<UInt8> {
        guard let p else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: strlen(p))
    }

    /// String equality with nil meaning "".
    private static func same(_ a: UnsafePointer<xmlChar>?, _ b: UnsafePointer<xmlChar>?) -> Bool {
        if a == b { return true }
        guard let a, a.pointee != 0 else { return b == nil || b!.pointee == 0 }
        guard let b else { return false }
        return strcmp(a, b) == 0
    }

    /// strcmp order with nil meaning "".
    private static func less(_ a: UnsafePointer<xmlChar>?, _ b: UnsafePointer<xmlChar>?) -> Bool {
        guard let b, b.pointee != 0 else { return false }
        guard let a else { return true }
        return strcmp(a, b) < 0
    }


    /// libxml2 fails on any relative namespace URI declared on an element it walks, used or not.
    /// Rather than re-implement its URI parser, leave anything but a plain absolute URI to libxml2.
    private static func declaresPlainAbsoluteURIs(_ e: xmlNodePtr) -> Bool {
        var def = e.pointee.nsDef
        while let d = def {
            if let href = d.pointee.href, href.pointee != 0,
               !isPlainAbsoluteURI(UnsafeBufferPointer(start: href, count: strlen(href))) { return false }
            def = d.pointee.next
        }
        return true
    }

    /// ``declaresPlainAbsoluteURIs(_:)`` for `e` and every element below it.
    private static func subtreeDeclaresPlainAbsoluteURIs(_ e: xmlNodePtr) -> Bool {
        guard declaresPlainAbsoluteURIs(e) else { return false }
        var child = e.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE, !subtreeDeclaresPlainAbsoluteURIs(c) { return false }
            child = c.pointee.next
        }
        return true
    }

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
