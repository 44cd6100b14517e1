import Foundation
import StafettJournal

/// An exact map from identifier bytes to an integer, without building a `String` per look-up:
/// a 64-bit hash of the bytes indexes a dictionary, and the bytes themselves are kept in an
/// arena so a hit is confirmed with `memcmp`. The (astronomically rare) hash collision falls back
/// to a dictionary keyed by the bytes.
///
/// An identifier may be qualified by a number that is part of its key: an intake id is unique
/// only within the organisation that issued it, so the intake table keys (issuer, id). The
/// qualifier is kept in the arena before the bytes (then their length) and mixed into the hash
/// (`qualified`).
struct IdTable {
    private var index = HashIndex()
    /// The arena, in blocks of `blockSize` bytes that are never moved or grown: one array grown by
    /// doubling copied all it held into fresh pages at every step, and faulted in twice the pages
    /// it kept (perf: a fifth of the page faults of a 10 M-record follow-up).
    private var blocks: [[UInt8]] = []
    private static let blockBits = 20
    private static let blockSize = 1 << blockBits
    private var overflow: [[UInt8]: Int32] = [:]

    /// FNV-1a with a final avalanche (MurmurHash3's fmix64), seeded per table.
    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
        var i = 0
        let n = b.count
        while i + 8 <= n {
            h = (h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
            i += 8
        }
        while i < n { h = (h ^ UInt64(b[i])) &* 0x0000_0100_0000_01B3; i += 1 }
        return finish(h, n)
    }

    /// `(hash(b, seed: s1), hash(b, seed: s2))` in one pass over the bytes: the two chains are
    /// independent, so they run side by side (identifier-set keys need both).
    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer, seeds s1: UInt64, _ s2: UInt64) -> (UInt64, UInt64) {
        var h1: UInt64 = 0xCBF2_9CE4_8422_2325 ^ s1, h2: UInt64 = 0xCBF2_9CE4_8422_2325 ^ s2
        var i = 0
        let n = b.count
        while i + 8 <= n {
            let w = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h1 = (h1 ^ w) &* 0x0000_0100_0000_01B3
            h2 = (h2 ^ w) &* 0x0000_0100_0000_01B3
            h1 ^= h1 >> 29
            h2 ^= h2 >> 29
            i += 8
        }
        while i < n {
            h1 = (h1 ^ UInt64(b[i])) &* 0x0000_0100_0000_01B3
            h2 = (h2 ^ UInt64(b[i])) &* 0x0000_0100_0000_01B3
            i += 1
        }
        return (finish(h1, n), finish(h2, n))
    }

    @inline(__always)
    private static func finish(_ h0: UInt64, _ n: Int) -> UInt64 {
        var h = h0 ^ UInt64(n)
        h ^= h >> 33; h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33; h = h &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    /// A hash of bytes mixed with their qualifier; a qualifier of 0 leaves it as it was, so an
    /// unqualified key hashes as `hash(_:seed:)` does.
    @inline(__always)
    static func qualified(_ h: UInt64, _ qualifier: UInt64) -> UInt64 {
        guard qualifier != 0 else { return h }
        return finish(h ^ (qualifier &* 0x9E37_79B9_7F4A_7C15), 8)
    }

    private let seed: UInt64
    init(seed: UInt64) { self.seed = seed }

    /// The value stored for these bytes (and qualifier).
    mutating func get(_ b: UnsafeRawBufferPointer, qualifier: UInt64 = 0) -> Int32? {
        get(b, qualifier: qualifier, hash: IdTable.qualified(IdTable.hash(b, seed: seed), qualifier))
    }

    /// The value stored for these bytes and qualifier, whose hash (`qualified`, under this table's
    /// seed) is `h`.
    mutating func get(_ b: UnsafeRawBufferPointer, qualifier: UInt64 = 0, hash h: UInt64) -> Int32? {
        // A key the arena could not take is in the overflow without an index entry.
        guard let e = index.lookup(h) else { return overflow.isEmpty ? nil : overflow[IdTable.overflowKey(b, qualifier)] }
        // The entry holds the value in its low half and where the qualifier, length and bytes are
        // in the arena in its high half.
        let position = Int(e >> 32), offset = position & (IdTable.blockSize - 1)
        if blocks[position >> IdTable.blockBits].withUnsafeBytes({
            $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) == qualifier
                && Int($0.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)) == b.count
                && (b.count == 0 || memcmp($0.baseAddress! + offset + 12, b.baseAddress!, b.count) == 0)
        }) {
            return Int32(truncatingIfNeeded: e)
        }
        return overflow.isEmpty ? nil : overflow[IdTable.overflowKey(b, qualifier)]
    }

    /// Stores a value for bytes that `get` did not find.
    @discardableResult
    mutating func set(_ b: UnsafeRawBufferPointer, _ value: Int32, qualifier: UInt64 = 0) -> Int? {
        set(b, value, qualifier: qualifier, hash: IdTable.qualified(IdTable.hash(b, seed: seed), qualifier))
    }

    /// Stores a value for bytes and qualifier that `get` did not find, whose hash is `h` (see `get`).
    /// Returns where the bytes are kept (for `withBytes(at:_:)`), nil when they went to the overflow.
    @discardableResult
    mutating func set(_ b: UnsafeRawBufferPointer, _ value: Int32, qualifier: UInt64 = 0, hash h: UInt64) -> Int? {
        // Positions are kept in 32 bits: an arena past 4 GiB (some hundred million identifiers), a
        // key longer than a block or a hash already taken goes to the overflow, which is exact
        // too, only slower.
        let need = 12 + b.count
        var last = blocks.count - 1
        let fits = last >= 0 && blocks[last].count + need <= IdTable.blockSize
        guard index.lookup(h) == nil, need <= IdTable.blockSize,
              fits || blocks.count < 1 << (32 - IdTable.blockBits) else {
            overflow[IdTable.overflowKey(b, qualifier)] = value
            return nil
        }
        if !fits {
            // Reserved whole, so it never moves; its pages are faulted in only as they are filled.
            var block: [UInt8] = []
            block.reserveCapacity(IdTable.blockSize)
            blocks.append(block)
            last += 1
        }
        let position = last << IdTable.blockBits | blocks[last].count
        index.insert(h, value: UInt64(position) << 32 | UInt64(UInt32(bitPattern: value)))
        withUnsafeBytes(of: qualifier) { blocks[last].append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(b.count)) { blocks[last].append(contentsOf: $0) }
        blocks[last].append(contentsOf: b)
        return position
    }

    /// The bytes stored at `offset` (what `set` returned).
    func withBytes<R>(at offset: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let at = offset & (IdTable.blockSize - 1)
        return blocks[offset >> IdTable.blockBits].withUnsafeBytes { a in
            let n = Int(a.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self))
            return body(UnsafeRawBufferPointer(rebasing: a[(at + 12)..<(at + 12 + n)]))
        }
    }

    private static func overflowKey(_ b: UnsafeRawBufferPointer, _ qualifier: UInt64) -> [UInt8] {
        withUnsafeBytes(of: qualifier) { Array($0) } + Array(b)
    }

    /// Reads the index slot of a hash (see `HashIndex.homeValue`) and, when it holds the hash, the
    /// start of the bytes a hit is confirmed with (perf: that compare was the look-up's other miss).
    @inline(__always)
    func touch(_ h: UInt64) -> UInt64 {
        guard let e = index.homeValue(h) else { return 0 }
        let position = Int(e >> 32)
        return blocks[position >> IdTable.blockBits].withUnsafeBytes {
            $0.loadUnaligned(fromByteOffset: position & (IdTable.blockSize - 1), as: UInt64.self)
        }
    }

    /// Convenience for text.
    mutating func get(_ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { get(UnsafeRawBufferPointer($0)) }
    }
}
