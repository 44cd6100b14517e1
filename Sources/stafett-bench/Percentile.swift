/// The `p` quantile of measured values sorted ascending (nearest rank, as every bench prints
/// them), nil when there are none: each bench says what an empty run shows.
func percentile(_ sorted: [Double], _ p: Double) -> Double? {
    sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
