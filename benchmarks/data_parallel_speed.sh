#!/usr/bin/env bash
# One SASRec epoch on S3-Rec Beauty (prefix samples, mmsr's speed options) trained three ways on this machine's CPU cores, one after the other:
# one process with one thread, one process with two threads, two data-parallel processes with one thread each
# ([train] processes = 2, docs/scale.md). Prints seconds per training epoch and the ratios, from each run's timings.
#
#   benchmarks/data_parallel_speed.sh [../shared/data/s3rec/Beauty.txt] [build/bin/mmsr]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$(realpath "${1:-../shared/data/s3rec/Beauty.txt}")"
MMSR="$(realpath "${2:-build/bin/mmsr}")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

grid() {  # grid PROCESSES
  cat <<TOML
[experiment]
name = "data-parallel-speed"
seeds = [1]
[data]
format = "s3rec"
path = "$DATA"
[protocol]
max_len = 50
train_samples = "prefix"
metrics = ["ndcg"]
ks = [10]
[train]
optimizer = "adam"
lr = 0.001
batch_size = 256
epochs = 1
patience = 0
fast_dropout = true
length_buckets = true
processes = $1
[[model]]
name = "SASRec"
tower = { plugin = "id", dim = 64 }
backbone = { plugin = "sasrec", layers = 2, heads = 2, activation = "gelu", dropout = 0.5, attn_dropout = 0.5, norm = "post", layer_norm_eps = 1e-12 }
loss = "softmax"
TOML
}

seconds() {  # seconds LABEL PROCESSES THREADS
  grid "$2" > "$WORK/$1.toml"
  "$MMSR" run "$WORK/$1.toml" --store "$WORK/$1.sqlite" --threads "$3" -q --no-report > /dev/null
  sqlite3 "$WORK/$1.sqlite" "SELECT seconds FROM timings WHERE phase = 'train'"
}

one=$(seconds one 1 1)
two_threads=$(seconds threads 1 2)
two_processes=$(seconds processes 2 1)
python3 - "$one" "$two_threads" "$two_processes" <<'PY'
import sys
one, threads, processes = map(float, sys.argv[1:])
print("| training | s / epoch | speed-up over one thread |")
print("|---|---|---|")
for label, s in (("1 process x 1 thread", one), ("1 process x 2 threads", threads), ("2 processes x 1 thread", processes)):
    print(f"| {label} | {s:.1f} | {one / s:.2f}x |")
PY
