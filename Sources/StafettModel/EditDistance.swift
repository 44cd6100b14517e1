/// Edit distance between two strings (by Character), for "did you mean" hints in the CLI, the
/// follow-up rules and the config parser: Levenshtein, or with `countingTranspositions` a swap
/// of two neighbours counts as one edit (optimal string alignment), the config parser's choice,
/// since a swap is the commonest typing slip in a hand-written file.
public func editDistance(_ a: String, _ b: String, countingTranspositions: Bool = false) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    // Three rows of the table: i-2 (for a transposition), i-1 and i.
    var beforePrev = [Int](repeating: 0, count: b.count + 1)
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            if countingTranspositions, i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                cur[j] = min(cur[j], beforePrev[j - 2] + 1)
            }
        }
        (beforePrev, prev, cur) = (prev, cur, beforePrev)
    }
    return prev[b.count]
}
