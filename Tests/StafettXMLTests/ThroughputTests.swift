import XCTest
import StafettModel
@testable import StafettXML

/// Not a benchmark (stafett-bench is), but catches an accidental slow path: encode, parse,
/// validate and decode a small record many times and require thousands per second of CPU time
/// (CPU time, not wall time, so that other builds on the machine do not make it flaky).
final class ThroughputTests: XCTestCase {
    private func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func testEncodeParseValidateDecodeManagesThousandsPerSecond() throws {
        let m = Fixtures.fullMessage()
        let n = 2000
        let start = threadCPUSeconds()
        for _ in 0..<n {
            let doc = try XMLDocument.parse(CaseXML.encode(m))
            try SchemaValidator.caseMessage.validate(doc)
            let back = try CaseXML.decode(doc)
            precondition(back.header.messageId == m.header.messageId)
        }
        let rate = Double(n) / (threadCPUSeconds() - start)
        print("case XML encode+parse+validate+decode: \(Int(rate)) per CPU second")
        #if DEBUG
        XCTAssertGreaterThan(rate, 1000)  // unoptimised Swift; measured ≈ 3 000 here
        #else
        XCTAssertGreaterThan(rate, 5000)  // measured ≈ 10 000 on one core here
        #endif
    }
}
