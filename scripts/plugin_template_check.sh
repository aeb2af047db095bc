#!/usr/bin/env bash
# The out-of-tree plugin, end to end, as a plugin author meets it: mmsr installed into a prefix, the template in
# examples/plugin-template/ configured and built against that prefix only, then loaded by the installed mmsr
# (its parameters listed, a small grid trained beside SASRec) and run through the backbone conformance suite.
#
#   scripts/plugin_template_check.sh [BUILD_DIR]        (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
say() { printf '[plugin-template] %s\n' "$*"; }

say "installing mmsr into $WORK/prefix"
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log"
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
say "building the template against the installed SDK"
cmake -S examples/plugin-template -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" "${launcher[@]}" > "$WORK/configure.log" 2>&1 \
  || { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
PLUGIN="$WORK/build/mmsr_mean_pool.so"
MMSR="$WORK/prefix/bin/mmsr"

say "loading it into the installed mmsr"
"$MMSR" --plugin "$PLUGIN" plugins show mean_pool
"$MMSR" --plugin "$PLUGIN" run examples/plugin-template/example.toml --store "$WORK/grid.sqlite" -q --no-report \
  --data-cache off
finished=$(sqlite3 "$WORK/grid.sqlite" "SELECT COUNT(*) FROM runs WHERE status = 'finished' AND model_name = 'MeanPool'")
[ "$finished" = "2" ] || { say "FAIL: $finished of 2 MeanPool runs finished"; exit 1; }
say "MeanPool: 2 runs finished (window = 0 and 3)"

say "the backbone conformance suite on it"
out=$(MMSR_CONFORMANCE_PLUGINS="$PLUGIN" "$BUILD/bin/mmsr_model_tests" --gtest_filter='*Conformance*/mean_pool' 2>&1) \
  || { echo "$out"; say "FAIL: the conformance suite"; exit 1; }
ran=$(echo "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p')
[ "${ran:-0}" -ge 5 ] || { echo "$out"; say "FAIL: only ${ran:-0} conformance tests ran on mean_pool"; exit 1; }
say "conformance: $ran tests passed"
