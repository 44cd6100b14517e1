import XCTest
@testable import StafettDaemon

/// Rounds together hold at most `max-intake-file` bytes of input: a large export waits for the
/// rounds before it instead of doubling the daemon's memory, and is never starved.
final class IntakeBudgetTests: XCTestCase {
    let mib = 1 << 20

    func testSmallFilesShareARoundUpToTheBudget() {
        let round = Daemon.nextRound(waiting: Array(repeating: 1_000, count: Daemon.maxRoundFiles + 36), held: 0, budget: 64 * mib)
        XCTAssertEqual(round.count, Daemon.maxRoundFiles)
        XCTAssertEqual(round.bytes, Daemon.maxRoundFiles * 1_000)
        XCTAssertGreaterThanOrEqual(Daemon.maxRoundFiles, 256,
                                    "a backlog of one-record files (a thousand a second) is taken in rounds large enough to catch up")
        XCTAssertEqual(Daemon.nextRound(waiting: [30 * mib, 30 * mib, 30 * mib], held: 0, budget: 64 * mib).count, 2)
    }

    func testALargeExportWaitsWhileAnotherRoundHoldsTheBudget() {
        XCTAssertEqual(Daemon.nextRound(waiting: [64 * mib], held: 64 * mib, budget: 64 * mib).count, 0,
                       "a second 64 MiB export is not read while the first one's messages are held")
        XCTAssertEqual(Daemon.nextRound(waiting: [40 * mib], held: 30 * mib, budget: 64 * mib).count, 0)
        XCTAssertEqual(Daemon.nextRound(waiting: [20 * mib], held: 30 * mib, budget: 64 * mib).count, 1, "what fits is taken")
    }

    func testTheFirstFileOfAnIdleIntakeIsAlwaysTaken() {
        let round = Daemon.nextRound(waiting: [200 * mib, 1_000], held: 0, budget: 64 * mib)
        XCTAssertEqual(round.count, 1, "an oversized file is taken alone, to be refused with a report")
        XCTAssertEqual(round.bytes, 64 * mib, "counted at the budget: its read stops there")
        XCTAssertEqual(Daemon.nextRound(waiting: [], held: 0, budget: 64 * mib).count, 0)
    }
}

/// When a file that just arrived starts a round of its own (`Daemon.mayStartRound`).
final class IntakeRoundStartTests: XCTestCase {
    func testAnIdleIntakeStartsAtOnce() {
        XCTAssertEqual(Daemon.mayStartRound(running: 0, sinceLastStart: 0, waitingBytes: 300), .now, "latency at low load must not grow")
    }

    func testBesideAShortRoundTheFileWaitsForItsEnd() {
        // The running round's end takes every file waiting; a look is due in case it runs long.
        XCTAssertEqual(Daemon.mayStartRound(running: 1, sinceLastStart: 2_000_000, waitingBytes: 14 * 300),
                       .after(Daemon.secondRoundAfter - 2_000_000))
    }

    func testBesideALongRoundASecondOneStarts() {
        XCTAssertEqual(Daemon.mayStartRound(running: 1, sinceLastStart: Daemon.secondRoundAfter, waitingBytes: 300), .now)
        XCTAssertEqual(Daemon.mayStartRound(running: Daemon.intakeRounds, sinceLastStart: 10 * Daemon.secondRoundAfter,
                                            waitingBytes: 1 << 30), .no)
    }

    func testFilesWorthARoundOfTheirOwnStartOneAtOnce() {
        // Lists of a hundred records dropped together: one round reads and signs while the other flushes.
        XCTAssertEqual(Daemon.mayStartRound(running: 1, sinceLastStart: 1_000_000, waitingBytes: Daemon.secondRoundBytes), .now)
        XCTAssertEqual(Daemon.mayStartRound(running: 1, sinceLastStart: 1_000_000, waitingBytes: Daemon.secondRoundBytes - 1),
                       .after(Daemon.secondRoundAfter - 1_000_000))
    }
}
