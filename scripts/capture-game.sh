#!/usr/bin/env bash
# Real rendered game footage with exact ground truth, for the fidelity test's real_capture
# case (issue 9). A Doom demo (Freedoom: Phase 2's built-in DEMO1, cut to its first
# $TICS tics, played by dsda-doom, Debian's prboom-plus package) is:
#  1. rendered frame-exact, one frame per game tic (-timedemo -viddump), at LR 160x120 and at
#     HR 640x480: the truth "world" PNGs, world id = tic. Both are real renders of the same
#     tic (not a downscale), as in real LR/HR game data;
#  2. played in real time under Xvfb, once per resolution, and recorded with ffmpeg x11grab
#     at 60 fps while the game runs at 35 tics/s on a shared machine: repeats and drops are
#     the capture's own;
#  3. matched: every captured frame gets the tic whose frame-exact render equals it pixel for
#     pixel (MD5 of the RGB frame). Frames before the first and after the last match (the
#     window appearing, the game quitting) are cut; a frame in between with no exact match
#     (a torn grab) is left out of the encode and counted in truth.json "unmatched";
#  4. encoded lossy the way recordings arrive: LR libx264 crf 30 with a 2 s GOP, HR crf 23
#     with a 5 s GOP, BT.709 limited range, both keeping the capture's variable frame times.
# Writes OUT/lr.mp4, OUT/hr.mp4, OUT/truth.json (tests/support/footage.h Truth format) and
# OUT/world/{lr,hr}/%06d.png; OUT defaults to /tmp/framepair-capture. Idempotent: does
# nothing when OUT already holds footage from this script's current version and settings.
# 3-4 minutes on 2 busy cores (the replays run in real time); lr.mp4 + hr.mp4 are ~4 MB.
#   scripts/capture-game.sh [OUT]
set -euo pipefail

out=${1:-/tmp/framepair-capture}
tics=${FRAMEPAIR_CAPTURE_TICS:-525}  # 15 s of gameplay
lr_w=160 lr_h=120 hr_w=640 hr_h=480
# dsda-doom's window is never smaller than 640x480: LR renders at 160x120 and is shown 4x
# with nearest-neighbour scaling, so LR frames are decimated back from the 640x480 window,
# identically for the frame-exact render and the capture.
window=640x480
wad=/usr/share/games/doom/freedoom2.wad
doom=/usr/games/dsda-doom
capture_fps=60

for tool in "$doom" xvfb-run Xvfb ffmpeg python3 flock; do
  command -v "$tool" >/dev/null || {
    echo "capture-game: $tool is missing; run scripts/install-deps.sh" >&2
    exit 2
  }
done
[ -f "$wad" ] || {
  echo "capture-game: $wad is missing; run scripts/install-deps.sh" >&2
  exit 2
}

mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.lock"
flock 9
key=$( (cat "$0"; echo "$tics $lr_w $lr_h $hr_w $hr_h $capture_fps"; ls -l "$wad") | md5sum | cut -c1-16)
if [ -f "$out/truth.json" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
  echo "capture-game: $out is up to date"
  exit 0
fi
rm -rf "$out/world" "$out/work" "$out/truth.json" "$out/key" "$out"/*.mp4
mkdir -p "$out/work" "$out/world/lr" "$out/world/hr"
cd "$out/work"
export HOME="$out/work" XDG_RUNTIME_DIR="$out/work"

# The demo lump, cut after $tics tics (4 bytes a tic for one player; 0x80 ends a demo), so
# that both the render and the replay stop there and the game quits.
python3 - "$wad" "$tics" <<'EOF'
import struct, sys
wad = open(sys.argv[1], 'rb').read()
count, offset = struct.unpack('<ii', wad[4:12])
for i in range(count):
    pos, size, name = struct.unpack('<ii8s', wad[offset + 16 * i:offset + 16 * i + 16])
    if name.rstrip(b'\0') == b'DEMO1':
        demo = wad[pos:pos + size]
        break
else:
    sys.exit('capture-game: no DEMO1 in ' + sys.argv[1])
tics = int(sys.argv[2])
assert demo[0] == 109 and len(demo) > 13 + 4 * tics, 'unexpected demo format'
open('demo.lmp', 'wb').write(demo[:13 + 4 * tics] + b'\x80')
EOF

# One frame per tic (no interpolation), no screen melt between levels, no demo progress bar,
# no rewind key frames (when they are slow, a "SLOW KEY FRAMING" message covers the replay).
# Keys missing here keep dsda-doom's defaults.
config() {  # config RESOLUTION VIDEO_COMMAND
  cat <<EOF
screen_resolution "$1"
videomode "Software"
uncapped_framerate 0
render_vsync 0
render_wipescreen 0
render_screen_multiply 1
hudadd_demoprogressbar 0
use_mouse 0
cap_fps 35
dsda_auto_key_frame_depth 0
cap_wipescreen 0
cap_soundcommand "cat > /dev/null"
cap_videocommand "$2"
cap_muxcommand "true"
cap_tempfile1 "unused1"
cap_tempfile2 "unused2"
cap_remove_tempfiles 0
EOF
}

run_doom() {  # run_doom SIDE ARGS...: one dsda-doom under its own Xvfb, the window filling it
  local side=$1
  shift
  timeout 300 xvfb-run -a -s "-screen 0 ${window}x24" "$@" \
    >"$side.log" 2>&1 || {
    echo "capture-game: $side failed; the log follows" >&2
    tail -20 "$side.log" >&2
    exit 1
  }
}

for side in lr hr; do
  if [ $side = lr ]; then res=${lr_w}x${lr_h} scale=",scale=${lr_w}:${lr_h}:flags=neighbor"; else res=${hr_w}x${hr_h} scale=""; fi
  # 1. Frame-exact: one PNG per tic.
  config "$res" "ffmpeg -nostdin -loglevel error -f rawvideo -pix_fmt rgb24 -r %r -s %wx%h -i - -vf format=rgb24$scale -start_number 0 ../world/$side/%%06d.png" >"$side-exact.cfg"
  run_doom "$side-exact" "$doom" -config "$side-exact.cfg" -iwad "$wad" -nosound -nomusic -window \
    -timedemo demo.lmp -viddump unused.mkv
  # 2. Real time: x11grab records the screen while the game replays the demo at 35 tics/s.
  config "$res" "true" >"$side-live.cfg"
  cat >"$side-live.sh" <<EOF
set -eu
ffmpeg -nostdin -loglevel error -f x11grab -draw_mouse 0 -framerate $capture_fps -video_size $window -i "\$DISPLAY" \
  -fps_mode passthrough -vf "format=rgb24$scale" -c:v ffvhuff -threads 1 -y $side-live.mkv &
grab=\$!
sleep 0.5
"$doom" -config $side-live.cfg -iwad "$wad" -nosound -nomusic -window -playdemo demo.lmp
sleep 0.3
kill -INT \$grab
wait \$grab || true
EOF
  run_doom "$side-live" bash "$side-live.sh"
done

# The two renders must number the same tics alike: each LR render is closer to the HR render
# of its own tic (downscaled) than to the HR renders of the tics before and after it.
psnr() {  # psnr HR_OFFSET: mean PSNR of LR tic t against HR tic t + offset, from tic 10 on
  ffmpeg -nostdin -start_number 10 -i ../world/lr/%06d.png -start_number $((10 + $1)) \
    -i ../world/hr/%06d.png -filter_complex \
    "[1:v]scale=${lr_w}:${lr_h}:flags=area,format=rgb24[h];[0:v]format=rgb24[l];[l][h]psnr" \
    -frames:v $((tics - 30)) -f null - 2>&1 | sed -n 's/.*PSNR.*average:\([0-9.]*\).*/\1/p'
}
same=$(psnr 0) before=$(psnr -1) after=$(psnr 1)
echo "capture-game: LR vs HR renders, PSNR: same tic $same dB, HR one tic earlier $before, later $after"
python3 -c "import sys; sys.exit(not ($same > $before + 1 and $same > $after + 1))" || {
  echo "capture-game: the LR and HR renders do not number the same tics alike" >&2
  exit 1
}

# 3. Ground truth by exact match, and the frames to keep; 4. the lossy encodes.
for side in lr hr; do
  ffmpeg -nostdin -loglevel error -start_number 0 -i "../world/$side/%06d.png" -pix_fmt rgb24 -f framemd5 "$side-exact.md5"
  ffmpeg -nostdin -loglevel error -i "$side-live.mkv" -fps_mode passthrough -pix_fmt rgb24 -f framemd5 "$side-live.md5"
done
python3 - "$tics" "$lr_w" "$lr_h" "$hr_w" "$hr_h" "$out" <<'EOF'
import json, sys
tics, lr_w, lr_h, hr_w, hr_h = map(int, sys.argv[1:6])
out = sys.argv[6]

def md5s(path):
    return [line.split(',')[-1].strip() for line in open(path) if not line.startswith('#')]

truth = {'version': 1, 'key': 'capture-game', 'seed': 0}
sides = {}
for side, w, h in (('lr', lr_w, lr_h), ('hr', hr_w, hr_h)):
    exact = md5s(f'{side}-exact.md5')
    assert len(exact) == tics, f'{side}: {len(exact)} frame-exact renders for {tics} tics'
    # Render 0 is the blank screen before the first tic is drawn, which is also what the
    # capture shows before the window opens and after the game quits: not a moment.
    tics_of = {}
    for tic, digest in enumerate(exact):
        if digest != exact[0]:
            tics_of.setdefault(digest, []).append(tic)
    live = md5s(f'{side}-live.md5')
    # A frame equal to several tics' renders (nothing visible changed between them on this
    # side) shows the earliest of them not before the previous frame's tic.
    ids, prev = [], 0
    for digest in live:
        candidates = tics_of.get(digest)
        if candidates is None:
            ids.append(None)
            continue
        later = [t for t in candidates if t >= prev]
        prev = later[0] if later else candidates[-1]
        ids.append(prev)
    matched = [k for k, t in enumerate(ids) if t is not None]
    if len(matched) < tics // 2:
        sys.exit(f'capture-game: only {len(matched)} of {len(live)} {side} frames match a render')
    first, last = matched[0], matched[-1]
    keep = matched
    unmatched = (last - first + 1) - len(keep)
    world_ids = [ids[k] for k in keep]
    if unmatched > len(keep) // 10:
        sys.exit(f'capture-game: {unmatched} {side} frames between the first and the last tic '
                 f'shown match no render (an overlay?); see {side}-live.mkv in {out}/work')
    ranges, start = [], first  # the kept frames as ranges: short select expressions
    for k in range(first, last + 2):
        if k > last or ids[k] is None:
            if start is not None and start < k:
                ranges.append(f'between(n\\,{start}\\,{k - 1})')
            start = k + 1
    open(f'{side}-keep.txt', 'w').write('+'.join(ranges))
    duplicates = [i for i in range(1, len(world_ids)) if world_ids[i] == world_ids[i - 1]]
    sides[side] = {
        'path': f'{out}/{side}.mp4', 'codec': 'libx264', 'pix_fmt': 'yuv420p',
        'size': [w, h], 'frames': len(world_ids), 'start_offset': world_ids[0],
        'end_trim': tics - 1 - world_ids[-1], 'gop': 70 if side == 'lr' else 175,
        'captured': len(live), 'cut_before': first, 'cut_after': len(live) - 1 - last,
        'unmatched': unmatched, 'duplicates': duplicates, 'world_ids': world_ids}
    print(f'capture-game: {side}: {len(live)} frames captured, {len(world_ids)} kept '
          f'(cut {first} before the first tic shown, {len(live) - 1 - last} after the last; '
          f'{unmatched} torn/unmatched in between left out), {len(set(world_ids))} distinct '
          f'tics of {tics}, {len(duplicates)} repeats')
truth['world'] = {'dir': f'{out}/world', 'frames': tics, 'fps': 35, 'lr_size': [lr_w, lr_h],
                  'hr_size': [hr_w, hr_h], 'scene_starts': [0],
                  'sources': ['dsda-doom -playdemo freedoom2.wad DEMO1']}
truth['matchable'] = len(set(sides['lr']['world_ids']) & set(sides['hr']['world_ids']))
truth['lr'] = sides['lr']
truth['hr'] = sides['hr']
json.dump(truth, open('truth.json', 'w'), indent=1)
EOF

for side in lr hr; do
  if [ $side = lr ]; then crf=30 gop=70; else crf=23 gop=175; fi
  ffmpeg -nostdin -loglevel error -i "$side-live.mkv" -fps_mode passthrough \
    -vf "select='$(cat "$side-keep.txt")',scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" \
    -colorspace bt709 -color_primaries bt709 -color_trc bt709 -color_range tv \
    -c:v libx264 -preset fast -crf $crf -g $gop -threads 1 \
    -fflags +bitexact -flags:v +bitexact -map_metadata -1 -y "$side.mp4"
  frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$side.mp4")
  want=$(python3 -c "import json; print(json.load(open('truth.json'))['$side']['frames'])")
  [ "$frames" = "$want" ] || {
    echo "capture-game: $side.mp4 has $frames frames, the truth $want" >&2
    exit 1
  }
  mv "$side.mp4" "$out/$side.mp4"
done
mv truth.json "$out/truth.json"
cd "$out"
rm -rf work
echo "$key" >key
ls -l "$out"/*.mp4 | awk '{print "capture-game: " $9 " " $5 " bytes"}'
echo "capture-game: done in ${SECONDS} s"
