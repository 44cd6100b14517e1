import CLibXML2
import Foundation
import StafettModel

/// The XML-DSig namespace; a trailing `ds:Signature` is skipped by the decoders.
let xmldsigNamespace: StaticString = "http://www.w3.org/2000/09/xmldsig#"

/// True when the NUL-terminated `a` equals the ASCII `b`.
@inline(__always)
func equalsC(_ a: UnsafePointer<xmlChar>?, _ b: StaticString) -> Bool {
    guard let a else { return false }
    return strcmp(UnsafeRawPointer(a).assumingMemoryBound(to: CChar.self),
                  UnsafeRawPointer(b.utf8Start).assumingMemoryBound(to: CChar.self)) == 0
}

/// `{namespace}name` of an element, for error messages.
func qualifiedName(_ node: xmlNodePtr) -> String {
    let local = XMLDocument.localName(of: node)
    guard let ns = XMLDocument.namespaceURI(of: node) else { return local }
    return "{\(ns)}\(local)"
}

/// True when `node` is the element `name` in `namespace`.
func isElement(_ node: xmlNodePtr, _ name: StaticString, in namespace: StaticString) -> Bool {
    node.pointee.type == XML_ELEMENT_NODE && equalsC(node.pointee.name, name)
        && equalsC(node.pointee.ns?.pointee.href, namespace)
}

/// Walks the element children of one element in document order, the way a sequence in the
/// schema reads: required and optional children by name, then nothing else. Errors name the
/// element path (`/CaseMessage/Child/DateOfBirth`). Text, comments and processing
/// instructions between elements are skipped; the schema decides whether they are allowed.
struct ElementReader {
    let path: String
    let namespace: StaticString
    private var next: xmlNodePtr?

    init(_ parent: xmlNodePtr, path: String, namespace: StaticString) {
        self.path = path
        self.namespace = namespace
        next = ElementReader.firstElement(from: parent.pointee.children)
    }

    private static func firstElement(from node: xmlNodePtr?) -> xmlNodePtr? {
        var n = node
        while let c = n, c.pointee.type != XML_ELEMENT_NODE { n = c.pointee.next }
        return n
    }

    /// The next child when it is `name`, consumed; nil otherwise (nothing consumed).
    mutating func optional(_ name: StaticString) -> xmlNodePtr? {
        guard let n = next, isElement(n, name, in: namespace) else { return nil }
        next = ElementReader.firstElement(from: n.pointee.next)
        return n
    }

    /// True when the next child is `name` (nothing consumed).
    func hasNext(_ name: StaticString) -> Bool {
        guard let n = next else { return false }
        return isElement(n, name, in: namespace)
    }

    /// The next child, which must be `name`.
    mutating func required(_ name: StaticString) throws(XMLError) -> xmlNodePtr {
        if let n = optional(name) { return n }
        let expected = "\(path)/\(name)"
        if let n = next {
            throw .content(path: expected, reason: "missing; found \(qualifiedName(n)) instead")
        }
        throw .content(path: expected, reason: "missing")
    }

    /// Requires that no element children are left, except one trailing `ds:Signature` when allowed.
    mutating func finish(allowSignature: Bool) throws(XMLError) {
        guard let n = next else { return }
        if allowSignature, isElement(n, "Signature", in: xmldsigNamespace),
           ElementReader.firstElement(from: n.pointee.next) == nil {
            next = nil
            return
        }
        throw .content(path: "\(path)/\(XMLDocument.localName(of: n))",
                       reason: "unexpected element \(qualifiedName(n))")
    }

    /// The text of a leaf element, fast for the usual single text node.
    static func text(_ node: xmlNodePtr) -> String {
        if let t = node.pointee.children, t.pointee.next == nil, t.pointee.type == XML_TEXT_NODE,
           let content = t.pointee.content {
            return String(cString: content)
        }
        if node.pointee.children == nil { return "" }
        return XMLDocument.text(of: node)
    }

    // MARK: typed leaves

    /// The required child `name` as text.
    mutating func string(_ name: StaticString) throws(XMLError) -> String {
        ElementReader.text(try required(name))
    }

    /// The optional child `name` as text.
    mutating func optionalString(_ name: StaticString) -> String? {
        optional(name).map(ElementReader.text)
    }

    /// Converts the text of `name` with a model initialiser; its `FieldError` becomes a content error.
    func convert<T>(_ text: String, _ name: StaticString,
                    _ make: (String) throws(FieldError) -> T) throws(XMLError) -> T {
        do {
            return try make(text)
        } catch {
            throw .content(path: "\(path)/\(name)", reason: error.reason)
        }
    }

    mutating func messageID(_ name: StaticString) throws(XMLError) -> MessageID {
        try convert(try string(name), name) { t throws(FieldError) in try MessageID(t) }
    }

    mutating func organisation(_ name: StaticString) throws(XMLError) -> OrganisationNumber {
        try convert(try string(name), name) { t throws(FieldError) in try OrganisationNumber(t) }
    }

    mutating func optionalOrganisation(_ name: StaticString) throws(XMLError) -> OrganisationNumber? {
        guard let t = optionalString(name) else { return nil }
        return try convert(t, name) { t throws(FieldError) in try OrganisationNumber(t) }
    }

    /// `text` without the leading and trailing XML white space that the schema's `collapse`
    /// facet ignores for xs:dateTime, xs:date and xs:boolean values.
    static func collapsed(_ text: String) -> String {
        let ws: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = text.first, let last = text.last, ws(first) || ws(last) else { return text }
        return String(text.drop(while: ws).reversed().drop(while: ws).reversed())
    }

    mutating func dateTime(_ name: StaticString) throws(XMLError) -> Date {
        let t = ElementReader.collapsed(try string(name))
        guard let d = XMLDateTime.parse(t) else {
            throw .content(path: "\(path)/\(name)",
                           reason: "not an xs:dateTime with a zone, like 2026-11-23T08:15:30.250Z")
        }
        return d
    }

    /// A required enumerated child, mapped through `T(rawValue:)`.
    mutating func enumeration<T: RawRepresentable>(_ name: StaticString, _ type: T.Type) throws(XMLError) -> T
        where T.RawValue == String {
        let t = try string(name)
        guard let v = T(rawValue: t) else {
            throw .content(path: "\(path)/\(name)", reason: "unknown value '\(t.prefix(40))'")
        }
        return v
    }

    /// An optional enumerated child.
    mutating func optionalEnumeration<T: RawRepresentable>(_ name: StaticString, _ type: T.Type) throws(XMLError) -> T?
        where T.RawValue == String {
        guard let t = optionalString(name) else { return nil }
        guard let v = T(rawValue: t) else {
            throw .content(path: "\(path)/\(name)", reason: "unknown value '\(t.prefix(40))'")
        }
        return v
    }

    /// Reader for the children of `node`, which this reader just returned as `name`.
    func child(_ node: xmlNodePtr, _ name: StaticString) -> ElementReader {
        ElementReader(node, path: "\(path)/\(name)", namespace: namespace)
    }
}

/// Checks that `doc`'s root is `name` in `namespace`.
func requireRoot(_ doc: XMLDocument, _ name: StaticString, in namespace: StaticString) throws(XMLError) -> xmlNodePtr {
    guard let root = xmlDocGetRootElement(doc.pointer) else {
        throw .content(path: "/", reason: "no root element")
    }
    guard isElement(root, name, in: namespace) else {
        throw .content(path: "/\(XMLDocument.localName(of: root))",
                       reason: "expected root element {\(namespace)}\(name), found \(qualifiedName(root))")
    }
    return root
}
