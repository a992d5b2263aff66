#!/usr/bin/env bash
# The fidelity tier: framepair on realistic footage pairs (tests/support/footage.h
# RealisticSpecs: independent lossy encodes, different render and capture rates, held frames,
# long stalls, a HUD on one side, a mis-tagged range) and on a real capture (real_capture:
# scripts/capture-game.sh, a Doom demo recorded in real time at two resolutions), judged
# against their ground truth. Prints one table row per case (the fidelity table of
# docs/benchmarks.md) and fails while any case misses a target. Builds first; about 8 minutes
# on 2 cores with a cold cache.
#   scripts/fidelity.sh [gtest filter, e.g. '*half_rate*']
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
scripts/build.sh build >/dev/null
filter=${1:-*}
echo "| case | precision | recall | windows: skipped shared / repeated / wrong pair / crossing a cut | greedy precision | greedy recall | greedy windows | LR dup P / R | HR dup P / R |"
echo "|---|---|---|---|---|---|---|---|---|"
set +e
build/tests/fidelity_test --gtest_filter="Realistic/FidelityTest.*/${filter}" > build/fidelity.log 2>&1
status=$?
set -e
grep -E '^\| |^\[  (PASSED|FAILED) |^\[.*\] (warning|window|wrong pairs|unpaired moments)' build/fidelity.log | cut -c1-300 || true
echo "(full output: build/fidelity.log)"
exit "$status"
