import Foundation
import XCTest
@testable import StafettCLI

private let A = Members.a.0
private let B = Members.b.0

/// A file dropped while a large export is being queued does not wait for all of it: a second
/// round starts beside a round that has run `Daemon.secondRoundAfter` (short rounds are waited
/// for instead, so that one-record files share rounds).
final class DaemonIntakeBesideExportTests: XCTestCase {
    func testAOneRecordFileIsQueuedWhileALargeExportIsStillBeingTaken() throws {
        let n = 12_000  // three windows: seconds of signing in a debug build
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.start(A)  // B is down: only intake is measured
        let big = "BIG-\(UUID().uuidString.prefix(6))", small = "ONE-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: big, count: n), as: "\(big).csv", into: A)
        XCTAssertTrue(h.wait(60) { h.queueCount(A) > 0 }, "the export's first window is queued\n" + h.log(A))
        try h.drop(DaemonHarness.csv(tag: small, count: 1), as: "\(small).csv", into: A)

        let accepted = h.a.layout.accepted
        XCTAssertTrue(h.wait(120) { FileManager.default.fileExists(atPath: accepted.appendingPathComponent("\(small).csv").path) }, h.log(A))
        let exportStillTaken = FileManager.default.fileExists(atPath: h.a.layout.outbox.appendingPathComponent("\(big).csv").path)
        let queuedThen = h.queueCount(A)
        XCTAssertTrue(exportStillTaken, "the one-record file waited for the whole export (\(queuedThen) of \(n + 1) queued)")
        XCTAssertLessThan(queuedThen, n + 1)
        // And the export itself still finishes.
        XCTAssertTrue(h.wait(180) { FileManager.default.fileExists(atPath: accepted.appendingPathComponent("\(big).csv").path) }, h.log(A))
        XCTAssertEqual(h.queueCount(A), n + 1)
    }
}
