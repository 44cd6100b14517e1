import CLibXML2
import Foundation

extension SchemaValidator {
    /// Validates the XML in `bytes` against this schema while parsing it, without building a tree:
    /// libxml2's schema validator plugged into a SAX parser that has no handlers of its own.
    ///
    /// Same verdicts as `parseAndValidate`, for less work when only the verdict is needed (the
    /// sealing path, which signs the bytes it already has). The parser and validation contexts are
    /// kept per thread and reset between documents. The input is handled as untrusted: size
    /// limit, a refused DOCTYPE (so no DTD, no entities, nothing fetched), the attribute limit,
    /// only ASCII-compatible encodings, no network, libxml2's own nesting limit, and every parser
    /// or schema message routed to the structured handlers.
    /// Throws `.notWellFormed` for malformed input and `.schemaInvalid` for invalid input.
    public func validate(bytes: Data, limits: XMLLimits = .default) throws(XMLError) {
        try XMLDocument.checkBeforeParsing(bytes, limits: limits)
        guard !bytes.isEmpty else { throw .notWellFormed(line: 0, message: "empty document") }
        LibXML.ensureInitialized()
        let sink = SchemaErrorSink()
        let collector = FatalErrorCollector()
        let contexts = StreamContexts.forCurrentThread()
        let outcome: (wellFormed: Bool, valid: Bool)? = collector.capture {
            bytes.withUnsafeBytes { raw in
                contexts.run(schemaPointer, raw, sink: Unmanaged.passUnretained(sink).toOpaque())
            }
        }
        withExtendedLifetime(sink) {}
        guard let outcome else { throw .schemaInvalid(schema: name, errors: ["internal validation error"]) }
        if outcome.wellFormed && outcome.valid && collector.first == nil { return }
        // Well-formedness errors reach the thread's handler (the collector), schema errors the
        // sink; a document that is not well-formed is reported as such, as the tree parser would.
        if let fatal = collector.first { throw .notWellFormed(line: fatal.line, message: fatal.message) }
        if !outcome.wellFormed { throw .notWellFormed(line: 0, message: "not well-formed") }
        var errors = sink.report
        if errors.isEmpty { errors = ["invalid"] }
        throw .schemaInvalid(schema: name, errors: errors)
    }
}

/// One thread's push parser (with an empty SAX handler, so no tree is built) and validation
/// contexts, one per schema. Never shared: reached only through thread-local storage.
final class StreamContexts {
    private var parser: xmlParserCtxtPtr?
    private var validators: [xmlSchemaPtr: xmlSchemaValidCtxtPtr] = [:]

    /// Options as `XMLDocument.parse` uses them: no network, no entity substitution, no DTD loading.
    private static let options = XMLDocument.safeOptions
    /// The parser's dictionary keeps every element name and namespace it saw; start afresh past this.
    private static let dictionaryLimit = 4096

    deinit {
        if let parser { xmlFreeParserCtxt(parser) }
        for v in validators.values { xmlSchemaFreeValidCtxt(v) }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<StreamContexts>.fromOpaque(pointer).release()
        }
        return key
    }()

    static func forCurrentThread() -> StreamContexts {
        if let p = pthread_getspecific(key) { return Unmanaged<StreamContexts>.fromOpaque(p).takeUnretainedValue() }
        let made = StreamContexts()
        pthread_setspecific(key, Unmanaged.passRetained(made).toOpaque())
        return made
    }

    private static let locator: xmlSchemaValidityLocatorFunc = { ctx, file, line in
        guard let ctx else { return -1 }
        let parser = ctx.assumingMemoryBound(to: xmlParserCtxt.self)
        file?.pointee = nil
        line?.pointee = UInt(max(0, parser.pointee.input?.pointee.line ?? 0))
        return 0
    }

    /// Parses and validates `bytes`; nil when a context cannot be made.
    func run(_ schema: xmlSchemaPtr, _ bytes: UnsafeRawBufferPointer, sink: UnsafeMutableRawPointer) -> (wellFormed: Bool, valid: Bool)? {
        guard let vctx = validator(schema), let parser = freshParser() else { return nil }
        xmlSchemaSetValidStructuredErrors(vctx, SchemaErrorSink.callback, sink)
        guard let plug = xmlSchemaSAXPlug(vctx, &parser.pointee.sax, &parser.pointee.userData) else { return nil }
        xmlSchemaValidateSetLocator(vctx, Self.locator, parser)
        xmlParseChunk(parser, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count), 1)
        xmlSchemaSAXUnplug(plug)
        xmlSchemaValidateSetLocator(vctx, nil, nil)
        xmlSchemaSetValidStructuredErrors(vctx, nil, nil)
        return (parser.pointee.wellFormed != 0, xmlSchemaIsValid(vctx) == 1)
    }

    /// The thread's validation context for `schema`, made on first use.
    func validator(_ schema: xmlSchemaPtr) -> xmlSchemaValidCtxtPtr? {
        if let v = validators[schema] { return v }
        guard let v = xmlSchemaNewValidCtxt(schema) else { return nil }
        validators[schema] = v
        return v
    }

    /// The thread's parser, reset for a new document.
    private func freshParser() -> xmlParserCtxtPtr? {
        if let p = parser, xmlDictSize(p.pointee.dict) > Self.dictionaryLimit {
            xmlFreeParserCtxt(p)
            parser = nil
        }
        if let p = parser {
            guard xmlCtxtResetPush(p, nil, 0, nil, nil) == 0 else { return nil }
        } else {
            var empty = xmlSAXHandler()
            empty.initialized = XML_SAX2_MAGIC
            guard let p = xmlCreatePushParserCtxt(&empty, nil, nil, 0, nil) else { return nil }
            parser = p
        }
        xmlCtxtUseOptions(parser, Self.options)
        return parser
    }
}

/// Keeps the first fatal (well-formedness) error libxml2 reports on this thread while installed;
/// lesser parser messages (namespace warnings) do not make a document malformed, as in `XMLDocument.parse`.
private final class FatalErrorCollector {
    var first: (line: Int, message: String)?

    func capture<T>(_ body: () -> T) -> T {
        let previousHandler = __xmlStructuredError().pointee
        let previousContext = __xmlStructuredErrorContext().pointee
        defer { xmlSetStructuredErrorFunc(previousContext, previousHandler) }
        xmlSetStructuredErrorFunc(Unmanaged.passUnretained(self).toOpaque()) { ctx, error in
            guard let ctx, let error, error.pointee.level == XML_ERR_FATAL else { return }
            let me = Unmanaged<FatalErrorCollector>.fromOpaque(ctx).takeUnretainedValue()
            guard me.first == nil else { return }
            let message = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
            me.first = (Int(error.pointee.line), message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return withExtendedLifetime(self) { body() }
    }
}
