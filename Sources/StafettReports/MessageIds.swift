import Foundation
import StafettJournal

/// The ids of the open message items, each in a numbered slot that is reused once its items
/// close, so memory follows open items, not messages. An id is kept as its raw JSON bytes in a
/// fixed 48-byte cell of one flat array (a length byte, then up to 47 bytes; longer ids live
/// in `long`): finding a slot costs a hash probe and a compare in that cell, with no `String`
/// built, retained or freed per message (perf: those were about a tenth of the applying
/// thread). The `String` is made only for the report.
struct MessageIds {
    private static let cell = 48
    /// Marks a cell whose id is in `long`.
    private static let isLong: UInt8 = 255
    /// Marks a free cell, so an empty id (a length of 0) stays an open item like any other.
    private static let isFree: UInt8 = 254

    /// Hash of the id (seed 5) → slot.
    private var index = HashIndex(capacity: 1 << 14)
    private var cells: [UInt8] = []
    private var long: [Int32: [UInt8]] = [:]
    /// Ids whose hash another open id already holds in `index` (astronomically rare).
    private var collisions: [[UInt8]: Int32] = [:]
    private var free: [Int32] = []
    /// Slots ever made (the highest slot number + 1).
    private(set) var count = 0
    /// Slots holding an open item's id.
    var open: Int { count - free.count }

    /// Reads the index slot of `h` (see `HashIndex.homeValue`) and, when it holds `h`, the slot's
    /// cell, which `slot(of:hash:)` compares (perf: that compare's miss was a tenth of the
    /// applying thread).
    @inline(__always)
    func touch(_ h: UInt64) -> UInt64 {
        guard let v = index.homeValue(h) else { return 0 }
        return cells.withUnsafeBytes { UInt64($0[Int(Int32(truncatingIfNeeded: v)) * MessageIds.cell]) }
    }

    /// The slot holding this id (raw bytes, hashed as `h`), if it is open.
    func slot(of b: UnsafeRawBufferPointer, hash h: UInt64) -> Int32? {
        guard let s = index[h] else { return nil }
        return holds(s, b) ? s : collisions[Array(b)]
    }

    /// Stores an id that `slot(of:hash:)` did not find; a slot number equal to the old `count`
    /// is a new one (the caller grows its per-slot arrays).
    mutating func add(_ b: UnsafeRawBufferPointer, hash h: UInt64) -> Int32 {
        let s: Int32
        if let f = free.popLast() { s = f } else {
            s = Int32(count)
            count += 1
            cells.append(contentsOf: repeatElement(0, count: MessageIds.cell))
        }
        let at = Int(s) * MessageIds.cell
        if b.count < MessageIds.cell {
            cells[at] = UInt8(b.count)
            cells.withUnsafeMutableBytes { c in
                if b.count > 0 { (c.baseAddress! + at + 1).copyMemory(from: b.baseAddress!, byteCount: b.count) }
            }
        } else {
            cells[at] = MessageIds.isLong
            long[s] = Array(b)
        }
        if index[h] == nil { index[h] = s } else { collisions[Array(b)] = s }
        return s
    }

    /// Frees a slot whose items all closed (`h`: its id's hash).
    mutating func remove(_ s: Int32, hash h: UInt64) {
        if index[h] == s { index[h] = nil } else { collisions[bytes(s)] = nil }
        cells[Int(s) * MessageIds.cell] = MessageIds.isFree
        long[s] = nil
        free.append(s)
    }

    /// The id of an open slot as text; nil for a free slot.
    func text(_ s: Int32) -> String? {
        guard cells[Int(s) * MessageIds.cell] != MessageIds.isFree else { return nil }
        return bytes(s).withUnsafeBytes { LiteRecord.text($0) }
    }

    private func bytes(_ s: Int32) -> [UInt8] {
        let at = Int(s) * MessageIds.cell
        if cells[at] == MessageIds.isLong { return long[s] ?? [] }
        if cells[at] == MessageIds.isFree { return [] }
        return Array(cells[at + 1 ..< at + 1 + Int(cells[at])])
    }

    @inline(__always)
    private func holds(_ s: Int32, _ b: UnsafeRawBufferPointer) -> Bool {
        let at = Int(s) * MessageIds.cell
        return cells.withUnsafeBytes { c in
            let n = c[at]
            if n == MessageIds.isLong {
                return long[s]?.withUnsafeBytes { $0.count == b.count && (b.count == 0 || memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0) } ?? false
            }
            return Int(n) == b.count && (b.count == 0 || memcmp(c.baseAddress! + at + 1, b.baseAddress!, b.count) == 0)
        }
    }
}
