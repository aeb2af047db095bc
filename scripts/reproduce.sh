#!/usr/bin/env bash
# One command per study: runs the study's grids (resumable: rerun to go on), writes their small result files under
# results/STUDY/ and rebuilds the generated tables of docs/STUDY.md from them.
#
#   scripts/reproduce.sh multimodal [mmsr run options, e.g. --models ODMT SASRec+LF or --seeds 1]
#
#   multimodal  the ODMT paper's Tables 2-4 and Figures 5 and 7 on Scientific (examples/multimodal/odmt_study.toml;
#               needs ../shared/data/scientific-mm beside the project). 87 runs; about 6 hours on 2 cores.
#   kdsr        KDSR's correlation supervision and its ablations on Scientific, beside SASRec and ODMT
#               (examples/kdsr/scientific.toml). 33 runs.
#   protocol    mmsr's ID models on MovieLens-100K under leave-one-out and under a global temporal split
#               (examples/protocol/); docs/protocol.md sets the two boards side by side, and
#               looks into gSASRec (examples/protocol/investigate/). 49 runs, about two hours.
#   parity      the S3-Rec paper's baselines on LastFM and Beauty under both its protocols (examples/parity/), and
#               the investigations docs/parity.md quotes (examples/parity/investigate/). Beauty takes most of it:
#               several hours on 2 cores.
#   performance the suite's evaluation benchmarks (results/performance/benchmarks.json, measured first, alone), the
#               rest of the suite that docs/performance.md quotes (results/performance/suite.json) and
#               SASRec against a million items (examples/performance/million_items.toml: peak memory, epoch time).
#               About an hour on 2 cores.
#
# Each grid's store is build/studies/STUDY[-GRID].sqlite (MMSR_STUDY_DIR overrides the folder); MMSR_RUNNERS runners
# (default 2, one thread each) share a grid; MMSR_BIN names another build's mmsr. Options after the study name go to
# every grid's `mmsr run`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
study="${1:-}"
# Per study: "GRID EXPERIMENT BASELINE" lines (GRID "." = the study's one grid, results in results/STUDY/).
case "$study" in
  multimodal) grids=". examples/multimodal/odmt_study.toml SASRec+LF" ;;
  kdsr) grids=". examples/kdsr/scientific.toml SASRec+gate" ;;
  parity) grids="lastfm examples/parity/lastfm.toml SASRec
lastfm-sasrec-variants examples/parity/investigate/lastfm_sasrec.toml SASRec
lastfm-recbole-settings examples/parity/investigate/lastfm_recbole_settings.toml -
beauty-poprec-ties examples/parity/investigate/beauty_poprec_ties.toml -
beauty examples/parity/beauty.toml SASRec
beauty-recbole-bert4rec examples/parity/investigate/beauty_recbole_bert4rec.toml -" ;;
  protocol) grids="ml100k-leave-one-out examples/protocol/ml100k_leave_one_out.toml SASRec
ml100k-temporal examples/protocol/ml100k_temporal.toml SASRec
ml100k-gsasrec examples/protocol/investigate/ml100k_gsasrec.toml -" ;;
  performance) grids="million-items examples/performance/million_items.toml -" ;;
  *) echo "usage: scripts/reproduce.sh multimodal|kdsr|parity|protocol|performance [mmsr run options]" >&2; exit 2 ;;
esac
shift
mmsr="${MMSR_BIN:-$root/build/bin/mmsr}"  # another build's mmsr (e.g. a frozen copy while the tree is rebuilt)
[ -x "$mmsr" ] || { echo "reproduce: $mmsr is missing; build first (scripts/setup.sh)" >&2; exit 2; }
stores="${MMSR_STUDY_DIR:-$root/build/studies}"
runners="${MMSR_RUNNERS:-2}"
mkdir -p "$stores"
start=$(date +%s)

if [ "$study" = multimodal ]; then "$root/scripts/scientific_features.sh"; fi
if [ "$study" = performance ]; then  # before the grids, so that nothing of the study runs beside it
  mkdir -p "$root/results/performance"
  "$(dirname "$mmsr")/mmsr_bench" --benchmark_filter='SgemmPeak|RankInBlocks|FullRanking/users:256' \
    --benchmark_out="$root/results/performance/benchmarks.json" --benchmark_out_format=json
  "$(dirname "$mmsr")/mmsr_bench" \
    --benchmark_filter='^(Dropout/|FullRanking/|ImtStep/dedupe$|ImtStep/per_slot|FeatureGather|Batching/all|TrainStep/sasrec/B:256)' \
    --benchmark_out="$root/results/performance/suite.json" --benchmark_out_format=json
fi

# The runners of one grid, side by side on one store; stops the script when one fails.
run_grid() {
  local experiment="$1" store="$2"; shift 2
  local pids=() status=0
  for i in $(seq 1 "$runners"); do
    "$mmsr" run "$root/$experiment" --store "$store" --threads 1 --no-report -q "$@" > "${store%.sqlite}.runner$i.log" 2>&1 &
    pids+=($!)
    sleep 2  # the first runner claims its run before the next one looks
  done
  for p in "${pids[@]}"; do wait "$p" || status=$?; done
  if [ "$status" -ne 0 ]; then
    echo "reproduce: a runner of $experiment stopped with exit code $status; its log: ${store%.sqlite}.runner*.log" >&2
    tail -n 5 "${store%.sqlite}".runner*.log >&2
    exit "$status"
  fi
}

while read -r grid experiment baseline; do
  if [ "$grid" = . ]; then store="$stores/$study.sqlite"; out="$root/results/$study"
  else store="$stores/$study-$grid.sqlite"; out="$root/results/$study/$grid"; fi
  run_grid "$experiment" "$store" "$@"
  extra=()
  [ "$baseline" = - ] || extra+=(--baseline "$baseline")
  if [ "$study" = multimodal ]; then  # where the never-seen targets land (the data file names them)
    extra+=(--unseen-from "$root/../shared/data/scientific-mm/Scientific.test.inter" --keep-last 15)
  fi
  python3 "$root/scripts/study_results.py" export "$store" "$out" --mmsr "$mmsr" ${extra[@]+"${extra[@]}"}
done <<< "$grids"

if [ "$study" = kdsr ]; then  # the loss's memory at 10k and 100k items, each size in a fresh process
  "$(dirname "$mmsr")/mmsr_correlation_memory" 10000 100000 > "$root/results/kdsr/memory.txt"
fi
python3 "$root/scripts/study_results.py" tables "$study"
echo "reproduce: $study done in $(( ($(date +%s) - start) / 60 )) minutes; results/$study/ and docs/$study.md updated" >&2
