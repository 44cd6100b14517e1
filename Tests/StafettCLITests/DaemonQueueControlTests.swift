import Foundation
import XCTest
@testable import StafettCLI
import StafettDaemon

/// `stafett queue hold|release|retry` against a running `stafettd`: the CLI rewrites the queue
/// directory and the daemon, told with SIGUSR1, acts on it.
final class DaemonQueueControlTests: XCTestCase {
    let A = Members.a.0, B = Members.b.0

    /// Held messages are not delivered even with the peer up; release delivers them at once.
    func testHoldKeepsMessagesUntilRelease() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b])
        try h.queueWhilePeersDown(A, prefix: "HOLD", count: 3)  // B is down: the messages wait

        let hold = try h.cli.run(["queue", "hold", "-", "--config", h.a.configPath])
        XCTAssertEqual(hold.code, 0, hold.err)
        XCTAssertTrue(hold.out.contains("told stafettd (pid \(h.daemons[A]!.process.processIdentifier))"), hold.out)
        try h.start(B)
        usleep(2_500_000)  // several back-off rounds of 200 ms – 1 s
        XCTAssertTrue(h.inbox(B).isEmpty, "held messages must not be delivered")
        XCTAssertEqual(h.queue(A).filter(\.held).count, 3, "the daemon must not overwrite the hold")
        let listing = try h.cli.run(["queue", "--config", h.a.configPath])
        XCTAssertTrue(listing.out.contains("3 held"), listing.out)

        let release = try h.cli.run(["queue", "release", "-", "--config", h.a.configPath])
        XCTAssertEqual(release.code, 0, release.err)
        XCTAssertTrue(h.wait(10) { h.inbox(B).count == 3 && h.queueCount(A) == 0 }, "inbox \(h.inbox(B).count)\n\(h.log(A))")
    }

    /// With a long back-off, `retry` after the peer is back delivers now instead of when the
    /// back-off would have ended.
    func testRetryDeliversNowDespiteLongBackoff() throws {
        let h = try DaemonHarness(members: [Members.a, Members.b]) { _, config in
            config.delivery.initialBackoff = .seconds(60)
            config.delivery.maxBackoff = .seconds(120)
        }
        try h.start(A)
        let tag = "RETRY-\(UUID().uuidString.prefix(6))"
        try h.drop(DaemonHarness.csv(tag: tag, count: 2), as: "\(tag).csv", into: A)
        XCTAssertTrue(h.wait(20) { h.queue(A).count == 2 && h.queue(A).contains { $0.attempts > 0 } }, h.log(A))
        try h.start(B)
        usleep(500_000)
        XCTAssertTrue(h.inbox(B).isEmpty, "still backing off")
        let retry = try h.cli.run(["queue", "retry", "-", "--config", h.a.configPath])
        XCTAssertEqual(retry.code, 0, retry.err)
        XCTAssertTrue(retry.out.contains("told stafettd"), retry.out)
        XCTAssertTrue(h.wait(10) { h.inbox(B).count == 2 && h.queueCount(A) == 0 },
                      "retry did not deliver: inbox \(h.inbox(B).count), queue \(h.queue(A).map { "\($0.attempts) \($0.nextAttempt)" })\n\(h.log(A))")
    }
}
