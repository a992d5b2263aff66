#!/usr/bin/env bash
# Starts or stops the framepair service system on this machine, on 127.0.0.1:
#
#   scripts/local-stack.sh up   --dir DIR [--port BASE] [--packers N] [--bin BUILD_DIR] [--tls CERTS]
#                               [--storage ROOT]
#   scripts/local-stack.sh down --dir DIR
#
# up starts framepair-coordinator on BASE (default 50051) and framepair-ingest, -align,
# -scene and N framepair-packer (default 1) on the ports after it; storage under DIR/storage,
# coordinator state under DIR/state, logs under DIR/logs, pids in DIR/run/<binary>.pid
# (DIR/run/framepair-packer-2.pid for the second packer). It returns when every server reports
# SERVING on its gRPC health service, and fails (printing the log tail) if one does not.
# Then:  FRAMEPAIR_SERVER=127.0.0.1:BASE framepair submit --lr LR --hr HR --dataset NAME --watch
# Extra flags: FRAMEPAIR_COORDINATOR_FLAGS (e.g. "--stall-timeout-ms 5000") and
# FRAMEPAIR_WORKER_FLAGS (every worker), then FRAMEPAIR_INGEST_FLAGS, _ALIGN_, _SCENE_ and
# _PACKER_FLAGS (that worker only, e.g. "--max-tasks 1 --pack-threads 4") are appended to the
# command lines; FRAMEPAIR_WORKER_ENV ("NAME=value ...") is set for the workers only. `up`
# again restarts only the servers that are not running.
# --storage ROOT: the storage root instead of DIR/storage, e.g. s3://BUCKET/PREFIX (with the
# AWS_* variables in the environment).
# --tls CERTS: the workers serve mutual TLS as in deploy/k8s, with the certificates of
# `deploy/scripts/make-certs.sh --out CERTS --san IP:127.0.0.1`, and the coordinator calls them
# with its client certificate (the coordinator's own port stays plaintext on loopback).
set -euo pipefail

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

cmd="${1:-}"; shift || true
dir="" port=50051 packers=1 tls="" storage=""
bin="${FRAMEPAIR_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --packers) packers="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --tls) tls="$2"; shift 2 ;;
    --storage) storage="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "local-stack.sh: unknown option $1" >&2; usage ;;
  esac
done
[ -n "$cmd" ] && [ -n "$dir" ] || usage
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
[ -n "$storage" ] || storage="$dir/storage"
if [ -n "$tls" ]; then
  [ -f "$tls/ca.crt" ] && [ -f "$tls/coordinator.key" ] ||
    { echo "local-stack.sh: --tls $tls holds no certificates of deploy/scripts/make-certs.sh" >&2; exit 2; }
  tls="$(cd "$tls" && pwd)"
fi
# The TLS flags of a worker (by kind) and of the coordinator; none without --tls.
worker_tls() { [ -z "$tls" ] || echo "--tls-cert=$tls/$1.crt --tls-key=$tls/$1.key --tls-client-ca=$tls/ca.crt"; }
coordinator_tls() { [ -z "$tls" ] || echo "--worker-tls-ca=$tls/ca.crt --worker-tls-cert=$tls/coordinator.crt --worker-tls-key=$tls/coordinator.key"; }

find_bin() {  # the build tree has services/<name>/<binary>; an install has them on PATH
  local name="$1" found
  found="$(find "$bin/services" -maxdepth 2 -type f -name "$name" -perm -u+x 2>/dev/null | head -1)"
  [ -n "$found" ] || found="$(command -v "$name" || true)"
  [ -n "$found" ] || { echo "local-stack.sh: $name not found under $bin (build first: scripts/build.sh)" >&2; exit 1; }
  echo "$found"
}

# A killed server stays a zombie until someone reaps it (an orphan's new parent may never
# do), and kill -0 succeeds on zombies: so "alive" also means "not in state Z".
alive() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  ! awk '{ exit ($3 == "Z") ? 0 : 1 }' "/proc/$pid/stat" 2>/dev/null
}

stop_pidfile() {
  local pidfile="$1" pid
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  up)
    mkdir -p "$dir/storage" "$dir/state" "$dir/logs" "$dir/run"
    framepair="$(find "$bin/client" -maxdepth 1 -type f -name framepair 2>/dev/null | head -1)"
    [ -n "$framepair" ] || framepair="$(command -v framepair)"
    declare -A addr
    start() {  # start NAME PIDNAME PORT ARGS...
      local name="$1" pidname="$2" p="$3"; shift 3
      local exe; exe="$(find_bin "$name")"
      if [ -f "$dir/run/$pidname.pid" ] && alive "$(cat "$dir/run/$pidname.pid")"; then
        addr[$pidname]="127.0.0.1:$p"
        return
      fi
      local own=""  # FRAMEPAIR_<KIND>_FLAGS of a worker
      [ "$name" = framepair-coordinator ] || { own="${name#framepair-}"; own="FRAMEPAIR_${own^^}_FLAGS"; own="${!own:-}"; }
      # shellcheck disable=SC2086 # $environment, $extra and $own are lists of words
      nohup env $environment "$exe" --listen "127.0.0.1:$p" --storage-root "$storage" "$@" $extra $own \
        >>"$dir/logs/$pidname.log" 2>&1 </dev/null &
      echo $! >"$dir/run/$pidname.pid"
      addr[$pidname]="127.0.0.1:$p"
    }
    extra="${FRAMEPAIR_WORKER_FLAGS:-}" environment="${FRAMEPAIR_WORKER_ENV:-}"
    # shellcheck disable=SC2046 # flags of paths without spaces (--dir and --tls are absolute)
    start framepair-ingest framepair-ingest $((port + 1)) $(worker_tls ingest)
    # shellcheck disable=SC2046
    start framepair-align framepair-align $((port + 2)) $(worker_tls align)
    # shellcheck disable=SC2046
    start framepair-scene framepair-scene $((port + 3)) $(worker_tls scene)
    packer_list=""
    for i in $(seq 1 "$packers"); do
      name=framepair-packer; [ "$i" -gt 1 ] && name="framepair-packer-$i"
      # shellcheck disable=SC2046
      start framepair-packer "$name" $((port + 3 + i)) $(worker_tls packer)
      packer_list="${packer_list:+$packer_list,}127.0.0.1:$((port + 3 + i))"
    done
    extra="${FRAMEPAIR_COORDINATOR_FLAGS:-}" environment=""
    # shellcheck disable=SC2046
    start framepair-coordinator framepair-coordinator "$port" --state-dir "$dir/state" \
      --ingest "127.0.0.1:$((port + 1))" --align "127.0.0.1:$((port + 2))" \
      --scene "127.0.0.1:$((port + 3))" --packer "$packer_list" $(coordinator_tls)
    for name in "${!addr[@]}"; do
      ok="" as=()
      if [ -n "$tls" ] && [ "$name" != framepair-coordinator ]; then
        # A worker admits the coordinator's client certificate only.
        as=(FRAMEPAIR_TLS_CA="$tls/ca.crt" FRAMEPAIR_TLS_CERT="$tls/coordinator.crt"
            FRAMEPAIR_TLS_KEY="$tls/coordinator.key")
      fi
      for _ in $(seq 1 100); do
        if ! alive "$(cat "$dir/run/$name.pid")"; then break; fi
        if env "${as[@]}" "$framepair" health --server "${addr[$name]}" >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
      done
      if [ -z "$ok" ]; then
        echo "local-stack.sh: $name did not become SERVING on ${addr[$name]}; its log:" >&2
        tail -20 "$dir/logs/$name.log" >&2
        exit 1
      fi
    done
    echo "framepair stack up: coordinator 127.0.0.1:$port, storage $storage, logs $dir/logs"
    ;;
  down)
    for pidfile in "$dir"/run/framepair-coordinator.pid "$dir"/run/*.pid; do
      [ -f "$pidfile" ] && stop_pidfile "$pidfile"
    done
    echo "framepair stack down ($dir)"
    ;;
  *) usage ;;
esac
