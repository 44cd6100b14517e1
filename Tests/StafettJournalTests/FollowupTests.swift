import Foundation
import StafettCrypto
import XCTest
@testable import StafettJournal

final class FollowupTests: XCTestCase {
    func testGeneratedJournalProjects() throws {
        let parent = try makeTempDirectory("fu")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/j"
        let s = try JournalGenerator(records: 5_000, activeCases: 100).write(to: dir)
        XCTAssertEqual(s.records, 5_000)
        let p = try FollowupProjection.replay(directory: dir, rules: FollowupRules.defaults)
        let items = p.report(now: Int64(Date().timeIntervalSince1970 * 1000))
        XCTAssertEqual(p.stats.records, 5_000)
        XCTAssertGreaterThan(items.count, 0)
        let p0 = try FollowupProjection.replay(directory: dir, rules: [])
        XCTAssertEqual(p0.stats.records, 5_000)
    }
}
