#!/usr/bin/env bash
# Sets mmsr up (idempotent) and runs the whole test suite through CTest. Real-data checks read ../shared/data
# and skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/function_sizes.sh || true  # the report; the CTest check Tools.FunctionSizes fails on it
cd "${MMSR_BUILD_DIR:-build}"
exec ctest --output-on-failure -j "${MMSR_JOBS:-$(nproc)}" "$@"
