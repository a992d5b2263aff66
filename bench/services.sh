#!/usr/bin/env bash
# The service system against `framepair run`, same pair, same machine, same run: wall time of
# `framepair submit --watch` through scripts/local-stack.sh (upload included) with 1 and with 2
# packers, beside `framepair run` with the same options. Prints a Markdown table
# (docs/benchmarks.md quotes it) and checks that the shards are byte-identical.
#   bench/services.sh [MINUTES]      default 1 (the 1-minute 720p pair of bench/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-1}
work=${FRAMEPAIR_BENCH_DIR:-/tmp/framepair-bench}
port=${FRAMEPAIR_BENCH_PORT:-54000}
mkdir -p "$work"
scripts/build.sh build >/dev/null
fp=build/client/framepair
ff="ffmpeg -nostdin -y -loglevel error"
source bench/footage.sh
options=(--seed 1 --windows 300 --shards 4)


make_pair "$minutes"
d=$work/m$minutes
rm -rf "$d/run-out"
t0=$(now)
$fp run --quiet --lr "$d/lr.mp4" --hr "$d/hr.mp4" --out "$d/run-out" "${options[@]}" >/dev/null
t_run=$(elapsed "$t0")

echo "| footage | framepair run (s) | stack, 1 packer (s) | overhead | stack, 2 packers (s) | overhead | shards identical |"
echo "|---|---|---|---|---|---|---|"
row="| $minutes min 1280x720 + 320x180, ${options[*]} | $(printf %.2f "$t_run")"
identical=yes
for packers in 1 2; do
  stack=$d/stack-$packers
  rm -rf "$stack"
  scripts/local-stack.sh up --dir "$stack" --port "$port" --packers "$packers" --bin build >/dev/null
  t0=$(now)
  $fp --server "127.0.0.1:$port" submit -q --lr "$d/lr.mp4" --hr "$d/hr.mp4" --dataset bench \
    "${options[@]}" --watch >/dev/null 2>&1
  t=$(elapsed "$t0")
  scripts/local-stack.sh down --dir "$stack" >/dev/null
  for f in "$d"/run-out/train_*.tfrecord; do
    k=$(basename "$f" | sed 's/train_\(.*\)\.tfrecord/\1/')
    cmp -s "$f" "$stack"/storage/datasets/bench/train_j*_"$k".tfrecord || identical=no
  done
  row="$row | $(printf %.2f "$t") | $(echo "($t / $t_run - 1) * 100" | bc -l | xargs printf '%+.1f %%')"
done
echo "$row | $identical |"
