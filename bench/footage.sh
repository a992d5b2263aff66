# Benchmark footage, shared by bench/*.sh (sourced; needs $work and $ff).
# make_pair MINUTES -> $work/mMINUTES/{hr.mp4,lr.mp4}: 1280x720 HR (libx264 crf 18) and
# 320x180 LR (area downscale, libx264 crf 18), 30 fps, two testsrc2 scenes (the second
# hue-shifted and negated); LR starts 45 frames late and drops every 97th frame.
make_pair() {  # $1 minutes -> $work/m$1/{hr.mp4,lr.mp4}
  local d=$work/m$1 frames=$(( $1 * 60 * 30 ))
  mkdir -p "$d"
  [ -f "$d/lr.mp4" ] && return
  local half=$(( frames / 2 ))
  $ff -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "testsrc2=size=1280x720:rate=30,hue=h=120,negate" \
    -filter_complex "[0:v]trim=end_frame=$half[a];[1:v]trim=end_frame=$(( frames - half )),setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]" \
    -map "[v]" -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p "$d/hr.mp4"
  $ff -i "$d/hr.mp4" -vf "trim=start_frame=45,setpts=PTS-STARTPTS,select='not(eq(mod(n\,97)\,0))',setpts=N/30/TB,scale=320:180:flags=area" \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p "$d/lr.mp4"
}

