#!/usr/bin/env bash
# `framepair run --out s3://...` against `framepair run --out DIR`, same pair, same machine:
# wall time of each (best of REPEATS), the upload's share, and whether the objects equal the
# files byte for byte. The S3 server is s3rver (tests/s3, npm) on 127.0.0.1, so this measures
# framepair's own cost of object storage (local scratch, multipart upload, server-side copy,
# manifest last) over loopback, not a network. Prints a Markdown table (docs/benchmarks.md).
#   bench/s3.sh [MINUTES] [REPEATS]      default 1 (the 1-minute 720p pair of bench/run.sh), 3
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-1}
repeats=${2:-3}
work=${FRAMEPAIR_BENCH_DIR:-/tmp/framepair-bench}
mkdir -p "$work"
[ -f tests/s3/node_modules/s3rver/bin/s3rver.js ] || { echo "bench/s3.sh: run scripts/install-deps.sh (s3rver)" >&2; exit 2; }
[ -x build/client/framepair ] || scripts/build.sh build >/dev/null
fp=build/client/framepair
ff="ffmpeg -nostdin -y -loglevel error"
source bench/footage.sh
options=(--seed 1 --windows 300 --shards 4)


make_pair "$minutes"
d=$work/m$minutes
s3dir=$(mktemp -d "$work/s3rver-XXXXXX")
node tests/s3/node_modules/s3rver/bin/s3rver.js -d "$s3dir" -a 127.0.0.1 -p 0 --configure-bucket bench \
  >"$s3dir.log" 2>&1 &
s3pid=$!
trap 'kill $s3pid 2>/dev/null; rm -rf "$s3dir" "$s3dir.log"' EXIT
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$s3dir.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "bench/s3.sh: s3rver did not start" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port

best() { sort -n | head -1; }
t_dir=$(for _ in $(seq "$repeats"); do
  rm -rf "$d/s3-bench-out"; t0=$(now)
  $fp run --quiet --lr "$d/lr.mp4" --hr "$d/hr.mp4" --out "$d/s3-bench-out" "${options[@]}" >/dev/null
  elapsed "$t0"; done | best)
t_s3=$(for _ in $(seq "$repeats"); do
  t0=$(now)
  $fp run --quiet --lr "$d/lr.mp4" --hr "$d/hr.mp4" --out s3://bench/ds "${options[@]}" >/dev/null
  elapsed "$t0"; done | best)
# Byte-identical: s3rver keeps each object's bytes in a file named after the key.
identical=yes
for f in "$d"/s3-bench-out/*.tfrecord "$d"/s3-bench-out/manifest.json; do
  obj=$(find "$s3dir/bench/ds" -maxdepth 1 -name "$(basename "$f")._S3rver_object" | head -1)
  [ -n "$obj" ] && cmp -s "$f" "$obj" || identical=no
done
mib=$(du -sm "$d/s3-bench-out" | cut -f1)
echo "| footage | run --out DIR (s) | run --out s3:// (s) | overhead | dataset (MiB) | objects identical |"
echo "|---|---|---|---|---|---|"
echo "| $minutes min 1280x720 + 320x180, ${options[*]} | $(printf %.2f "$t_dir") | $(printf %.2f "$t_s3") | $(echo "($t_s3 / $t_dir - 1) * 100" | bc -l | xargs printf '%+.1f %%') | $mib | $identical |"
