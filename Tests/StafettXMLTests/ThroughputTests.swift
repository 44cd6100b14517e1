import XCTest
import StafettModel
@testable import StafettXML

/// Not a benchmark (stafett-bench is), but catches an accidental slow path: encode, parse,
/// validate and decode a small record many times and require thousands per second.
final class ThroughputTests: XCTestCase {
    func testEncodeParseValidateDecodeManagesThousandsPerSecond() throws {
        let m = Fixtures.fullMessage()
        let n = 3000
        let start = Date()
        for _ in 0..<n {
            let doc = try XMLDocument.parse(CaseXML.encode(m))
            try SchemaValidator.caseMessage.validate(doc)
            let back = try CaseXML.decode(doc)
            precondition(back.header.messageId == m.header.messageId)
        }
        let rate = Double(n) / Date().timeIntervalSince(start)
        print("case XML round trip with validation: \(Int(rate))/s")
        // Debug builds on two shared cores; release is several times faster.
        XCTAssertGreaterThan(rate, 1000)
    }
}
