#!/usr/bin/env bash
# Sets mmsr up (idempotent) and runs the quick-start grid: SASRec in two settings x 2 seeds on synthetic data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p results
# Its runs are small: several at a time, one core each, use the machine better than one run on every core.
jobs=$(nproc)
(( jobs > 4 )) && jobs=4
exec build/bin/mmsr run examples/quickstart.toml --store results/quickstart.sqlite --jobs "$jobs" "$@"
