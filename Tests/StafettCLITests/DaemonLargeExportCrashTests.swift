import Foundation
import XCTest
@testable import StafettCLI

private let A = Members.a.0
private let B = Members.b.0

/// A large export is queued window by window (`IntakeProcessor.messagesPerWindow`): a SIGKILL
/// between windows leaves part of it queued and the file still in the outbox. Taken again after
/// the restart, it queues only the rest; every record is delivered and received exactly once.
final class DaemonLargeExportCrashTests: XCTestCase {
    func testKilledBetweenWindowsOfALargeExportLosesAndDuplicatesNothing() throws {
        let n = 5_000  // more than one window of 4 096
        let h = try DaemonHarness(members: [Members.a, Members.b]) { _, config in config.delivery.connectionsPerPeer = 8 }
        try h.start(A)  // B is down: the queue only grows until the kill
        let tag = "WIN-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: n), as: "\(tag).csv", into: A)
        let input = h.a.layout.outbox.appendingPathComponent("\(tag).csv").path

        // Kill once a window is in the queue and the file is not yet filed away.
        XCTAssertTrue(h.wait(120) { h.queueCount(A) >= 4_096 }, h.log(A))
        let queuedAtKill = h.queueCount(A)
        let inOutboxAtKill = FileManager.default.fileExists(atPath: input)
        h.kill9(A)
        XCTAssertTrue(inOutboxAtKill, "the kill should land while the export is queued (\(queuedAtKill) queued)")
        XCTAssertLessThan(queuedAtKill, n, "the kill should land between windows")

        try h.start(B)
        try h.start(A)
        try h.checkDeliveredExactlyOnce(n, tagged: tag, from: A, to: B, within: 180)
        XCTAssertTrue(FileManager.default.fileExists(atPath: h.a.layout.accepted.appendingPathComponent("\(tag).csv").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: input))
        print("large export crash: killed with \(queuedAtKill) of \(n) queued, the file still in the outbox")
    }
}
