#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, docs/security.md) and runs each one for SECONDS.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# SECONDS defaults to 30 (what CI runs, from scripts/test.sh); `scripts/fuzz.sh 3600` for a
# long run. TARGETs default to all of them. The build is build-fuzz/: clang, RelWithDebInfo,
# coverage + ASan + UBSan, and only the libraries the fuzzers need (no services).
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/, regression inputs
# included) plus what earlier runs found (build-fuzz/corpus/<target>/, kept between runs).
# Any finding (crash, sanitizer report, leak, timeout over 10 s, more than 2 GB) fails the
# script; the input is saved under build-fuzz/findings/<target>/ and the log's tail printed.
# Reproduce with: build-fuzz/fuzz/<target> build-fuzz/findings/<target>/crash-...
# FRAMEPAIR_JOBS sets the build's parallel jobs and how many fuzzers run at once (default:
# all cores); FRAMEPAIR_FUZZ_BUILD_DIR another build directory than build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
build=${FRAMEPAIR_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FRAMEPAIR_JOBS:-$(nproc)}
all_targets=(tfrecord_fuzzer png_fuzzer manifest_fuzzer frame_table_fuzzer pairs_fuzzer
  window_plan_fuzzer storage_resolve_fuzzer video_probe_fuzzer)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is missing (scripts/install-deps.sh)"; exit 1; }
start=$(date +%s)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEPAIR_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
ninja -C "$build" -j "$jobs" "${targets[@]}"
echo "fuzz.sh: built in $(($(date +%s) - start)) s; running ${#targets[@]} targets for ${seconds} s each, $jobs at a time"

run_one() {
  local t=$1 seeds="fuzz/corpus/${1%_fuzzer}"
  local work="$build/corpus/$t" findings="$build/findings/$t" log="$build/fuzz-logs/$t.log"
  mkdir -p "$work" "$findings" "$(dirname "$log")"
  # New inputs go to the first directory (the work corpus), never into the committed seeds.
  # -timeout is per input; the video target's own decode deadline (3 s) is well under it.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$findings/" -print_final_stats=1 "$work" "$seeds" >"$log" 2>&1; then
    echo "fuzz.sh: $t: OK ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs)"
  else
    echo "fuzz.sh: $t: FINDING (input in $findings/, log $log):"
    tail -n 60 "$log"
    return 1
  fi
}

# At most $jobs fuzzers at once; a failed one leaves a marker (wait -n reaps exit statuses).
rm -f "$build"/fuzz-logs/*.failed
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  (run_one "$t" || touch "$build/fuzz-logs/$t.failed") &
done
wait
status=0
ls "$build"/fuzz-logs/*.failed >/dev/null 2>&1 && status=1
echo "fuzz.sh: done in $(($(date +%s) - start)) s"
if [ "$status" -ne 0 ]; then
  echo "fuzz.sh: findings above; fix them and add the input to fuzz/corpus/<target>/ as regress-*"
fi
exit "$status"
