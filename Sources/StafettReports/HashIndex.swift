import Foundation
import StafettJournal

/// An open-addressing map from a 64-bit hash (already well mixed) to a 64-bit word (an `Int32`
/// through the subscript), with linear probing and backward-shift deletion. The replay computes
/// its hashes once, on the parsing thread; Swift's `Dictionary` would hash them again with SipHash
/// on every look-up. Key and value share one 16-byte entry, so a hit costs one cache miss (the
/// identifier tables hold one entry per identifier of every child: at 24 bytes an entry, with a
/// third of the third wider word unused, they were a fifth of a 10 M-record replay's memory).
struct HashIndex {
    struct Entry {
        var key: UInt64 = 0
        var value: UInt64 = 0
    }

    private var entries: [Entry]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        entries = [Entry](repeating: Entry(), count: n)
        mask = n - 1
    }

    /// The word stored under `h`.
    func lookup(_ h0: UInt64) -> UInt64? {
        let h = HashIndex.fix(h0)
        return entries.withUnsafeBufferPointer { e in
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let k = e[i].key
                if k == h { return e[i].value }
                if k == 0 { return nil }
                i = (i + 1) & mask
            }
        }
    }

    /// The word in the home slot of `h` when that slot holds `h` (most look-ups that hit): called
    /// for a run of records before they are applied, so their cache misses (this slot's, and
    /// the caller's on what the word points to) overlap instead of coming one after another.
    @inline(__always)
    func homeValue(_ h0: UInt64) -> UInt64? {
        let h = HashIndex.fix(h0)
        return entries.withUnsafeBufferPointer { e in
            let entry = e[Int(truncatingIfNeeded: h) & mask]
            return entry.key == h ? entry.value : nil
        }
    }

    /// Stores a word under `h`.
    mutating func insert(_ h0: UInt64, value: UInt64) {
        insert(HashIndex.fix(h0), value)
    }

    /// 0 marks an empty slot, so a hash of 0 is stored as 1 (callers confirm hits anyway).
    @inline(__always) private static func fix(_ h: UInt64) -> UInt64 { h == 0 ? 1 : h }

    subscript(_ h0: UInt64) -> Int32? {
        get { lookup(h0).map { Int32(truncatingIfNeeded: $0) } }
        set {
            let h = HashIndex.fix(h0)
            if let v = newValue { insert(h, UInt64(UInt32(bitPattern: v))) } else { remove(h) }
        }
    }

    private mutating func insert(_ h: UInt64, _ v: UInt64) {
        if (count + 1) * 2 > entries.count { grow() }
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let k = entries[i].key
            if k == h { entries[i].value = v; return }
            if k == 0 { entries[i] = Entry(key: h, value: v); count += 1; return }
            i = (i + 1) & mask
        }
    }

    private mutating func remove(_ h: UInt64) {
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let k = entries[i].key
            if k == 0 { return }
            if k == h { break }
            i = (i + 1) & mask
        }
        // Backward-shift: pull later entries of the probe run into the hole.
        var hole = i
        var j = (i + 1) & mask
        while entries[j].key != 0 {
            let home = Int(truncatingIfNeeded: entries[j].key) & mask
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !inRange {
                entries[hole] = entries[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        entries[hole] = Entry()
        count -= 1
    }

    private mutating func grow() {
        let old = entries
        entries = [Entry](repeating: Entry(), count: old.count * 2)
        mask = entries.count - 1
        count = 0
        for e in old where e.key != 0 { insert(e.key, e.value) }
    }
}
