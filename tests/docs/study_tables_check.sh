#!/usr/bin/env bash
# The doc-drift test: every generated table and claim of docs/multimodal.md, docs/kdsr.md, docs/parity.md,
# docs/protocol.md, docs/data.md and docs/performance.md equals what results/multimodal/, results/kdsr/,
# results/parity/, results/protocol/, results/data/ and results/performance/ give, and the check
# does fail when one figure of a doc is changed by hand.
set -euo pipefail
root="$1"
check() { python3 "$root/scripts/study_results.py" tables multimodal --check "$@"; }
check
python3 "$root/scripts/study_results.py" tables kdsr --check
python3 "$root/scripts/study_results.py" tables parity --check
python3 "$root/scripts/study_results.py" tables protocol --check
python3 "$root/scripts/study_results.py" tables data --check
python3 "$root/scripts/study_results.py" tables performance --check
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
# Change the first figure inside the table2 block.
python3 - "$root/docs/multimodal.md" "$dir/multimodal.md" <<'PY'
import re, sys
doc = open(sys.argv[1]).read()
start = doc.index("<!-- generated: table2 -->")
m = re.compile(r"\d\.\d{4}").search(doc, start)
assert m, "no figure in the table2 block"
wrong = "9.9999" if m.group(0) != "9.9999" else "0.0000"
open(sys.argv[2], "w").write(doc[:m.start()] + wrong + doc[m.end():])
PY
if check --doc "$dir/multimodal.md" 2>/dev/null; then
  echo "the check passed a doc whose table2 figure was changed by hand" >&2
  exit 1
fi
echo "docs/multimodal.md, docs/kdsr.md, docs/parity.md, docs/protocol.md, docs/data.md and docs/performance.md equal their results; a changed figure is caught"
