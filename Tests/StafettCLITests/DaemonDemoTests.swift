import Foundation
import XCTest
@testable import StafettCLI

/// `stafett demo` end to end: two real daemons, every record delivered, every receipt verified.
final class DaemonDemoTests: XCTestCase {
    func testDemoDeliversEverythingAndVerifiesEveryReceipt() throws {
        let cli = try CLIRun()
        let dir = cli.dir.appendingPathComponent("demo")
        let r = try cli.run(["demo", "--dir", dir.path])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("Demo complete"), r.out)
        XCTAssertTrue(r.out.contains("\(DemoData.expectedMessages) of \(DemoData.expectedMessages) messages"), r.out)
        XCTAssertTrue(r.out.contains("\(DemoData.expectedMessages) receipts, \(DemoData.expectedMessages) verified"), r.out)
        // Nothing left waiting in the municipality's queue once the demo says it is done.
        XCTAssertEqual(QueueStoreSnapshot.count(dir.appendingPathComponent("trelleborg/spool/queue")), 0)
    }
}
