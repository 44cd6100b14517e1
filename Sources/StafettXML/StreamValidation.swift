import CLibXML2
import Foundation

extension SchemaValidator {
    /// Validates the XML in `bytes` against this schema while parsing it, without building a tree:
    /// libxml2's schema validator plugged into the SAX parser (`xmlSchemaValidateStream`).
    ///
    /// Same verdicts as `parseAndValidate`, for less work when only the verdict is needed (the
    /// sealing path, which signs the bytes it already has). The input is handled as untrusted:
    /// size limit, a refused DOCTYPE (so no DTD, no entities, nothing fetched), libxml2's own
    /// nesting limit, and every parser or schema message routed to the structured handlers.
    /// Throws `.notWellFormed` for malformed input and `.schemaInvalid` for invalid input.
    public func validate(bytes: Data, limits: XMLLimits = .default) throws(XMLError) {
        guard bytes.count <= limits.maxBytes else { throw .tooLarge(bytes: bytes.count, limit: limits.maxBytes) }
        if XMLDocument.declaresDoctype(bytes) { throw .doctypeForbidden }
        LibXML.ensureInitialized()
        let sink = SchemaErrorSink()
        let collector = FatalErrorCollector()
        let result: Int32 = collector.capture {
            bytes.withUnsafeBytes { raw -> Int32 in
                guard let base = raw.baseAddress, raw.count > 0 else { return -2 }
                guard let vctx = xmlSchemaNewValidCtxt(schemaPointer) else { return -1 }
                defer { xmlSchemaFreeValidCtxt(vctx) }
                xmlSchemaSetValidStructuredErrors(vctx, SchemaErrorSink.callback,
                                                  Unmanaged.passUnretained(sink).toOpaque())
                // The stream validator takes ownership of the input buffer and frees it.
                guard let input = xmlParserInputBufferCreateMem(base.assumingMemoryBound(to: CChar.self),
                                                                Int32(raw.count), XML_CHAR_ENCODING_NONE) else { return -1 }
                return xmlSchemaValidateStream(vctx, input, XML_CHAR_ENCODING_NONE, nil, nil)
            }
        }
        withExtendedLifetime(sink) {}
        if result == 0 { return }
        if result == -2 { throw .notWellFormed(line: 0, message: "empty document") }
        // Well-formedness errors reach the thread's handler (the collector), schema errors the
        // sink; a document that is not well-formed is reported as such, as the tree parser would.
        if let fatal = collector.first { throw .notWellFormed(line: fatal.line, message: fatal.message) }
        var errors = sink.report
        if errors.isEmpty { errors = [result < 0 ? "internal validation error" : "invalid (code \(result))"] }
        throw .schemaInvalid(schema: name, errors: errors)
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
