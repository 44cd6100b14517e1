#!/usr/bin/env bash
# Runs every fuzz target for SECONDS, one after another, and writes a Markdown summary
# (target, seconds, execs/s, coverage, crashes) to SUMMARY (default: stdout only):
#   scripts/fuzz-all.sh SECONDS [SUMMARY]
# A target that finds something does not stop the others; its artifacts stay in
# .build-fuzz/artifacts/TARGET (see docs/fuzzing.md).
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:?usage: scripts/fuzz-all.sh SECONDS [SUMMARY]}
SUMMARY=${2:-/dev/null}
scripts/fuzz.sh build || exit 1
targets=$(ls Fuzz/corpus)
{
    echo "# Fuzz run $(date -u +%Y-%m-%dT%H:%MZ), $SECONDS_EACH s per target, commit $(git rev-parse --short HEAD)"
    echo
    echo "Command: \`scripts/fuzz-all.sh $SECONDS_EACH\` (each target: \`scripts/fuzz.sh TARGET $SECONDS_EACH\`)"
    echo
    echo "| target | seconds | execs | execs/s | cov | ft | crashes/timeouts/ooms | exit |"
    echo "|---|---|---|---|---|---|---|---|"
} | tee "$SUMMARY"
for t in $targets; do
    line=$(scripts/fuzz.sh "$t" "$SECONDS_EACH" 2>/dev/null | grep '^target=')
    get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    echo "| $t | $SECONDS_EACH | $(get execs) | $(get execs_per_sec) | $(get cov) | $(get ft) | $(get artifacts) | $(get exit) |" | tee -a "$SUMMARY"
done
echo | tee -a "$SUMMARY"
echo "Finished $(date -u +%Y-%m-%dT%H:%MZ). Logs: .build-fuzz/logs/, artifacts: .build-fuzz/artifacts/." | tee -a "$SUMMARY"
