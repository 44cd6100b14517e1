import CLibXML2
import Foundation

/// The start tags, text and end tags of a document being written, handed to libxml2's schema
/// validator as its SAX callbacks, so a document Stafett writes itself is validated without
/// parsing it again (the role JAXP's `ValidatorHandler` plays for Java serializers).
///
/// Only `XMLWriter` emits these, from the same calls that write the bytes: element names are the
/// writer's static names, text is the value the escaped bytes decode to. Confined to the thread
/// of one `SchemaValidator.validateEvents` call.
struct SchemaEvents {
    fileprivate let sax: UnsafeMutablePointer<xmlSAXHandler>
    fileprivate let context: UnsafeMutableRawPointer
    /// The namespace every element of the document is in (the root declares it as the default).
    fileprivate let namespace: UnsafePointer<xmlChar>

    /// Element names reach libxml2 as C strings: static strings are stored NUL-terminated.
    @inline(__always) private static func name(_ s: StaticString) -> UnsafePointer<xmlChar> {
        assert(s.hasPointerRepresentation && s.utf8Start[s.utf8CodeUnitCount] == 0)
        return s.utf8Start
    }

    /// The root's start tag, declaring the document's namespace as the default one.
    func startRoot(_ element: StaticString) {
        var declaration: [UnsafePointer<xmlChar>?] = [nil, namespace]
        declaration.withUnsafeMutableBufferPointer { ns in
            sax.pointee.startElementNs?(context, Self.name(element), nil, namespace, 1, ns.baseAddress, 0, 0, nil)
        }
    }

    /// A start tag without attributes.
    func start(_ element: StaticString) {
        sax.pointee.startElementNs?(context, Self.name(element), nil, namespace, 0, nil, 0, 0, nil)
    }

    /// A start tag with one unqualified attribute whose (decoded) value is `value`.
    func start(_ element: StaticString, attribute: StaticString, value: UnsafeBufferPointer<UInt8>) {
        withStableBytes(value) { start, end in
            // SAX2 passes an attribute as (local name, prefix, URI, value start, value end).
            var attributes: [UnsafePointer<xmlChar>?] = [Self.name(attribute), nil, nil, start, end]
            attributes.withUnsafeMutableBufferPointer { a in
                sax.pointee.startElementNs?(context, Self.name(element), nil, namespace, 0, nil, 1, 0, a.baseAddress)
            }
        }
    }

    /// Character data, decoded (what the parser would report for the escaped bytes).
    func text(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        sax.pointee.characters?(context, base, Int32(bytes.count))
    }

    /// An end tag.
    func end(_ element: StaticString) {
        sax.pointee.endElementNs?(context, Self.name(element), nil, namespace)
    }

    /// Start and end pointers for `bytes`, valid even when it is empty (SAX2 needs both non-null).
    private func withStableBytes(_ bytes: UnsafeBufferPointer<UInt8>,
                                 _ body: (UnsafePointer<xmlChar>, UnsafePointer<xmlChar>) -> Void) {
        if let base = bytes.baseAddress {
            body(base, base + bytes.count)
        } else {
            let empty: StaticString = ""
            body(empty.utf8Start, empty.utf8Start)
        }
    }
}

extension SchemaValidator {
    /// What `validateEvents` found.
    enum EventVerdict: Equatable {
        /// The events describe a valid document.
        case valid
        /// They do not: libxml2's messages (without line numbers: there are no lines, only events).
        case invalid([String])
        /// libxml2 could not set the validator up; nothing was validated.
        case unavailable(String)
    }

    /// Runs `write` with a `SchemaEvents` feeding this schema's validator and returns what it
    /// returned with the verdict. Elements are in `namespace`. The validator is the thread's
    /// streaming one (see `validate(bytes:)`), so this costs the validation alone, no parsing.
    /// When libxml2 cannot set the validator up, `write` gets nil and the verdict says so.
    func validateEvents<T>(namespace: StaticString, _ write: (SchemaEvents?) -> T) -> (T, EventVerdict) {
        LibXML.ensureInitialized()
        let sink = SchemaErrorSink()
        let collector = XMLErrorCollector()
        let contexts = StreamContexts.forCurrentThread()
        return collector.capture { () -> (T, EventVerdict) in
            guard let vctx = contexts.validator(schemaPointer) else {
                return (write(nil), .unavailable("no validation context"))
            }
            xmlSchemaSetValidStructuredErrors(vctx, SchemaErrorSink.callback, Unmanaged.passUnretained(sink).toOpaque())
            defer { xmlSchemaSetValidStructuredErrors(vctx, nil, nil) }
            // With no SAX handler of the caller's to chain, the plug hands out libxml2's own
            // schema callbacks with the validation context as their user data.
            var sax: xmlSAXHandlerPtr? = nil
            var user: UnsafeMutableRawPointer? = nil
            guard let plug = xmlSchemaSAXPlug(vctx, &sax, &user), let sax, let user else {
                return (write(nil), .unavailable("the schema validator could not be plugged in"))
            }
            let result = write(SchemaEvents(sax: sax, context: user, namespace: namespace.utf8Start))
            xmlSchemaSAXUnplug(plug)
            let valid = xmlSchemaIsValid(vctx) == 1 && collector.messages.isEmpty
            withExtendedLifetime(sink) {}
            if valid { return (result, .valid) }
            let errors = sink.report + collector.messages
            return (result, .invalid(errors.isEmpty ? ["invalid"] : errors))
        }
    }
}
