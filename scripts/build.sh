#!/usr/bin/env bash
# Configures and builds framepair with Ninja (and ccache when present).
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build/. FRAMEPAIR_JOBS sets the parallel jobs (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true
cmake -S . -B "$build_dir" -G Ninja "$@" >/dev/null
ninja -C "$build_dir" -j "${FRAMEPAIR_JOBS:-$(nproc)}"
