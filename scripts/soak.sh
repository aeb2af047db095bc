#!/usr/bin/env bash
# Soak test of crash safety: a small grid is killed with SIGKILL (the runner and its run's process together) at
# random moments and restarted each time; at the end every run must be finished exactly once, with metrics
# identical to the same grid run without interruption. A second round also damages a checkpoint after each kill
# (zeroed bytes, a cut, random bytes): the damage must be noticed, and the results must still be identical.
#
#   scripts/soak.sh [MMSR_BINARY] [KILLS]      (defaults: build/bin/mmsr, 20)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
MMSR="${1:-build/bin/mmsr}"
KILLS="${2:-20}"
WORK="$(mktemp -d)"; [ -n "${MMSR_SOAK_KEEP:-}" ] && echo "[soak] work files in $WORK"
trap '[ -n "${MMSR_SOAK_KEEP:-}" ] || rm -rf "$WORK"' EXIT
# A command that fails where nothing checks it stops the soak; it must never do so without a word.
trap 'printf "[soak] FAIL: line %s: a command failed unexpectedly\n" "$LINENO"' ERR

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
epochs = 40
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

# One interrupted grid: killed KILLS times at random moments; with "damage", a checkpoint is then damaged each time
# (512 zero bytes, a cut, or random bytes at a random offset). Prints how many kills (and damages) landed.
interrupted_grid() {
  local store="$1" mode="$2" log="$WORK/$(basename "$1" .sqlite).log"
  local killed=0 attempts=0 damaged=0
  local goal_damaged=0; [ "$mode" = damage ] && goal_damaged="$KILLS"
  while { [ "$killed" -lt "$KILLS" ] || [ "$damaged" -lt "$goal_damaged" ]; } && [ "$attempts" -lt $((KILLS * 4)) ]; do
    attempts=$((attempts + 1))
    setsid "$MMSR" run "$WORK/grid.toml" --store "$store" -q --no-report >> "$log" 2>&1 &
    pid=$!
    # A random moment between 0.3 s and 2.5 s: during start-up, training, evaluation or a store write.
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + 2.2 * r / 32767 }')"
    if kill -0 "$pid" 2> /dev/null; then
      kill -KILL -- "-$pid" 2> /dev/null || true
      killed=$((killed + 1))
    fi
    wait "$pid" 2> /dev/null || true
    if [ "$mode" = damage ]; then
      # Killed before its first epoch ended, a run has no checkpoint folder yet: nothing to damage this time.
      file=$( { find "$store.checkpoints" -name '*.pt' -type f 2> /dev/null || true; } | shuf -n 1)
      if [ -n "$file" ]; then
        size=$(stat -c %s "$file")
        offset=$((RANDOM * 32768 + RANDOM)); offset=$((offset % (size > 1 ? size : 1)))
        case $((damaged % 3)) in
          0) dd if=/dev/zero of="$file" bs=1 seek="$offset" count=512 conv=notrunc status=none ;;
          1) truncate -s "$offset" "$file" ;;
          2) head -c 64 /dev/urandom | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none ;;
        esac
        damaged=$((damaged + 1))
      fi
    fi
  done
  say "$killed kills landed in $attempts starts$([ "$mode" = damage ] && echo "; $damaged checkpoints damaged"); finishing the grid"
  if ! "$MMSR" run "$WORK/grid.toml" --store "$store" -q --no-report >> "$log" 2>&1; then
    say "FAIL: the uninterrupted last start of the grid failed; the end of its log:"; tail -5 "$log"; fail=1
  fi
  [ "$killed" -ge "$KILLS" ] || { say "FAIL: the grid finished before $KILLS kills landed (make it longer)"; fail=1; }
  if [ "$mode" = damage ]; then
    [ "$damaged" -ge "$KILLS" ] || { say "FAIL: only $damaged checkpoints were damaged"; fail=1; }
    set_aside=$(grep -c "is damaged (it fails its checksum)" "$log" || true)
    say "damaged checkpoints found and set aside: $set_aside"
    [ "$set_aside" -ge 1 ] || { say "FAIL: no damaged checkpoint was noticed"; fail=1; }
  fi
}

query() {
  sqlite3 "$1" "SELECT r.run_key, m.split, m.branch, m.name, m.k, printf('%.17g', m.value) FROM metrics m
                JOIN runs r ON r.id = m.run_id WHERE r.status = 'finished' ORDER BY 1, 2, 3, 4, 5"
}

# Every run finished once, metrics and epoch records identical to the reference, no checkpoint left.
compare_with_reference() {
  local store="$1"
  runs_ref=$(sqlite3 "$WORK/ref.sqlite" "SELECT COUNT(*) FROM runs WHERE status='finished'")
  runs=$(sqlite3 "$store" "SELECT COUNT(*) FROM runs")
  finished=$(sqlite3 "$store" "SELECT COUNT(*) FROM runs WHERE status='finished'")
  say "runs: $finished finished of $runs records (reference: $runs_ref)"
  [ "$runs" = "$runs_ref" ] && [ "$finished" = "$runs_ref" ] || { say "FAIL: a run is missing, unfinished or duplicated"; fail=1; }
  if diff <(query "$WORK/ref.sqlite") <(query "$store") > "$WORK/diff.txt"; then
    say "metrics identical to the uninterrupted grid ($(query "$WORK/ref.sqlite" | wc -l) values)"
  else
    say "FAIL: metrics differ from the uninterrupted grid:"; head -20 "$WORK/diff.txt"; fail=1
  fi
  epochs_ref=$(sqlite3 "$WORK/ref.sqlite" "SELECT COUNT(*) FROM epochs")
  epochs=$(sqlite3 "$store" "SELECT COUNT(*) FROM epochs")
  [ "$epochs" = "$epochs_ref" ] || { say "FAIL: $epochs epoch records, expected $epochs_ref"; fail=1; }
  leftover=$(find "$store.checkpoints" -type f 2> /dev/null | wc -l)
  [ "$leftover" = "0" ] || { say "FAIL: $leftover checkpoint files left behind"; fail=1; }
}

fail=0
say "the same grid, killed $KILLS times"
interrupted_grid "$WORK/soak.sqlite" kill
compare_with_reference "$WORK/soak.sqlite"
resumed=$(grep -c "resuming after epoch" "$WORK/soak.log" || true)
say "runs resumed from a checkpoint: $resumed"

say "the same grid, killed $KILLS times, a checkpoint damaged after each kill"
interrupted_grid "$WORK/damaged.sqlite" damage
compare_with_reference "$WORK/damaged.sqlite"
exit $fail
