/// SplitMix64: a small deterministic random number generator, so that generated data (mutated
/// test inputs, the benchmark's journal) is the same for the same seed and a failure reproduces
/// from it. Never for anything secret: keys, nonces and message ids use the system generator.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The whole state: the same state gives the same sequence.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (`n` > 0), with the slight bias of a modulo, which generated data can afford.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
