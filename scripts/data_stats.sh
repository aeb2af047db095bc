#!/usr/bin/env bash
# What `mmsr data stats` says about the real datasets beside the project (../shared/data), kept in results/data/ and
# quoted by docs/data.md (scripts/study_results.py tables data rebuilds the doc's blocks from these files).
#
#   scripts/data_stats.sh        (needs the build and ../shared/data)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mmsr="$root/build/bin/mmsr"
[ -x "$mmsr" ] || { echo "data_stats: $mmsr is missing; build first (scripts/setup.sh)" >&2; exit 2; }
out="$root/results/data"
mkdir -p "$out"
while read -r name experiment; do
  { echo "\$ mmsr data stats $experiment"; "$mmsr" data stats "$root/$experiment"; } > "$out/$name.txt"
  echo "data_stats: $out/$name.txt" >&2
done <<'LIST'
lastfm examples/parity/lastfm.toml
beauty examples/parity/beauty.toml
ml100k examples/data/ml100k.toml
scientific examples/multimodal/scientific.toml
LIST
python3 "$root/scripts/study_results.py" tables data
