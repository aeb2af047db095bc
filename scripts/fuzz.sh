#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with address and undefined-behaviour sanitizers) and runs each for a
# bounded time from its seed corpus. A finding (a crash, a sanitizer report, an exception other than mmsr's
# InputError, a leak) fails the script and leaves the input that triggered it in build-fuzz/findings/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 20)
#   scripts/fuzz.sh 600 fuzz_npy              (one target, longer)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-20}"
ONLY="${2:-}"
BUILD="${MMSR_FUZZ_BUILD_DIR:-build-fuzz}"
say() { printf '[fuzz] %s\n' "$*"; }

if ! command -v clang++ > /dev/null; then
  say "no clang++ here (scripts/setup.sh installs clang and libclang-rt-14-dev): skipped"
  exit 77
fi
mkdir -p "$BUILD"
cmake -S fuzz -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" -j "${MMSR_JOBS:-2}" > "$BUILD/build.log" 2>&1 || { tail -40 "$BUILD/build.log"; exit 1; }

mkdir -p "$BUILD/findings" "$BUILD/corpus"
fail=0
for target in fuzz_config fuzz_npy fuzz_dataset_cache fuzz_sealed fuzz_s3rec fuzz_pairs fuzz_recbole_inter fuzz_recbole_items fuzz_attributes fuzz_negatives fuzz_mmrec fuzz_unisrec fuzz_amazon2023; do
  [ -n "$ONLY" ] && [ "$ONLY" != "$target" ] && continue
  seeds="fuzz/corpus/${target#fuzz_}"
  work="$BUILD/corpus/$target"   # grows across runs on this machine; the seeds stay as checked in
  mkdir -p "$work"
  if "$BUILD/$target" "$work" "$seeds" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 \
       -rss_limit_mb=2048 -artifact_prefix="$BUILD/findings/$target-" -print_final_stats=1 \
       > "$BUILD/$target.log" 2>&1; then
    say "$target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$BUILD/$target.log" | grep -o '[0-9]*$') inputs, no finding"
  else
    say "$target: FINDING"; grep -m 5 -E "ERROR|SUMMARY|terminate|what\(\)" "$BUILD/$target.log" || tail -20 "$BUILD/$target.log"
    fail=1
  fi
done
exit $fail
