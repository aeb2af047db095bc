#!/usr/bin/env bash
# ODMT's training step (ImtStep/dedupe of the benchmark suite) in two builds, alternated in one sitting so that the
# machine's load falls on both alike, and the ratio of their medians:
#
#   benchmarks/imt_step_before_after.sh BEFORE_BENCH AFTER_BENCH OUT.json [ROUNDS]
#
# BEFORE_BENCH is mmsr_bench of the build before ODMT's step was made faster: commit 50c4e7f with
# benchmarks/before/imt_step_warm_up.patch (one untimed step first and mmsr's allocator settings, as the suite now
# has, so that both builds time a warm step):
#   git worktree add build-before/src 50c4e7f && git -C build-before/src apply ../../benchmarks/before/imt_step_warm_up.patch
#   cmake -S build-before/src -B build-before/build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-before/build mmsr_bench
# The after build is timed twice: with its defaults (fast dropout masks) and with LibTorch's dropout (the kernel
# path alone).
set -euo pipefail
before=$1 after=$2 out=$3 rounds=${4:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bench() {  # BINARY FILTER NAME ROUND
  "$1" --benchmark_filter="$2" --benchmark_repetitions=2 --benchmark_out="$tmp/$3.$4.json" \
    --benchmark_out_format=json >/dev/null
}
for ((r = 1; r <= rounds; r++)); do
  bench "$before" 'ImtStep/dedupe$' before "$r"
  bench "$after" 'ImtStep/dedupe$' after "$r"
  bench "$after" 'ImtStep/dedupe/torch_dropout$' after_torch_dropout "$r"
  echo "round $r of $rounds done" >&2
done
python3 - "$tmp" "$out" "$rounds" <<'PY'
import json, statistics, sys
tmp, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
result = {"benchmark": "ImtStep/dedupe", "rounds": rounds, "unit": "ms per step", "builds": {}}
for name in ("before", "after", "after_torch_dropout"):
    times = []
    for r in range(1, rounds + 1):
        doc = json.load(open(f"{tmp}/{name}.{r}.json"))
        times += [b["real_time"] for b in doc["benchmarks"] if b.get("run_type") == "iteration"]
        result.setdefault("context", doc["context"])
    result["builds"][name] = {"per_round_ms": times, "median_ms": statistics.median(times)}
b = result["builds"]
result["speedup"] = round(b["before"]["median_ms"] / b["after"]["median_ms"], 2)
result["speedup_same_dropout"] = round(b["before"]["median_ms"] / b["after_torch_dropout"]["median_ms"], 2)
json.dump(result, open(out, "w"), indent=1)
print(f"before {b['before']['median_ms']:.0f} ms, after {b['after']['median_ms']:.0f} ms ({result['speedup']}x), "
      f"after with LibTorch's dropout {b['after_torch_dropout']['median_ms']:.0f} ms ({result['speedup_same_dropout']}x)")
PY
