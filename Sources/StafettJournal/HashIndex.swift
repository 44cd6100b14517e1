import Foundation

/// An open-addressing map from a 64-bit hash (already well mixed) to an `Int32`, with linear
/// probing and backward-shift deletion. The replay computes its hashes once, on the parsing
/// thread; Swift's `Dictionary` would hash them again with SipHash on every look-up.
struct HashIndex {
    private var keys: [UInt64]
    private var values: [Int32]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        keys = [UInt64](repeating: 0, count: n)
        values = [Int32](repeating: 0, count: n)
        mask = n - 1
    }

    /// 0 marks an empty slot, so a hash of 0 is stored as 1 (callers confirm hits anyway).
    @inline(__always) private static func fix(_ h: UInt64) -> UInt64 { h == 0 ? 1 : h }

    subscript(_ h0: UInt64) -> Int32? {
        get {
            let h = HashIndex.fix(h0)
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let k = keys[i]
                if k == h { return values[i] }
                if k == 0 { return nil }
                i = (i + 1) & mask
            }
        }
        set {
            let h = HashIndex.fix(h0)
            if let v = newValue { insert(h, v) } else { remove(h) }
        }
    }

    private mutating func insert(_ h: UInt64, _ v: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let k = keys[i]
            if k == h { values[i] = v; return }
            if k == 0 { keys[i] = h; values[i] = v; count += 1; return }
            i = (i + 1) & mask
        }
    }

    private mutating func remove(_ h: UInt64) {
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let k = keys[i]
            if k == 0 { return }
            if k == h { break }
            i = (i + 1) & mask
        }
        // Backward-shift: pull later entries of the probe run into the hole.
        var hole = i
        var j = (i + 1) & mask
        while keys[j] != 0 {
            let home = Int(truncatingIfNeeded: keys[j]) & mask
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !inRange {
                keys[hole] = keys[j]
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        keys[hole] = 0
        count -= 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
        values = [Int32](repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for (k, v) in zip(oldKeys, oldValues) where k != 0 { insert(k, v) }
    }
}
