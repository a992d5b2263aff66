#!/usr/bin/env bash
# The coordinator at scale (issue 14): framepair-coordinator with FAKE workers that answer every
# task at once (coordinator_bench workers, 50 servers on loopback), fed JOBS HR-only jobs of 20
# tasks (3 + 17 shards), on top of OLD finished jobs already in the database (so `list` and
# `status` are timed with that many jobs). Prints dispatches per second, ready -> dispatched
# p50/p99, coordinator CPU per task, peak RSS, database size and list/status latency.
#   bench/coordinator.sh [JOBS] [OLD] [WORKERS]     defaults 10000 0 50
# Needs a build with the benchmark target (scripts/build.sh build).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-10000}
old=${2:-0}
nworkers=${3:-50}
build=${FRAMEPAIR_BUILD_DIR:-build}
work=${FRAMEPAIR_BENCH_DIR:-/tmp/framepair-coordinator-bench}
port=${FRAMEPAIR_BENCH_PORT:-54100}
bench=$build/bench/coordinator_bench
coordinator=$build/services/coordinator/framepair-coordinator
rm -rf "$work"
mkdir -p "$work/storage/footage" "$work/state"
echo hr >"$work/storage/footage/hr.mkv"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

if [ "$old" -gt 0 ]; then
  "$bench" populate --db "$work/state/coordinator.db" --jobs "$old"
fi
"$bench" workers --count "$nworkers" --storage-root "$work/storage" \
  --targets-file "$work/targets" --arrivals-file "$work/arrivals" &
workers_pid=$!
pids+=("$workers_pid")
for _ in $(seq 100); do [ -s "$work/targets" ] && break; sleep 0.1; done
targets=$(cat "$work/targets")

"$coordinator" --listen "127.0.0.1:$port" --storage-root "$work/storage" --state-dir "$work/state" \
  --ingest "$targets" --align "$targets" --scene "$targets" --packer "$targets" \
  --ingest-concurrency 4 --align-concurrency 4 --scene-concurrency 4 --packer-concurrency 4 \
  --log-level warn 2>"$work/coordinator.log" &
coordinator_pid=$!
pids+=("$coordinator_pid")
for _ in $(seq 100); do
  "$build/client/framepair" --server "127.0.0.1:$port" health >/dev/null 2>&1 && break
  sleep 0.1
done
ticks() { awk '{print $14 + $15}' "/proc/$coordinator_pid/stat"; }
cpu0=$(ticks)
"$bench" client --server "127.0.0.1:$port" --jobs "$jobs" --shards 17 --submitters 8 \
  --submits-file "$work/submits" | tee "$work/client.txt"
cpu1=$(ticks)
hz=$(getconf CLK_TCK)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$coordinator_pid/status")
kill "$workers_pid"
wait "$workers_pid" || true
"$bench" analyze --submits-file "$work/submits" --arrivals-file "$work/arrivals"
tasks=$((jobs * 20))
echo "coordinator CPU $(echo "($cpu1 - $cpu0) / $hz" | bc -l | xargs printf %.1f) s," \
  "$(echo "($cpu1 - $cpu0) / $hz * 1000000 / $tasks" | bc -l | xargs printf %.0f) us per task;" \
  "peak RSS $((rss_kb / 1024)) MiB;" \
  "database $(du -sm "$work/state" | cut -f1) MiB ($((jobs + old)) jobs)"
