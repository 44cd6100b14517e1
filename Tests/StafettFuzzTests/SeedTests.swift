import Foundation
import StafettCrypto
import StafettSignature
@testable import StafettFuzzTargets
import StafettXML
import XCTest

/// Seeds that start deep: a signature seed that no longer verifies would leave the fuzzer
/// mutating refusals of the profile parser only.
final class SeedTests: XCTestCase {
    func testSignatureSeedsVerifyWithTheFuzzingKey() throws {
        let dir = CorpusReplayTests.fuzzDirectory.appendingPathComponent("corpus/xmldsig")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("-fuzzkey") }
        XCTAssertGreaterThanOrEqual(seeds.count, 4, "stafett-fuzz make-seeds writes four signed seeds")
        for name in seeds {
            let doc = try XMLDocument.parse(Data(contentsOf: dir.appendingPathComponent(name)))
            XCTAssertNoThrow(try XMLSignature.verify(doc, trusting: SignatureHarness.trust.certificate), name)
            XCTAssertNoThrow(try XMLSignature.verify(doc, key: SignatureHarness.trust.key), name)
        }
    }

    /// The config harness skips inputs that would read a file, and only those.
    func testConfigHarnessSkipsIncludesOnly() {
        XCTAssertTrue(ConfigHarness.includesAFile("[node]\n  INCLUDE = /dev/zero\n"))
        XCTAssertTrue(ConfigHarness.includesAFile("\u{FEFF}in clude=x"))
        XCTAssertFalse(ConfigHarness.includesAFile("#   include = other.conf   reads another file\n[node]\nname = include"))
    }
}
