#!/usr/bin/env bash
# Function size and complexity of the host, the command line and the plugins, measured with lizard (PyPI): no
# function may be over 80 lines or have a cyclomatic complexity above 20 (docs/architecture.md). Prints the
# offenders and exits 1 when there are any; exits 77 (CTest: skipped) when lizard is not installed (scripts/setup.sh
# installs it into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
LIZARD="${MMSR_LIZARD:-.venv/bin/lizard}"
[ -x "$LIZARD" ] || { echo "lizard is not installed ($LIZARD); scripts/setup.sh installs it"; exit 77; }
report=$("$LIZARD" core cli plugins -l cpp -L 80 -C 20 -w || true)
if [ -n "$report" ]; then
  echo "functions over 80 lines or cyclomatic complexity 20:"
  echo "$report"
  exit 1
fi
all=$("$LIZARD" core cli plugins -l cpp -L 80 -C 20)
functions=$(echo "$all" | awk '/^Total nloc/ { getline; getline; print $5 }')
longest=$(echo "$all" | awk 'NF == 6 && $1 ~ /^[0-9]+$/ && $6 ~ /@/ { print }' | sort -k5,5n | tail -1)
most_complex=$(echo "$all" | awk 'NF == 6 && $1 ~ /^[0-9]+$/ && $6 ~ /@/ { print }' | sort -k2,2n | tail -1)
echo "lizard: $functions functions in core/, cli/ and plugins/; none over 80 lines or cyclomatic complexity 20"
echo "  longest:      $longest"
echo "  most complex: $most_complex"
echo "  (columns: lines of code, cyclomatic complexity, tokens, parameters, length, function@lines@file)"
