import Foundation
import StafettXML

/// Case messages as the receiver takes them: parse under untrusted limits, validate against
/// case-1.xsd, decode; and the streaming validator and one-call `read` the commands use.
enum CaseXMLHarness {
    static let caseXML = FuzzTarget(name: "case-xml", summary: "case XML: parse, schema validation, decode, streaming validation") { bytes in
        SchemaDocumentFeed.feed(Data(bytes), to: .caseMessage, decode: CaseXML.decode, read: { d throws(XMLError) in try CaseXML.read(d) })
    }
}

/// Receipts as the sender takes a peer's answer: parse, validate against receipt-1.xsd, decode.
enum ReceiptHarness {
    static let receipt = FuzzTarget(name: "receipt", summary: "receipt XML: parse, schema validation, decode") { bytes in
        SchemaDocumentFeed.feed(Data(bytes), to: .receipt, decode: ReceiptXML.decode, read: { d throws(XMLError) in try ReceiptXML.read(d) })
    }
}

/// The three ways a schema-checked document is read: parse, validate, decode (decoding only
/// what validated, as the daemon does); the one-call `read`; the streaming validator.
enum SchemaDocumentFeed {
    static func feed<T>(_ data: Data, to schema: SchemaValidator,
                        decode: (XMLDocument) throws(XMLError) -> T, read: (Data) throws(XMLError) -> T) {
        if let doc = try? XMLDocument.parse(data), (try? schema.validate(doc)) != nil {
            _ = try? decode(doc)
        }
        _ = try? read(data)
        _ = try? schema.validate(bytes: data)
    }
}
