#!/usr/bin/env bash
# Fuzzes one harness with libFuzzer (docs/fuzzing.md):
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#   scripts/fuzz.sh list
#   scripts/fuzz.sh build
# Builds stafett-fuzz with -sanitize=fuzzer,address into .build-fuzz (apart from .build, so the
# normal build is untouched), then runs TARGET for SECONDS on a working copy of its seeds and
# prints execs/s and coverage. New interesting inputs go to .build-fuzz/corpus/TARGET (not git);
# a crash, timeout or out-of-memory input lands in .build-fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRATCH=$ROOT/.build-fuzz

build() {
    # gold fails on the sanitizer runtime's symbols: link with the toolchain's lld.
    # -enable-testing: two harnesses reach internal parsers through @testable import.
    swift build -c release --scratch-path "$SCRATCH" --product stafett-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xswiftc -DSTAFETT_LIBFUZZER \
        -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld >&2
}

case "${1:-}" in
    list) build
          STAFETT_FUZZ_TARGET=none "$SCRATCH/release/stafett-fuzz" 2>&1 | sed 's/.*one of: //' | tr ',' '\n' | sed 's/^ //'
          exit 0 ;;
    build) build; exit 0 ;;
    ""|-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

TARGET=$1
SECONDS_TO_RUN=${2:?usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]}
shift 2
[ -d "Fuzz/corpus/$TARGET" ] || { echo "no seeds in Fuzz/corpus/$TARGET: is $TARGET a fuzz target? (scripts/fuzz.sh list)" >&2; exit 2; }
build

WORK=$SCRATCH/corpus/$TARGET
ARTIFACTS=$SCRATCH/artifacts/$TARGET
mkdir -p "$WORK" "$ARTIFACTS"
LOG=$SCRATCH/logs/$TARGET-$(date -u +%Y%m%dT%H%M%SZ).log
mkdir -p "$(dirname "$LOG")"

# Seeds and regression inputs are read-only inputs; new finds go to the working corpus (first dir).
set +e
LSAN_OPTIONS=suppressions=$ROOT/Fuzz/lsan.supp:print_suppressions=0 \
STAFETT_FUZZ_TARGET=$TARGET "$SCRATCH/release/stafett-fuzz" \
    -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" "$@" \
    "$WORK" "Fuzz/corpus/$TARGET" $( [ -d "Fuzz/regressions/$TARGET" ] && echo "Fuzz/regressions/$TARGET" ) \
    >"$LOG" 2>&1
STATUS=$?
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$LOG" | tail -1)
last=$(grep -E '^#[0-9]+' "$LOG" | tail -1 || true)
cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
crashes=$(find "$ARTIFACTS" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
echo "target=$TARGET seconds=$SECONDS_TO_RUN execs=${execs:-?} execs_per_sec=${rate:-?} cov=${cov:-?} ft=${ft:-?} artifacts=$crashes exit=$STATUS log=$LOG"
if [ "$STATUS" -ne 0 ]; then
    grep -E 'ERROR: |SUMMARY: |Test unit written to' "$LOG" | head -5 >&2
    echo "reproduce: swift run stafett-fuzz run $TARGET <artifact>   (or the libFuzzer binary: STAFETT_FUZZ_TARGET=$TARGET $SCRATCH/release/stafett-fuzz <artifact>)" >&2
fi
exit "$STATUS"
