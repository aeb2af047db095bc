#!/usr/bin/env bash
# Token-level text features of the Scientific items for the multimodal study (docs/multimodal.md): each item's text
# (title, categories, brand) through the offline MiniLM encoder, 30 token vectors per item ([CLS] first) with their
# mask, plus the pooled sentence vector, aligned to the data's item tokens through Scientific.item2index.
#
#   scripts/scientific_features.sh [DATA_DIR] [OUT_DIR]     (defaults: ../shared/data/scientific-mm, build/features/scientific)
#
# Deterministic and cached by content: the files are made again only when the item text, the id map, the encoder
# script or the token count changed (OUT_DIR/inputs.sha256 records what they were made from). Not committed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/data/scientific-mm}"
out="${2:-$root/build/features/scientific}"
tokens=30
for f in Scientific.text Scientific.item2index; do
  [ -f "$data/$f" ] || { echo "scientific_features: $data/$f is missing (the shared data beside the project)" >&2; exit 2; }
done
stamp="$( (cat "$data/Scientific.text" "$data/Scientific.item2index" "$root/scripts/encode_text.py"; echo "tokens=$tokens") \
  | sha256sum | cut -c1-16)"
if [ -f "$out/inputs.sha256" ] && [ "$(cat "$out/inputs.sha256")" = "$stamp" ] && [ -f "$out/text.tokens.npy" ]; then
  echo "scientific_features: up to date ($out, inputs $stamp)" >&2
  exit 0
fi
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "scientific_features: $python is missing; run scripts/setup.sh first" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out/inputs.sha256"
# One thread: the encoder's sums then run in one order, so the files are the same on every run of this machine.
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$python" "$root/scripts/encode_text.py" "$data/Scientific.text" --fields text \
  --rename "$data/Scientific.item2index" --tokens "$tokens" --out "$out/text"
echo "$stamp" > "$out/inputs.sha256"
