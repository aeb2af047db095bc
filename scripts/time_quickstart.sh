#!/usr/bin/env bash
# The quick start's wall time, as a new user waits for it once mmsr is built: scripts/quickstart.sh training
# examples/quickstart.toml from nothing into a fresh store, with an empty data cache. Writes
# results/performance/quickstart.json (docs/performance.md, "The quick start"). Run it on a machine with nothing
# else running: the figure is the machine's alone.
#
#   scripts/time_quickstart.sh [OUT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/performance/quickstart.json}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load_before=$(cut -d' ' -f1 /proc/loadavg)
start=$(date +%s.%N)
QUICKSTART_SETUP=0 QUICKSTART_STORE="$tmp/quickstart.sqlite" scripts/quickstart.sh --no-report -q \
  --data-cache "$tmp/cache"
end=$(date +%s.%N)
python3 - "$tmp/quickstart.sqlite" "$out" "$start" "$end" "$load_before" <<'PY'
import json, os, sqlite3, subprocess, sys
store, out, start, end, load = sys.argv[1:]
db = sqlite3.connect(store)
# How many runs trained at once: the most runs whose recorded spans (started_at to finished_at) overlap.
spans = db.execute("SELECT julianday(started_at), julianday(finished_at) FROM runs").fetchall()
jobs = max(sum(1 for s, f in spans if s <= start_r < f) for start_r, _ in spans)
runs = db.execute("SELECT r.model_name, r.grid_label, r.seed, t.seconds FROM runs r JOIN timings t "
                  "ON t.run_id = r.id AND t.phase = 'total' ORDER BY r.id").fetchall()
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
result = {"grid": "examples/quickstart.toml", "wall_seconds": round(float(end) - float(start), 1),
          "runs": len(runs), "jobs": jobs, "cores": os.cpu_count(), "load_average_before": float(load),
          "commit": commit,
          "run_seconds": [{"model": m, "grid": g, "seed": s, "seconds": round(t, 1)} for m, g, s, t in runs]}
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
json.dump(result, open(out, "w"), indent=1)
print(f"quick start: {result['wall_seconds']} s for {len(runs)} runs, {jobs} at a time on {os.cpu_count()} cores")
PY
