import CLibXML2
import Foundation
import StafettCrypto
import StafettModel
import StafettXML
import XCTest
@testable import StafettSignature

/// The signing path's own exclusive C14N must produce exactly libxml2's bytes.
final class CanonicalizationTests: XCTestCase {
    /// Both canonical forms of `xml`; fails the test when they differ.
    @discardableResult
    func compare(_ xml: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8]? {
        let doc = try XMLDocument.parse(Data(xml.utf8))
        let fast = FastCanonicalizer.canonicalize(doc.pointer)
        let reference = try? Canonicalizer.canonical(doc.pointer, .all)
        if let fast {
            XCTAssertEqual(String(decoding: fast, as: UTF8.self), reference.map { String(decoding: $0, as: UTF8.self) },
                           "for \(xml)", file: file, line: line)
        }
        return fast
    }

    func testHandwrittenCases() throws {
        let cases = [
            #"<a/>"#,
            #"<?pi  data?><!--c--><a><?inner?><?inner x?></a><!--after--><?post y?>"#,
            #"<a xmlns="urn:d"><b xmlns=""><c xmlns="urn:d"/></b></a>"#,
            #"<a xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q"><p:b q:x="1" x="2"><b/></p:b></a>"#,
            #"<p:a xmlns:p="urn:p"><p:b xmlns:p="urn:other"><p:c/></p:b></p:a>"#,
            #"<a xmlns:z="urn:z" xmlns:a="urn:a" z:k="1" a:k="2" b="3" a="4"/>"#,
            #"<a t="&amp;&lt;&gt;&quot;'&#x9;&#xA;&#xD; x">&amp;&lt;&gt;"'&#xD;&#x9;&#xA; åäö 日本</a>"#,
            #"<a xml:lang="sv" xml:space="preserve"><b xml:lang="en"/></a>"#,
            #"<a><![CDATA[<x> & ]]]]></a>"#,
            #"<d:a xmlns:d="urn:d" xmlns:unused="urn:u"><d:b xmlns:d="urn:d"/></d:a>"#,
            #"<a xmlns="urn:x"><b xmlns="urn:y"><c xmlns="urn:x"/></b></a>"#,
            #"<a xmlns:p="urn:p"><b p:x="1"/><c p:x="2"/></a>"#,
            "<a>\r\n text \r</a>",
            #"<a xmlns="http://example.com/a b"/>"#,
            #"<a xmlns:r="relative/uri"><b/></a>"#,
            #"<a xmlns="relative"><b/></a>"#,
        ]
        var fastCount = 0
        for xml in cases where try compare(xml) != nil { fastCount += 1 }
        XCTAssertGreaterThanOrEqual(fastCount, cases.count - 3)
        // Relative namespace URIs are libxml2's to refuse (C14N must fail on them).
        let relative = try XMLDocument.parse(Data(#"<a xmlns:r="relative/uri"/>"#.utf8))
        XCTAssertNil(FastCanonicalizer.canonicalize(relative.pointer))
        XCTAssertThrowsError(try Canonicalizer.canonical(relative.pointer, .all))
        // The case sample, as signed.
        XCTAssertNotNil(try compare(sampleCase))
    }

    /// A thousand generated documents: namespaces declared, redeclared, undeclared and unused,
    /// prefixed and plain attributes, escapes, PIs and comments.
    func testGeneratedDocumentsMatchLibxml2() throws {
        var rng = SplitMix64(seed: 20151014)
        var fastCount = 0
        let total = 1000
        for _ in 0..<total {
            var generator = Generator(rng: &rng)
            let xml = generator.document()
            if ProcessInfo.processInfo.environment["SHOW_GENERATED"] != nil { print("GEN", xml) }
            if try compare(xml) != nil { fastCount += 1 }
        }
        XCTAssertEqual(fastCount, total, "every generated document uses absolute URIs, so the fast walk must handle all")
    }

    /// The verifier's two node sets, the document without one element (the enveloped signature)
    /// and one element's subtree (SignedInfo), over generated documents: the same bytes as libxml2.
    func testExcludedAndSubtreeNodeSetsMatchLibxml2() throws {
        var rng = SplitMix64(seed: 20260612)
        var compared = 0
        for _ in 0..<500 {
            var generator = Generator(rng: &rng)
            let doc = try XMLDocument.parse(Data(generator.document().utf8))
            var elements: [xmlNodePtr] = []
            var stack = [doc.root]
            while let e = stack.popLast() {
                elements.append(e)
                stack += XMLDocument.elementChildren(of: e)
            }
            let element = elements[rng.int(elements.count)]
            if element != doc.root {
                let fast = try XCTUnwrap(FastCanonicalizer.canonicalize(doc.pointer, excluding: element))
                XCTAssertEqual(String(decoding: fast, as: UTF8.self),
                               String(decoding: try Canonicalizer.canonical(doc.pointer, .excluding(element)), as: UTF8.self))
            }
            let subtree = try XCTUnwrap(FastCanonicalizer.canonicalize(subtree: element))
            XCTAssertEqual(String(decoding: subtree, as: UTF8.self),
                           String(decoding: try Canonicalizer.canonical(doc.pointer, .only(element)), as: UTF8.self))
            compared += 1
        }
        XCTAssertEqual(compared, 500)
        // A relative namespace URI where the walk does not write (the left-out element, an
        // ancestor of the subtree) still makes libxml2 fail, so the walk declines as well.
        let leftOut = try XMLDocument.parse(Data(#"<a><b/><s xmlns:q="rel/x"/></a>"#.utf8))
        let s = XMLDocument.elementChildren(of: leftOut.root)[1]
        XCTAssertNil(FastCanonicalizer.canonicalize(leftOut.pointer, excluding: s))
        XCTAssertThrowsError(try Canonicalizer.canonical(leftOut.pointer, .excluding(s)))
        let above = try XMLDocument.parse(Data(#"<a><b xmlns:r="rel"><c/></b></a>"#.utf8))
        let c = XMLDocument.elementChildren(of: XMLDocument.elementChildren(of: above.root)[0])[0]
        XCTAssertNil(FastCanonicalizer.canonicalize(subtree: c))
        XCTAssertThrowsError(try Canonicalizer.canonical(above.pointer, .only(c)))
    }
}

/// The draws the generated test documents need.
extension SplitMix64 {
    mutating func int(_ n: Int) -> Int { below(n) }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// Writes random well-formed documents whose namespace use is valid.
struct Generator {
    var rng: SplitMix64
    init(rng: inout SplitMix64) { self.rng = SplitMix64(seed: rng.next()) }

    let prefixes = ["p", "q", "ds", "x"]
    let uris = ["urn:stafett:case:1", "urn:a", "urn:b", "http://www.w3.org/2000/09/xmldsig#", "http://example.com/ns?x=1#f"]
    let texts = ["", " ", "Ahmad", "a & b", "<tag>", "1 > 0", "quote \" and '", "tab\there", "åäö 日本", "line\nbreak", "&#xD;cr", "&#x9;"]

    mutating func document() -> String {
        var s = ""
        if rng.int(3) == 0 { s += "<?before \(rng.pick(["", "data", "a b"]))?>" }
        if rng.int(3) == 0 { s += "<!-- head -->" }
        s += element(depth: 0, inScope: [:])
        if rng.int(3) == 0 { s += "<?after x?>" }
        return s
    }

    /// `inScope`: prefix ("" for default) → URI, as declared by ancestors.
    mutating func element(depth: Int, inScope: [String: String]) -> String {
        var scope = inScope
        var decls = ""
        for _ in 0..<rng.int(3) {
            let prefix = rng.int(3) == 0 ? "" : rng.pick(prefixes)
            let uri = prefix == "" && rng.int(4) == 0 ? "" : rng.pick(uris)
            if decls.contains(prefix.isEmpty ? "xmlns=" : "xmlns:\(prefix)=") { continue }
            decls += prefix.isEmpty ? " xmlns=\"\(uri)\"" : " xmlns:\(prefix)=\"\(uri)\""
            scope[prefix] = uri
        }
        let usable = scope.filter { !$0.key.isEmpty }.map(\.key).sorted()
        let name = (rng.int(2) == 0 || usable.isEmpty ? "" : rng.pick(usable) + ":") + rng.pick(["a", "Child", "b"])
        var attrs = ""
        var used: Set<String> = []
        for _ in 0..<rng.int(4) {
            let local = rng.pick(["k", "id", "z", "a"])
            let qualified = !usable.isEmpty && rng.int(2) == 0
            var attrName = qualified ? rng.pick(usable) + ":" + local : local
            if rng.int(8) == 0 { attrName = "xml:lang" }
            // The same expanded name twice is not well-formed; skip any clash by URI too.
            let key = attrName.contains(":") && !attrName.hasPrefix("xml:")
                ? scope[String(attrName.split(separator: ":")[0])]! + "|" + local : attrName
            guard used.insert(key).inserted else { continue }
            attrs += " \(attrName)=\"\(escape(rng.pick(texts)))\""
        }
        var body = ""
        if depth < 4 {
            for _ in 0..<rng.int(6) {
                switch rng.int(6) {
                case 0, 1: body += element(depth: depth + 1, inScope: scope)
                case 2: body += escape(rng.pick(texts))
                case 3: body += "<!-- c -->"
                case 4: body += "<?pi \(rng.pick(["", "d", "x y"]))?>"
                default: body += "\n  "
                }
            }
        }
        return body.isEmpty && rng.int(2) == 0 ? "<\(name)\(decls)\(attrs)/>" : "<\(name)\(decls)\(attrs)>\(body)</\(name)>"
    }

    func escape(_ s: String) -> String {
        if s.hasPrefix("&#x") { return s }
        return s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
