#!/usr/bin/env bash
# Soak under crashes (docs/testing.md): two daemons on loopback with real mutual TLS, records
# dropped into the municipality's outbox while either daemon is SIGKILLed and restarted at random:
#   scripts/soak.sh [--records N] [--kills K] [--rate R] [--timeout S] [--seed X]
# Defaults: 10000 records at 50 records/s, 20 kills, 1800 s. Prints records dropped, delivered,
# distinct ids in the receiver's inbox, lost, duplicated and both journals' verify; exits 1 when
# anything was lost or duplicated, a journal does not verify, or the run did not settle in time.
# Builds stafett-bench -c release into .build-release (apart from .build); the daemons run from it.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
swift build -c release --scratch-path .build-release --product stafett-bench >&2
exec .build-release/release/stafett-bench soak "$@"
