import CLibXML2
import Foundation

/// libxml2's global state must be set up once, on one thread, before threads use it
/// concurrently; `xmlInitParser` itself is not safe to race in 2.9.
enum LibXML {
    /// Touching this runs `xmlInitParser` exactly once (Swift static initialisation is once-only).
    static let initialized: Bool = {
        xmlInitParser()
        return true
    }()

    /// Ensures libxml2 is initialised.
    @inline(__always) static func ensureInitialized() { _ = initialized }
}

/// Collects schema errors (compile or validate) with their line numbers, instead of letting
/// libxml2 print them. Confined to the thread running one compile or one validation.
final class SchemaErrorSink {
    /// At most this many messages are kept; the rest are counted.
    static let limit = 20
    private(set) var messages: [String] = []
    private(set) var dropped = 0

    func add(_ error: UnsafePointer<xmlError>) {
        guard messages.count < SchemaErrorSink.limit else { dropped += 1; return }
        var text = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // These messages reach logs, rejected receipts and, through a receipt, the sender's
        // journal: the value in them may be a name, a note or a personnummer.
        text = SchemaErrorSink.redactValues(text)
        let line = Int(error.pointee.line)
        messages.append(line > 0 ? "line \(line): \(text)" : text)
    }

    /// The messages, with a final note when some were left out.
    var report: [String] {
        dropped > 0 ? messages + ["(\(dropped) more errors)"] : messages
    }

    /// libxml2's schema messages with the values they quote taken out: `The value '…' is not
    /// accepted by the pattern` becomes `The value is not accepted by the pattern`, and `'…' is
    /// not a valid value of` becomes `the value is not a valid value of`. Element names, facets
    /// and patterns stay, with the line, which is what the author needs to find the value. Any
    /// run of six or more digits left (a personnummer in a message of another shape) is cut to four.
    static func redactValues(_ text: String) -> String {
        var out = text
        // Greedy up to the message's own words after the value, so a value holding a quote is cut whole.
        for (pattern, replacement) in valuePatterns {
            let range = NSRange(out.startIndex..., in: out)
            out = pattern.stringByReplacingMatches(in: out, range: range, withTemplate: replacement)
        }
        return redactDigitRuns(out)
    }

    static let valuePatterns: [(NSRegularExpression, String)] = [
        (try! NSRegularExpression(pattern: "The value '.*' (is|has) "), "The value $1 "),
        (try! NSRegularExpression(pattern: "(^|: )'.*' is not a valid value"), "$1the value is not a valid value"),
    ]

    /// Shortens every run of six or more digits to its first four digits and an ellipsis.
    static func redactDigitRuns(_ text: String) -> String {
        var out = ""
        var run = ""
        func flush() {
            out += run.count >= 6 ? String(run.prefix(4)) + "…" : run
            run = ""
        }
        for ch in text {
            if ch.isASCII, ch.isNumber { run.append(ch) } else { flush(); out.append(ch) }
        }
        flush()
        return out
    }

    /// The C callback libxml2 calls; the context is an unretained `SchemaErrorSink`.
    static let callback: xmlStructuredErrorFunc = { ctx, error in
        guard let ctx, let error else { return }
        Unmanaged<SchemaErrorSink>.fromOpaque(ctx).takeUnretainedValue().add(error)
    }
}

/// A compiled XML schema that validates documents from any number of threads at once.
///
/// The compiled `xmlSchema` is immutable after compilation, which libxml2 supports sharing
/// between threads; each `validate` call creates its own validation context and error sink,
/// so no mutable state is shared. Compile once (see `caseMessage`, `receipt`), validate often.
public final class SchemaValidator: @unchecked Sendable {
    /// The schema's name, used in error reports (e.g. `case-1.xsd`).
    public let name: String
    /// The compiled schema. Owned, never mutated after init, freed in deinit.
    private let schema: xmlSchemaPtr
    /// The compiled schema, for the streaming validator.
    var schemaPointer: xmlSchemaPtr { schema }

    /// Compiles `xsd` (the schema text) from memory. The schema must be self-contained:
    /// imports and includes would need files or the network, which Stafett never loads.
    public init(name: String, xsd: String) throws(XMLError) {
        LibXML.ensureInitialized()
        self.name = name
        let sink = SchemaErrorSink()
        let compiled: xmlSchemaPtr? = XMLErrorCollector().capture {
            var bytes = Array(xsd.utf8)
            return bytes.withUnsafeMutableBufferPointer { buf -> xmlSchemaPtr? in
                let base = UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self)
                guard let pctx = xmlSchemaNewMemParserCtxt(base, Int32(buf.count)) else { return nil }
                defer { xmlSchemaFreeParserCtxt(pctx) }
                xmlSchemaSetParserStructuredErrors(pctx, SchemaErrorSink.callback,
                                                   Unmanaged.passUnretained(sink).toOpaque())
                return xmlSchemaParse(pctx)
            }
        }
        // libxml2 returns no schema when compiling found any error; warnings alone are fine.
        guard let compiled else {
            throw .schemaInvalid(schema: name, errors: ["the schema does not compile"] + sink.report)
        }
        schema = compiled
    }

    deinit { xmlSchemaFree(schema) }

    /// `case-1.xsd`, compiled once from `EmbeddedSchemas.case1`.
    public static let caseMessage: SchemaValidator = compileEmbedded(name: "case-1.xsd", EmbeddedSchemas.case1)

    /// `receipt-1.xsd`, compiled once from `EmbeddedSchemas.receipt1`.
    public static let receipt: SchemaValidator = compileEmbedded(name: "receipt-1.xsd", EmbeddedSchemas.receipt1)

    private static func compileEmbedded(name: String, _ xsd: String) -> SchemaValidator {
        do {
            return try SchemaValidator(name: name, xsd: xsd)
        } catch {
            // The embedded schemas are part of the binary; the tests compile them.
            fatalError("embedded schema \(name) does not compile: \(error)")
        }
    }

    /// Validates `doc` against this schema.
    ///
    /// Throws `.schemaInvalid(schema:errors:)` with libxml2's messages, each prefixed with
    /// its line number (`line 7: Element '{urn:stafett:case:1}Sender': ...`), at most 20.
    public func validate(_ doc: XMLDocument) throws(XMLError) {
        let sink = SchemaErrorSink()
        // The thread's validation context (the streaming validator's), which libxml2 resets for
        // each document: making and freeing one per document cost 3 % of validating a receipt.
        let contexts = StreamContexts.forCurrentThread()
        let result: Int32 = XMLErrorCollector().capture {
            guard let vctx = contexts.validator(schema) else { return -1 }
            xmlSchemaSetValidStructuredErrors(vctx, SchemaErrorSink.callback,
                                              Unmanaged.passUnretained(sink).toOpaque())
            defer { xmlSchemaSetValidStructuredErrors(vctx, nil, nil) }
            return xmlSchemaValidateDoc(vctx, doc.pointer)
        }
        withExtendedLifetime(sink) {}
        if result == 0 { return }
        var errors = sink.report
        if errors.isEmpty { errors = [result < 0 ? "internal validation error" : "invalid (code \(result))"] }
        throw .schemaInvalid(schema: name, errors: errors)
    }

    /// Parses `data` safely under `limits`, then validates it; returns the parsed document.
    public func parseAndValidate(_ data: Data, limits: XMLLimits = .default) throws(XMLError) -> XMLDocument {
        let doc = try XMLDocument.parse(data, limits: limits)
        try validate(doc)
        return doc
    }
}
