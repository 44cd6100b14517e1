import Foundation
import XCTest
import StafettJournal
@testable import StafettReports

/// The follow-up report is made on every core, a block at a time (`OrderedBlocks`): it must be
/// the report one loop on one thread makes.
final class ParallelReportTests: XCTestCase {
    /// Blocks of every size, in rounds of every size, hand their results on in the list's order.
    func testOrderedBlocksHandOnResultsInOrder() {
        for count in [0, 1, 6, 7, 8, 50, 1_000] {
            for blockSize in [1, 7, 64, 4_096] {
                for perRound in [1, 2, 3, 8] {
                    var seen: [Int] = []
                    var blocks = 0
                    OrderedBlocks.run(count: count, blockSize: blockSize, perRound: perRound,
                                      make: { range in range.map { $0 * 3 + 1 } },
                                      take: { seen.append(contentsOf: $0); blocks += 1 })
                    XCTAssertEqual(seen, (0..<count).map { $0 * 3 + 1 }, "count \(count), blocks of \(blockSize), rounds of \(perRound)")
                    XCTAssertEqual(blocks, (count + blockSize - 1) / blockSize)
                }
            }
        }
    }

    /// Moving items along a permutation's cycles puts them where indexing would.
    func testPermuteAgreesWithIndexing() {
        var rng = SystemRandomNumberGenerator()
        for count in [0, 1, 2, 3, 10, 1_000] {
            let items = (0..<count).map { "item \($0) " + String(repeating: "x", count: $0 % 40) }
            for _ in 0..<5 {
                let order = Array((0..<count).shuffled(using: &rng))
                var moved = items
                ProjectionState.permute(&moved, into: order)
                XCTAssertEqual(moved, order.map { items[$0] })
            }
        }
    }

    /// A replay of a journal of several segments reports, in blocks of a few cases on every core,
    /// exactly the items (all fields, same order) and counts of one block on the calling thread.
    func testReportInBlocksEqualsOneBlock() throws {
        let parent = try makeTempDirectory("fu-blocks")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        _ = try JournalGenerator(records: 20_000, activeCases: 400).write(to: dir, options: JournalOptions(maxSegmentBytes: 1 << 20))
        XCTAssertGreaterThan(try JournalFormat.segments(in: dir).count, 3, "the journal should span several segments")
        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let whole = p.report(now: now, blockSize: Int.max / 2)
        let wholeStats = p.stats
        let blocks = p.report(now: now, blockSize: 37)
        XCTAssertGreaterThan(whole.count, 200)
        XCTAssertTrue(whole.contains { $0.messageId != nil } && whole.contains { $0.messageId == nil },
                      "both case and message items")
        XCTAssertEqual(blocks, whole)
        XCTAssertEqual(p.stats.cases, wholeStats.cases)
        XCTAssertEqual(p.stats.open, wholeStats.open)
        XCTAssertEqual(p.report(now: now, overdueBy: 86_400_000, blockSize: 5), p.report(now: now, overdueBy: 86_400_000, blockSize: Int.max / 2))
    }
}
