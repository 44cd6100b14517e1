// Placeholder until the operator commands land.
