#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test.
#  1. a RelWithDebInfo build with -Werror: all unit, end-to-end and bad-input tests (ctest);
#  2. an ASan+UBSan build: the unit tests of every library (real FFmpeg decoding, libpng,
#     zlib, files) under AddressSanitizer and UndefinedBehaviorSanitizer, except the slow
#     alignment accuracy scenarios (see below).
#  3. the libFuzzer targets (scripts/fuzz.sh, clang, build-fuzz/): 30 s each from their seeds;
#     any crash, sanitizer report, leak, hang or oversized allocation fails the run.
# Set FRAMEPAIR_SKIP_SANITIZE=1 to skip the second configuration locally, and
# FRAMEPAIR_SKIP_FUZZ=1 to skip the third (CI always runs both: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== build (RelWithDebInfo, -Werror)"
scripts/build.sh build
echo "== tests"
# End-to-end tests kill, stop and cut off real processes on a shared 2-core machine; a test
# that fails is run once more, and only a second failure fails the run (both are printed).
# A test that passed only on its second run is reported as flaky below, never hidden.
set +e
# The full fidelity tier on realistic footage runs with scripts/fidelity.sh (docs/benchmarks.md);
# its cases that meet the targets run here as FidelityCiTier (label e2e).
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600 --repeat until-pass:2 -LE fidelity \
  2>&1 | tee build/ctest.log
status=${PIPESTATUS[0]}
set -e
scripts/report-flaky.sh build/ctest.log
[ "$status" -eq 0 ] || exit "$status"

echo "== container image build steps (deploy/docker/build-in-image.sh on this build tree)"
FRAMEPAIR_IMAGE_BUILD_TYPE=RelWithDebInfo deploy/docker/build-in-image.sh . build/image-prefix build

if [ "${FRAMEPAIR_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFRAMEPAIR_SANITIZE=ON >/dev/null
  ninja -C build-asan unit_tests
  echo "== unit tests under sanitizers"
  # Not here: the alignment accuracy scenarios and the 20 000-frame run. They drive the same
  # code as the other align tests over long synthetic sequences (35-58 s each at -O0 under
  # ASan, a quarter of this stage) and run in the configuration above.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 900 -L unit \
    -E 'Synthetic/ScenarioTest|TwentyThousandFramesComplete'
fi
if [ "${FRAMEPAIR_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzzing (libFuzzer + ASan + UBSan, 30 s per target)"
  scripts/fuzz.sh 30
fi
echo "== all tests passed"
