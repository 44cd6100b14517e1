import Foundation
import XCTest
@testable import StafettReports

/// The identifier table keeps its keys' bytes in fixed blocks: keys that fill block after block,
/// that end exactly at a block's end or would cross it, and one longer than a block are all found
/// again with their bytes, under their own qualifier only.
final class IdTableTests: XCTestCase {
    func testKeysAcrossBlocksAndLongerThanABlockAreFoundWithTheirBytes() {
        var t = IdTable(seed: 7)
        var keys: [[UInt8]] = []
        // Lengths that vary, so keys end at every offset in a block, and ~9 MB of them (some blocks).
        for i in 0..<400_000 {
            keys.append(Array("id-\(i)-".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: i % 37))
        }
        // A key that fills whatever is left of a block to the byte, and one longer than a block.
        keys.append([UInt8](repeating: 0x41, count: (1 << 20) - 12))
        keys.append([UInt8](repeating: 0x42, count: (1 << 20) + 1))
        var positions: [Int?] = []
        for (i, k) in keys.enumerated() {
            positions.append(k.withUnsafeBytes { t.set($0, Int32(i), qualifier: UInt64(i % 3)) })
        }
        XCTAssertNotNil(positions[keys.count - 2], "a key of a whole block fits a fresh block")
        XCTAssertNil(positions[keys.count - 1], "a key longer than a block is kept in the overflow")
        var blocksUsed = Set<Int>()
        for (i, k) in keys.enumerated() {
            k.withUnsafeBytes { b in
                XCTAssertEqual(t.get(b, qualifier: UInt64(i % 3)), Int32(i), "key \(i)")
                XCTAssertNil(t.get(b, qualifier: UInt64(i % 3) + 1), "key \(i) under another qualifier")
            }
            if let p = positions[i] {
                blocksUsed.insert(p >> 20)
                XCTAssertEqual(t.withBytes(at: p) { Array($0) }, k, "bytes of key \(i)")
            }
        }
        XCTAssertGreaterThan(blocksUsed.count, 8)
    }
}
