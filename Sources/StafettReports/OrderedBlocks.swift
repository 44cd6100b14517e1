import Dispatch

/// Work over a long list done on every core, a block of the list at a time, with the blocks'
/// results handed on in the list's order. A report of most of a million items is made and written
/// this way (issue 15: one core spent nine seconds on it). The blocks go in rounds of `perRound`,
/// so what is held at once is a round's results, however long the list.
public enum OrderedBlocks {
    /// Items per block: enough that a block's work dwarfs handing it over, few enough that a
    /// round's results stay a few megabytes.
    public static let defaultBlockSize = 4096

    /// Calls `make` for each block of `0..<count` (concurrently, so it may only read shared
    /// state), then `take` with each result in block order, on the calling thread.
    public static func run<Result>(count: Int, blockSize: Int = defaultBlockSize, perRound: Int = 8,
                                   make: (Range<Int>) -> Result, take: (Result) -> Void) {
        precondition(blockSize > 0 && perRound > 0)
        let blocks = (count + blockSize - 1) / blockSize
        withoutActuallyEscaping(make) { make in
            let round = Round(make: make, slots: min(perRound, max(blocks, 1)))
            var first = 0
            while first < blocks {
                let n = min(perRound, blocks - first), start = first
                @Sendable func block(_ b: Int) -> Range<Int> { b * blockSize ..< min(count, (b + 1) * blockSize) }
                // One block runs on the calling thread, without a hand-off, when there is only one.
                if n == 1 {
                    round.results[0] = make(block(start))
                } else {
                    DispatchQueue.concurrentPerform(iterations: n) { k in round.results[k] = round.make(block(start + k)) }
                }
                for k in 0..<n {
                    take(round.results[k]!)
                    round.results[k] = nil
                }
                first += n
            }
        }
    }

    /// What a round's threads share: `make`, which only reads, and a result slot per block, each
    /// written by the one thread that made that block and read after they all finished.
    private final class Round<Result>: @unchecked Sendable {
        let make: (Range<Int>) -> Result
        let results: UnsafeMutableBufferPointer<Result?>

        init(make: @escaping (Range<Int>) -> Result, slots: Int) {
            self.make = make
            results = .allocate(capacity: slots)
            results.initialize(repeating: nil)
        }

        deinit { results.deinitialize().deallocate() }
    }
}
