#!/usr/bin/env bash
# Sets mmsr up (idempotent) and runs the quick-start grid: every model family of mmsr, 2 seeds each, on synthetic
# data (examples/quickstart.toml), then prints its leaderboard. Options go to `mmsr run`.
# QUICKSTART_STORE names another store; QUICKSTART_SETUP=0 skips the set-up (scripts/time_quickstart.sh times the
# run alone).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${QUICKSTART_SETUP:-1}" = 0 ] || scripts/setup.sh
store=${QUICKSTART_STORE:-results/quickstart.sqlite}
mkdir -p "$(dirname "$store")"
# Its runs are small: several at a time, one core each, use the machine better than one run on every core.
jobs=$(nproc)
(( jobs > 4 )) && jobs=4
exec build/bin/mmsr run examples/quickstart.toml --store "$store" --jobs "$jobs" "$@"
