#!/usr/bin/env bash
# One command per study: runs the study's grid (resumable: rerun to go on), writes its small result files under
# results/STUDY/ and rebuilds the generated tables of docs/STUDY.md from them.
#
#   scripts/reproduce.sh multimodal [mmsr run options, e.g. --models ODMT SASRec+LF or --seeds 1]
#
#   multimodal  the ODMT paper's Tables 2-4 and Figures 5 and 7 on Scientific (examples/multimodal/odmt_study.toml;
#               needs ../shared/data/scientific-mm beside the project). 87 runs; about 6 hours on 2 cores.
#   kdsr        KDSR's correlation supervision and its ablations on Scientific, beside SASRec and ODMT
#               (examples/kdsr/scientific.toml). 27 runs.
#
# The store is build/studies/STUDY.sqlite (MMSR_STUDY_STORE overrides it); MMSR_RUNNERS runners (default 2, one
# thread each) share the grid. The parity study is not yet scripted here (docs/parity.md says how its figures were
# made).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
study="${1:-}"
case "$study" in
  multimodal) experiment="$root/examples/multimodal/odmt_study.toml"; baseline="SASRec+LF" ;;
  kdsr) experiment="$root/examples/kdsr/scientific.toml"; baseline="SASRec+gate" ;;
  *) echo "usage: scripts/reproduce.sh multimodal|kdsr [mmsr run options]" >&2; exit 2 ;;
esac
shift
mmsr="$root/build/bin/mmsr"
[ -x "$mmsr" ] || { echo "reproduce: $mmsr is missing; build first (scripts/setup.sh)" >&2; exit 2; }
store="${MMSR_STUDY_STORE:-$root/build/studies/$study.sqlite}"
runners="${MMSR_RUNNERS:-2}"
mkdir -p "$(dirname "$store")"
start=$(date +%s)

if [ "$study" = multimodal ]; then "$root/scripts/scientific_features.sh"; fi

pids=()
for i in $(seq 1 "$runners"); do
  "$mmsr" run "$experiment" --store "$store" --threads 1 --no-report -q "$@" > "${store%.sqlite}.runner$i.log" 2>&1 &
  pids+=($!)
  sleep 2  # the first runner claims its run before the next one looks
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=$?; done
if [ "$status" -ne 0 ]; then
  echo "reproduce: a runner stopped with exit code $status; its log: ${store%.sqlite}.runner*.log" >&2
  tail -n 5 "${store%.sqlite}".runner*.log >&2
  exit "$status"
fi

extra=()
if [ "$study" = multimodal ]; then  # where the never-seen targets land (the data file names them)
  extra=(--unseen-from "$root/../shared/data/scientific-mm/Scientific.test.inter" --keep-last 15)
fi
python3 "$root/scripts/study_results.py" export "$store" "$root/results/$study" --baseline "$baseline" --mmsr "$mmsr" \
  ${extra[@]+"${extra[@]}"}
if [ "$study" = kdsr ]; then  # the loss's memory at 10k and 100k items, each size in a fresh process
  "$root/build/bin/mmsr_correlation_memory" 10000 100000 > "$root/results/kdsr/memory.txt"
fi
python3 "$root/scripts/study_results.py" tables "$study"
echo "reproduce: $study done in $(( ($(date +%s) - start) / 60 )) minutes; results/$study/ and docs/$study.md updated" >&2
