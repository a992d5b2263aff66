#!/usr/bin/env bash
# End-to-end benchmark of `framepair run` against ffmpeg on the same files, same machine,
# same run. Prints a Markdown table (docs/benchmarks.md quotes it).
#   bench/run.sh [SIZE:MINUTES...]   default: 720p:1 720p:10 1080p:1
# SIZE is 720p (1280x720 + 320x180, 30 fps) or 1080p (1920x1080 + 480x270, 60 fps); see
# bench/footage.sh. 1080p:10 is left out of the default: on a 2-core machine it takes about
# half an hour (footage generation included). A bare number means 720p.
# FRAMEPAIR_BIN=path runs another framepair build (for before/after tables; columns that build
# does not report print "-"). FRAMEPAIR_BENCH_REPEAT=N runs framepair N times per footage and
# reports the median pack and analysis times.
# Every run draws 300 windows (--windows 300 --seed 1), so pack work is the same for every
# length and peak memory shows what grows with footage length.
set -euo pipefail
cd "$(dirname "$0")/.."
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(720p:1 720p:10 1080p:1)
work=${FRAMEPAIR_BENCH_DIR:-/tmp/framepair-bench}
repeat=${FRAMEPAIR_BENCH_REPEAT:-1}
mkdir -p "$work"
if [ -z "${FRAMEPAIR_BIN:-}" ]; then scripts/build.sh build >/dev/null; fi
fp=${FRAMEPAIR_BIN:-build/client/framepair}
ff="ffmpeg -nostdin -y -loglevel error"

# json FILE EXPR: a value of the run's --json, or "-" when this build does not report it.
json() { python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
try: print(eval('d' + sys.argv[2]))
except KeyError: print('-')" "$1" "$2"; }
ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else printf "%.2f" "$(echo "$1 / $2" | bc -l)"; fi; }
median() { printf "%s\n" "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

source bench/footage.sh

echo "| footage | ffmpeg decode both (s) | framepair analysis (s) | ratio | pack s/frame | ffmpeg PNG export s/frame | ratio | decoded per needed frame | decoded / minimum | PNG KB/frame framepair | PNG KB/frame ffmpeg | peak RSS analysis (MiB) | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for spec in "${specs[@]}"; do
  case "$spec" in *:*) size=${spec%%:*} m=${spec#*:} ;; *) size=720p m=$spec ;; esac
  make_footage "$size" "$m"
  d=$(footage_dir "$size" "$m")
  IFS=x read -r hw hh < <(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$d/hr.mp4")
  IFS=x read -r lw lh < <(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$d/lr.mp4")
  # Reference 1: ffmpeg decoding both inputs at once (framepair ingests both in parallel too).
  t0=$(now)
  $ff -i "$d/hr.mp4" -f null - & p1=$!
  $ff -i "$d/lr.mp4" -f null - & p2=$!
  wait $p1 $p2
  t_decode=$(elapsed "$t0")
  # framepair run: analysis = ingest + align + scene; pack per distinct frame.
  packs=() analyses=()
  for ((r = 0; r < repeat; r++)); do
    rm -rf "$d/out"
    $fp run --quiet --json --lr "$d/lr.mp4" --hr "$d/hr.mp4" --out "$d/out" --seed 1 --windows 300 > "$d/run.json"
    analyses+=("$(python3 -c "import json; s=json.load(open('$d/run.json'))['seconds']; print(s['ingest']+s['align']+s['scene'])")")
    packs+=("$(json "$d/run.json" "['seconds']['pack']")")
  done
  t_analysis=$(median "${analyses[@]}")
  t_pack=$(median "${packs[@]}")
  n_lr=$(json "$d/run.json" "['distinct_lr_frames']")
  n_hr=$(json "$d/run.json" "['distinct_hr_frames']")
  decoded=$(json "$d/run.json" "['pack_frames_decoded']")
  needed=$(json "$d/run.json" "['pack_frames_needed']")
  [ "$needed" != - ] || needed=$((n_lr + n_hr))  # what builds without the counter needed
  minimum=$(json "$d/run.json" "['pack_frames_decoded_minimum']")
  png_bytes=$(json "$d/run.json" "['pack_png_bytes']")
  rss=$(json "$d/run.json" "['peak_rss_bytes']")
  # Peak by the end of scene detection: ingest + align + scene, before pack starts.
  rss_analysis=$(json "$d/run.json" "['peak_rss_bytes_after']['scene']")
  # Reference 2: ffmpeg's own PNG export (level 1) of as many frames from each input.
  rm -rf "$d/png" && mkdir -p "$d/png/hr" "$d/png/lr"
  t0=$(now)
  $ff -i "$d/hr.mp4" -frames:v "$n_hr" -compression_level 1 "$d/png/hr/%06d.png"
  $ff -i "$d/lr.mp4" -frames:v "$n_lr" -compression_level 1 "$d/png/lr/%06d.png"
  t_export=$(elapsed "$t0")
  ff_png_bytes=$(du -sb "$d/png" | cut -f1)
  rm -rf "$d/png" "$d/out"
  per_fp=$(echo "$t_pack / ($n_lr + $n_hr)" | bc -l)
  per_ff=$(echo "$t_export / ($n_lr + $n_hr)" | bc -l)
  kb_fp=-
  [ "$png_bytes" = - ] || kb_fp=$(printf "%.0f" "$(echo "$png_bytes / ($n_lr + $n_hr) / 1024" | bc -l)")
  printf "| %d min %dx%d + %dx%d | %.2f | %.2f | %.2fx | %.4f | %.4f | %.2fx | %s | %s | %s | %.0f | %.0f | %.0f |\n" \
    "$m" "$hw" "$hh" "$lw" "$lh" "$t_decode" "$t_analysis" "$(echo "$t_analysis / $t_decode" | bc -l)" \
    "$per_fp" "$per_ff" "$(echo "$per_fp / $per_ff" | bc -l)" \
    "$(ratio "$decoded" "$needed")" "$(ratio "$decoded" "$minimum")" "$kb_fp" \
    "$(echo "$ff_png_bytes / ($n_lr + $n_hr) / 1024" | bc -l)" \
    "$(echo "$rss_analysis / 1048576" | bc -l)" "$(echo "$rss / 1048576" | bc -l)"
done
