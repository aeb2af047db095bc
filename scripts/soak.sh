#!/usr/bin/env bash
# Soak test of crash safety: a small grid is killed with SIGKILL (the runner and its run's process together) at
# random moments and restarted each time; at the end every run must be finished exactly once, with metrics
# identical to the same grid run without interruption.
#
#   scripts/soak.sh [MMSR_BINARY] [KILLS]      (defaults: build/bin/mmsr, 20)
set -euo pipefail
cd "$(dirname "$0")/.."
MMSR="${1:-build/bin/mmsr}"
KILLS="${2:-20}"
WORK="$(mktemp -d)"; [ -n "${MMSR_SOAK_KEEP:-}" ] && echo "[soak] work files in $WORK"
trap '[ -n "${MMSR_SOAK_KEEP:-}" ] || rm -rf "$WORK"' EXIT

cat > "$WORK/grid.toml" <<'TOML'
[experiment]
name = "soak"
seeds = [1, 2, 3, 4]
[data.synthetic]
users = 600
items = 120
clusters = 8
max_length = 20
[protocol]
max_len = 15
[[also_evaluate]]
candidates = "sampled"
negatives = 30
negatives_seed = 5
[train]
epochs = 15
batch_size = 32
threads = 1
[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 16 }
backbone = { plugin = "sasrec", layers = 1 }
loss = ["softmax", "bce"]
[[model]]
name = "GRU4Rec"
tower = { plugin = "id", dim = 16, init = "xavier" }
backbone = { plugin = "gru4rec" }
loss = "softmax"
TOML

say() { printf '[soak] %s\n' "$*"; }
say "reference: the grid without interruption"
"$MMSR" run "$WORK/grid.toml" --store "$WORK/ref.sqlite" -q --no-report 2> "$WORK/ref.log"

say "the same grid, killed $KILLS times"
killed=0
attempts=0
while [ "$killed" -lt "$KILLS" ] && [ "$attempts" -lt $((KILLS * 3)) ]; do
  attempts=$((attempts + 1))
  setsid "$MMSR" run "$WORK/grid.toml" --store "$WORK/soak.sqlite" -q --no-report >> "$WORK/soak.log" 2>&1 &
  pid=$!
  # A random moment between 0.3 s and 2.5 s: during start-up, training, evaluation or a store write.
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + 2.2 * r / 32767 }')"
  if kill -0 "$pid" 2> /dev/null; then
    kill -KILL -- "-$pid" 2> /dev/null || true
    killed=$((killed + 1))
  fi
  wait "$pid" 2> /dev/null || true
done
say "$killed kills landed in $attempts starts; finishing the grid"
"$MMSR" run "$WORK/grid.toml" --store "$WORK/soak.sqlite" -q --no-report >> "$WORK/soak.log" 2>&1

query() {
  sqlite3 "$1" "SELECT r.run_key, m.split, m.branch, m.name, m.k, printf('%.17g', m.value) FROM metrics m
                JOIN runs r ON r.id = m.run_id WHERE r.status = 'finished' ORDER BY 1, 2, 3, 4, 5"
}
fail=0
[ "$killed" -ge "$KILLS" ] || { say "FAIL: the grid finished before $KILLS kills landed (make it longer)"; fail=1; }
runs_ref=$(sqlite3 "$WORK/ref.sqlite" "SELECT COUNT(*) FROM runs WHERE status='finished'")
runs=$(sqlite3 "$WORK/soak.sqlite" "SELECT COUNT(*) FROM runs")
finished=$(sqlite3 "$WORK/soak.sqlite" "SELECT COUNT(*) FROM runs WHERE status='finished'")
say "runs: $finished finished of $runs records (reference: $runs_ref)"
[ "$runs" = "$runs_ref" ] && [ "$finished" = "$runs_ref" ] || { say "FAIL: a run is missing, unfinished or duplicated"; fail=1; }
if diff <(query "$WORK/ref.sqlite") <(query "$WORK/soak.sqlite") > "$WORK/diff.txt"; then
  say "metrics identical to the uninterrupted grid ($(query "$WORK/ref.sqlite" | wc -l) values)"
else
  say "FAIL: metrics differ from the uninterrupted grid:"; head -20 "$WORK/diff.txt"; fail=1
fi
epochs_ref=$(sqlite3 "$WORK/ref.sqlite" "SELECT COUNT(*) FROM epochs")
epochs=$(sqlite3 "$WORK/soak.sqlite" "SELECT COUNT(*) FROM epochs")
[ "$epochs" = "$epochs_ref" ] || { say "FAIL: $epochs epoch records, expected $epochs_ref"; fail=1; }
leftover=$(find "$WORK/soak.sqlite.checkpoints" -type f 2> /dev/null | wc -l)
[ "$leftover" = "0" ] || { say "FAIL: $leftover checkpoints left behind"; fail=1; }
resumed=$(grep -c "resuming after epoch" "$WORK/soak.log" || true)
say "runs resumed from a checkpoint: $resumed"
exit $fail
