# Benchmark footage, shared by bench/*.sh (sourced; needs $work and $ff).
# make_footage SIZE MINUTES -> $work/<dir>/{hr.mp4,lr.mp4} (dir: footage_dir SIZE MINUTES).
#   720p:  1280x720 HR + 320x180 LR, 30 fps (the footage of every earlier table)
#   1080p: 1920x1080 HR + 480x270 LR, 60 fps (JoshUpscale trains on 480x270 -> 1920x1080)
#   4k:    3840x2160 HR + 960x540 LR, 30 fps (the largest frames the deployed workers take)
# MINUTES may be a fraction (0.1 = 6 s).
# HR: libx264 crf 18, two testsrc2 scenes (the second hue-shifted and negated). LR: area
# downscale of HR, libx264 crf 18, starting 45 frames late and dropping every 97th frame.

# Wall-clock timing shared by the scripts: start=$(now); ...; elapsed "$start" (seconds).
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
footage_dir() {  # $1 size, $2 minutes
  if [ "$1" = 720p ]; then echo "$work/m$2"; else echo "$work/$1-m$2"; fi
}

make_footage() {  # $1 size (720p|1080p), $2 minutes
  local d w h lw lh rate
  d=$(footage_dir "$1" "$2")
  case "$1" in
    720p) w=1280 h=720 lw=320 lh=180 rate=30 ;;
    1080p) w=1920 h=1080 lw=480 lh=270 rate=60 ;;
    4k) w=3840 h=2160 lw=960 lh=540 rate=30 ;;
    *) echo "footage size $1: expected 720p, 1080p or 4k" >&2; return 2 ;;
  esac
  local frames; frames=$(echo "$2 * 60 * $rate / 1" | bc)
  mkdir -p "$d"
  [ -f "$d/lr.mp4" ] && return
  local half=$(( frames / 2 ))
  $ff -f lavfi -i "testsrc2=size=${w}x$h:rate=$rate" -f lavfi -i "testsrc2=size=${w}x$h:rate=$rate,hue=h=120,negate" \
    -filter_complex "[0:v]trim=end_frame=$half[a];[1:v]trim=end_frame=$(( frames - half )),setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]" \
    -map "[v]" -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p "$d/hr.mp4"
  $ff -i "$d/hr.mp4" -vf "trim=start_frame=45,setpts=PTS-STARTPTS,select='not(eq(mod(n\,97)\,0))',setpts=N/$rate/TB,scale=$lw:$lh:flags=area" \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p "$d/lr.mp4.tmp.mp4"
  mv "$d/lr.mp4.tmp.mp4" "$d/lr.mp4"
}

make_pair() { make_footage 720p "$1"; }  # $1 minutes -> $work/m$1 (bench/services.sh)
