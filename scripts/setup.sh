#!/usr/bin/env bash
# Sets up everything mmsr needs on a fresh Debian 12 machine and builds it.
# Idempotent: a second run only rebuilds what changed.
#
#   scripts/setup.sh                 # packages, .venv with the pinned torch, configure and build into build/
#   MMSR_TORCH_PREFIX=/opt/libtorch scripts/setup.sh   # use your own LibTorch 2.x instead of the wheel
#   MMSR_SKIP_APT=1 scripts/setup.sh # you installed the Debian packages yourself
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${MMSR_TORCH_VERSION:-2.9.1}"
BUILD_DIR="${MMSR_BUILD_DIR:-build}"
BUILD_TYPE="${MMSR_BUILD_TYPE:-Release}"
JOBS="${MMSR_JOBS:-$(nproc)}"

APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config python3-venv
  libboost-dev libboost-filesystem-dev libtomlplusplus-dev libsqlite3-dev sqlite3
  libcli11-dev libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libjs-chart.js chromium clang libclang-rt-14-dev slurm-wlm munge libgloo-dev libxxhash-dev)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ "${MMSR_SKIP_APT:-0}" != "1" ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  fi
fi

if [ -n "${MMSR_TORCH_PREFIX:-}" ]; then
  TORCH_PREFIX="$MMSR_TORCH_PREFIX"
else
  PY="${MMSR_PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    say "creating the project's virtual environment in .venv"
    "$PY" -m venv .venv
  fi
  if ! .venv/bin/python -c "import torch,sys; sys.exit(0 if torch.__version__.split('+')[0]=='$TORCH_VERSION' else 1)" 2>/dev/null; then
    say "installing torch==$TORCH_VERSION into .venv (its LibTorch is what mmsr builds against; large download, once)"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q "torch==$TORCH_VERSION" numpy
  fi
  # lizard measures function sizes for scripts/function_sizes.sh (a CTest check).
  [ -x .venv/bin/lizard ] || .venv/bin/pip install -q "lizard==1.24.3" \
    || echo "note: lizard could not be installed; the function-size check will be skipped" >&2
  .venv/bin/python -c "import torch,sys; sys.exit(0 if torch._C._GLIBCXX_USE_CXX11_ABI else 1)" \
    || { echo "error: the installed torch was not built with the C++11 ABI; Debian's Boost and toml++ need it" >&2; exit 2; }
  TORCH_PREFIX="$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')"
fi

mkdir -p "$BUILD_DIR"
say "configuring ($BUILD_TYPE) against LibTorch at $TORCH_PREFIX"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -Wno-dev > "$BUILD_DIR/configure.log" 2>&1 \
  || { cat "$BUILD_DIR/configure.log" >&2; exit 1; }
say "building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS"
say "done: $BUILD_DIR/bin/mmsr"
