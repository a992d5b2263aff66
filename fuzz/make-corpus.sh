#!/usr/bin/env bash
# Regenerates the seed corpora under fuzz/corpus/<target>/ (committed; keep each under
# ~200 KB): work files, manifests, TFRecords and PNGs from framepair's own writers
# (fuzz_make_corpus, built in build-fuzz/), tiny videos in every accepted container from
# ffmpeg, and storage paths. Regression inputs (regress-*) are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus
build=build-fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEPAIR_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
ninja -C "$build" -j "${FRAMEPAIR_JOBS:-$(nproc)}" fuzz_make_corpus
ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/fuzz_make_corpus" "$out"

# Videos: 5 frames of 32x24, small enough for the fuzzer's --max-frame-pixels, in each
# container of kAcceptedContainers with a codec a recording would use.
v="$out/video_probe"
mkdir -p "$v"
src=(-f lavfi -i "testsrc2=size=32x24:rate=10:duration=0.5" -an -map_metadata -1 -fflags +bitexact
  -flags +bitexact)
ff() { ffmpeg -nostdin -loglevel error -y "${src[@]}" "$@"; }
ff -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$v/h264.mp4"
ff -c:v libx264 -preset ultrafast -pix_fmt yuv444p -bf 2 "$v/h264_bframes.mkv"
ff -c:v ffv1 "$v/ffv1.mkv"
ff -c:v libvpx-vp9 -deadline realtime -cpu-used 8 "$v/vp9.webm"
ff -c:v mpeg4 "$v/mpeg4.avi"
ff -c:v flv1 "$v/flv1.flv"
ff -c:v mpeg2video "$v/mpeg2.ts"
ff -c:v utvideo "$v/utvideo.nut"
ff -pix_fmt yuv420p -frames:v 2 "$v/raw.y4m"
ff -c:v png -frames:v 2 "$v/png_in.mov"

# Storage paths (storage_resolve_fuzzer's tree: see LLVMFuzzerInitialize there).
s="$out/storage_resolve"
mkdir -p "$s"
i=0
for p in "footage/sha256/$(printf 'a%.0s' {1..64})" "a/b/c" "in/x" "a/./b//c" "abs_in/y" \
  "out/passwd" "rel_out/x" "a/deep_out/etc" "dangling" "dangling/more" "dangling_out/x" \
  "dangling_up" "loop/x" "loop_a" "a/../b" "work/job1/attempt/out.bin" \
  "work/job1/attempt/esc/x" "work/job1/attempt/self/self/f" "work/job1/attempt_link/f" \
  "a/b/up/a/b/up/work/job1/attempt/f" "datasets/d/train-00000-of-00001.tfrecord"; do
  printf '%s' "$p" >"$s/path$((i++))"
done
du -sh "$out"/*
