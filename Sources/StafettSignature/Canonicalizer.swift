import CLibXML2
import Foundation
import StafettCrypto
import StafettXML

/// Exclusive C14N 1.0 (without comments) of a document, restricted by a subtree filter, handed to
/// the caller as bytes without copying.
///
/// libxml2's `xmlC14NExecute` asks a visibility callback about every node (elements, attributes,
/// text and namespace nodes); answering by subtree membership gives exactly the node sets of
/// XML-DSig: "the document minus the Signature element" (the enveloped-signature transform) and
/// "the SignedInfo subtree in its document context" (what xmlsec1 canonicalizes). No XPath, no
/// copies of the tree, no mutation, so a document can be verified while others read it.
enum Canonicalizer {
    /// Which nodes are visible.
    enum Filter {
        /// The whole document.
        case all
        /// Everything except `node` and its descendants (enveloped-signature transform).
        case excluding(xmlNodePtr)
        /// Only `node` and its descendants, with their namespace nodes.
        case only(xmlNodePtr)
    }

    /// What the C callback reads through `user_data`.
    private struct Context {
        var node: xmlNodePtr
        var include: Bool
    }

    /// Canonicalizes `doc` under `filter` and runs `body` over the bytes (valid only inside `body`).
    static func withCanonical<R>(_ doc: xmlDocPtr, _ filter: Filter,
                                 _ body: (UnsafeRawBufferPointer) -> R) throws(SignatureError) -> R {
        guard let buf = xmlAllocOutputBuffer(nil) else { throw .xml(.canonicalization("out of memory")) }
        defer { xmlOutputBufferClose(buf) }
        let mode = Int32(XML_C14N_EXCLUSIVE_1_0.rawValue)
        // Errors would otherwise go to stderr; the return code carries what we need.
        xmlSetStructuredErrorFunc(nil) { _, _ in }
        defer { xmlSetStructuredErrorFunc(nil, nil) }
        let rc: Int32
        switch filter {
        case .all:
            rc = xmlC14NExecute(doc, nil, nil, mode, nil, 0, buf)
        case let .excluding(node), let .only(node):
            var include = false
            if case .only = filter { include = true }
            var ctx = Context(node: node, include: include)
            rc = withUnsafeMutablePointer(to: &ctx) { p in
                xmlC14NExecute(doc, { user, node, parent -> Int32 in
                    guard let user else { return 1 }
                    let c = user.assumingMemoryBound(to: Context.self).pointee
                    return Canonicalizer.isInside(node, parent, c.node) == c.include ? 1 : 0
                }, p, mode, nil, 0, buf)
            }
        }
        guard rc >= 0 else { throw .xml(.canonicalization("xmlC14NExecute failed (\(rc))")) }
        let size = Int(xmlOutputBufferGetSize(buf))
        guard let content = xmlOutputBufferGetContent(buf) else {
            return body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return body(UnsafeRawBufferPointer(start: content, count: size))
    }

    /// The canonical bytes, copied.
    static func canonical(_ doc: xmlDocPtr, _ filter: Filter) throws(SignatureError) -> Data {
        try withCanonical(doc, filter) { Data($0) }
    }

    /// SHA-256 of the canonical bytes.
    static func digest(_ doc: xmlDocPtr, _ filter: Filter) throws(SignatureError) -> Data {
        try withCanonical(doc, filter) { SHA256.hash($0) }
    }

    /// Whether a node (given as libxml2 hands it to the callback: the node, and its parent element)
    /// is `root` or lies below it.
    ///
    /// Namespace nodes arrive as `xmlNs` cast to `xmlNodePtr` and attributes as `xmlAttr`; both are
    /// smaller than `xmlNode`, so only the leading fields shared by all of them are read, as raw loads.
    static func isInside(_ node: xmlNodePtr?, _ parent: xmlNodePtr?, _ root: xmlNodePtr) -> Bool {
        if let node, node == root, nodeType(node) != XML_NAMESPACE_DECL { return true }
        var p = parent
        while let q = p {
            if q == root { return true }
            p = parentField(q)
        }
        return false
    }

    /// `type` is the second pointer-sized field of `xmlNode`, `xmlAttr`, `xmlNs` and `xmlDoc` alike.
    private static func nodeType(_ node: xmlNodePtr) -> xmlElementType {
        UnsafeRawPointer(node).load(fromByteOffset: MemoryLayout<UnsafeRawPointer>.stride, as: xmlElementType.self)
    }

    /// `parent` sits at the same offset in `xmlNode`, `xmlAttr` and `xmlDoc`; we only call this on
    /// elements and the document (the chain above a parent element).
    private static func parentField(_ node: xmlNodePtr) -> xmlNodePtr? {
        UnsafeRawPointer(node).load(fromByteOffset: parentOffset, as: xmlNodePtr?.self)
    }

    private static let parentOffset = MemoryLayout<xmlNode>.offset(of: \xmlNode.parent)!
}
