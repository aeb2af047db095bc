#!/usr/bin/env bash
# Does a study reproduce? Re-runs part of its grid in a scratch store and compares every per-seed test metric with
# the committed results/STUDY/runs.csv: the same value (the CPU runs repeat exactly on one machine) or, on another
# machine, one within the committed seeds' spread (mean ± 2 sd). Nothing under results/ or docs/ is written.
#
#   scripts/reproduce_check.sh multimodal --models SASRec+LF ODMT --seeds 1
#   scripts/reproduce_check.sh kdsr --models KDSR --seeds 2
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
study="${1:-}"
case "$study" in
  multimodal) experiment="$root/examples/multimodal/odmt_study.toml"; "$root/scripts/scientific_features.sh" ;;
  kdsr) experiment="$root/examples/kdsr/scientific.toml" ;;
  *) echo "usage: scripts/reproduce_check.sh multimodal|kdsr [mmsr run options, e.g. --models M --seeds 1]" >&2; exit 2 ;;
esac
shift
committed="$root/results/$study/runs.csv"
[ -f "$committed" ] || { echo "reproduce_check: $committed is missing (run scripts/reproduce.sh $study)" >&2; exit 2; }
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
start=$(date +%s)
"$root/build/bin/mmsr" run "$experiment" --store "$dir/s.sqlite" --threads 1 --no-report -q "$@"
python3 "$root/scripts/study_results.py" export "$dir/s.sqlite" "$dir/out" --mmsr "$root/build/bin/mmsr"
python3 - "$committed" "$dir/out/runs.csv" "$(( $(date +%s) - start ))" <<'PY'
import csv, statistics, sys
committed, fresh, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rows(path):
    return [r for r in csv.DictReader(open(path)) if not r["metric"].endswith("_seconds") and r["metric"] != "best_epoch"]
old = {}
for r in rows(committed):
    old.setdefault((r["model"], r.get("protocol", "main"), r["branch"], r["metric"]), {})[r["seed"]] = float(r["value"])
same = within = outside = 0
for r in rows(fresh):
    seeds = old.get((r["model"], r.get("protocol", "main"), r["branch"], r["metric"]))
    if not seeds:
        sys.exit(f"reproduce_check: {r['model']} {r['metric']} is not in {committed}")
    v = float(r["value"])
    if seeds.get(r["seed"]) is not None and abs(seeds[r["seed"]] - v) < 5e-7:
        same += 1
        continue
    values = list(seeds.values())
    mean, sd = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
    if abs(v - mean) <= 2 * sd:
        within += 1
    else:
        outside += 1
        print(f"outside the spread: {r['model']} seed {r['seed']} {r['branch']} {r['metric']} {v:.4f} "
              f"(committed {mean:.4f} ± {sd:.4f})")
total = same + within + outside
print(f"reproduce_check: {total} values in {seconds} s: {same} identical to the committed ones, {within} different "
      f"but within the seeds' spread, {outside} outside it")
sys.exit(1 if outside else 0)
PY
