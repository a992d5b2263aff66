#!/usr/bin/env bash
# End-to-end benchmark of `framepair run` against ffmpeg on the same files, same machine,
# same run. Prints a Markdown table (docs/benchmarks.md quotes it).
#   bench/run.sh [MINUTES...]        default: 1 10  (one footage pair per length)
# Footage: 1280x720 HR (libx264 crf 18) and 320x180 LR (area downscale, libx264 crf 18), 30 fps
# two testsrc2 scenes (the second hue-shifted and negated); LR starts 45 frames late and drops
# every 97th frame. Every run draws 300 windows (--windows 300), so pack work is the same
# for both lengths and peak memory shows what grows with footage length.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=("$@")
[ ${#minutes[@]} -gt 0 ] || minutes=(1 10)
work=${FRAMEPAIR_BENCH_DIR:-/tmp/framepair-bench}
mkdir -p "$work"
scripts/build.sh build >/dev/null
fp=build/client/framepair
ff="ffmpeg -nostdin -y -loglevel error"

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
json() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval('d' + sys.argv[1]))" "$2"; }

source bench/footage.sh

echo "| footage | ffmpeg decode both (s) | framepair analysis (s) | ratio | pack s/frame | ffmpeg PNG export s/frame | ratio | PNGs per distinct frame | peak RSS analysis (MiB) | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in "${minutes[@]}"; do
  make_pair "$m"
  d=$work/m$m
  # Reference 1: ffmpeg decoding both inputs at once (framepair ingests both in parallel too).
  t0=$(now)
  $ff -i "$d/hr.mp4" -f null - & p1=$!
  $ff -i "$d/lr.mp4" -f null - & p2=$!
  wait $p1 $p2
  t_decode=$(elapsed "$t0")
  # framepair run: analysis = ingest + align + scene; pack per distinct frame.
  rm -rf "$d/out"
  $fp run --quiet --json --lr "$d/lr.mp4" --hr "$d/hr.mp4" --out "$d/out" --seed 1 --windows 300 > "$d/run.json"
  t_analysis=$(python3 -c "import json; s=json.load(open('$d/run.json'))['seconds']; print(s['ingest']+s['align']+s['scene'])")
  t_pack=$(json "$d/run.json" "['seconds']['pack']")
  n_lr=$(json "$d/run.json" "['distinct_lr_frames']")
  n_hr=$(json "$d/run.json" "['distinct_hr_frames']")
  pngs=$(json "$d/run.json" "['pngs_encoded']")
  rss=$(json "$d/run.json" "['peak_rss_bytes']")
  # Peak by the end of scene detection: ingest + align + scene, before pack starts.
  rss_analysis=$(json "$d/run.json" "['peak_rss_bytes_after']['scene']")
  # Reference 2: ffmpeg's own PNG export (level 1) of as many frames from each input.
  rm -rf "$d/png" && mkdir -p "$d/png/hr" "$d/png/lr"
  t0=$(now)
  $ff -i "$d/hr.mp4" -frames:v "$n_hr" -compression_level 1 "$d/png/hr/%06d.png"
  $ff -i "$d/lr.mp4" -frames:v "$n_lr" -compression_level 1 "$d/png/lr/%06d.png"
  t_export=$(elapsed "$t0")
  rm -rf "$d/png" "$d/out"
  per_fp=$(echo "$t_pack / ($n_lr + $n_hr)" | bc -l)
  per_ff=$(echo "$t_export / ($n_lr + $n_hr)" | bc -l)
  printf "| %d min 1280x720 + 320x180 | %.2f | %.2f | %.2fx | %.4f | %.4f | %.2fx | %.3f | %.0f | %.0f |\n" \
    "$m" "$t_decode" "$t_analysis" "$(echo "$t_analysis / $t_decode" | bc -l)" \
    "$per_fp" "$per_ff" "$(echo "$per_fp / $per_ff" | bc -l)" \
    "$(echo "$pngs / ($n_lr + $n_hr)" | bc -l)" "$(echo "$rss_analysis / 1048576" | bc -l)" \
    "$(echo "$rss / 1048576" | bc -l)"
done
