import StafettModel
import XCTest

final class EditDistanceTests: XCTestCase {
    func testLevenshteinAndTranspositions() {
        XCTAssertEqual(editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(editDistance("", "abc"), 3)
        XCTAssertEqual(editDistance("åsa", "åsa"), 0)
        // A swap of neighbours: two edits for Levenshtein, one when transpositions count.
        XCTAssertEqual(editDistance("delivrey", "delivery"), 2)
        XCTAssertEqual(editDistance("delivrey", "delivery", countingTranspositions: true), 1)
        XCTAssertEqual(editDistance("ca", "abc", countingTranspositions: true), 3)  // optimal string alignment, not Damerau
        XCTAssertEqual(editDistance("max-bdoy", "max-body", countingTranspositions: true), 1)
    }
}
