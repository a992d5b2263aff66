#!/usr/bin/env bash
# Workers across machines, for real: the service system spread over several "hosts" built
# from Linux network namespaces on this one machine.
#
#   tests/netns/run.sh BUILD_DIR        (as root; ctest runs it as netns_workers_across_hosts)
#
# Topology (10.213.7.0/24; the namespaces' names end in this shell's pid):
#
#   fp-ns-sw-PID     "switch": bridge br0 10.213.7.1, dnsmasq on 10.213.7.1:53
#     |-- fp-ns-coord-PID  10.213.7.10  framepair-coordinator :50051 (and the CLI)
#     |-- fp-ns-a-PID      10.213.7.11  ingest :50061, align :50062, scene :50063, packer :50064
#     `-- fp-ns-b-PID      10.213.7.12  ingest :50061, packer :50064
#
# Every host's /etc/resolv.conf (/etc/netns/NS/resolv.conf, which `ip netns exec` mounts over
# /etc) points at the dnsmasq, which serves the zone framepair.test like a cluster DNS serves
# a headless Service: packers.framepair.test and ingest.framepair.test have one A record per
# host running that worker. The coordinator gets only dns:///NAME:PORT targets, so gRPC
# resolves the names and balances round_robin over all addresses. Storage is one directory
# that every namespace sees (namespaces share the file system), as an RWX volume would be.
#
# Two jobs, each compared byte for byte with `framepair run` on the same footage:
#  1. healthy: runs across the hosts; both packers (host A and host B) must have packed shards;
#  2. host B is cut off (its eth0 set down) while its packer is in the middle of a pack task:
#     the coordinator (--stall-timeout-ms 8000) must retry the task on host A and finish.
#
# Exit 0 = passed, 1 = failed, 77 = skipped (not root, no network namespaces, tool missing).
# Everything created (namespaces, links, bridge, processes, /etc/netns entries, the work
# directory) is removed on exit, also on failure. FP_NETNS_KEEP=1 keeps the work directory
# (logs, storage) for a look after a failure.
set -euo pipefail

# --- Settings ----------------------------------------------------------------------------

readonly SUBNET=10.213.7
readonly IP_SW=$SUBNET.1 IP_COORD=$SUBNET.10 IP_A=$SUBNET.11 IP_B=$SUBNET.12
readonly NS_SW=fp-ns-sw-$$ NS_COORD=fp-ns-coord-$$ NS_A=fp-ns-a-$$ NS_B=fp-ns-b-$$
readonly PORT_COORD=50051 PORT_INGEST=50061 PORT_ALIGN=50062 PORT_SCENE=50063 PORT_PACKER=50064
readonly ZONE=framepair.test
readonly COORD_ADDR=$IP_COORD:$PORT_COORD
# Small footage, several shards so that both packers get some.
readonly DATASET_FLAGS=(--shards 4 --windows 24 --seed 7)
readonly SHARDS=4
# The coordinator's stall timeout. Workers report progress per frame/window, but a quiet step
# (the first window of a shard: seeking and decoding) is covered only by a heartbeat every 5 s
# (checked once a second; not configurable), so anything below ~6 s cancels healthy tasks.
readonly STALL_MS=${FP_NETNS_STALL_MS:-8000}

# --- State for cleanup -------------------------------------------------------------------

created_ns=()          # namespaces we added (their links and bridge go with them)
declare -A pids=()     # name -> pid of every server we started
work=""                # the work directory (mktemp)
footage=""             # directory of lr.mp4 and hr.mkv
etc_netns_made=0       # 1 when this run created /etc/netns itself
start_time=$(date +%s.%N)

# --- Helpers -----------------------------------------------------------------------------

elapsed() { echo "$(date +%s.%N) $start_time" | awk '{ printf "%.1f", $1 - $2 }'; }
log() { echo "[netns $(elapsed)s] $*"; }
# CI runs as root on Debian, where namespaces can be made: there a skip is a failure, so a
# green CI always means this test ran (FRAMEPAIR_REQUIRE_NETNS=1 asks the same elsewhere).
skip() {
  if [ "${CI:-}" = true ] || [ "${FRAMEPAIR_REQUIRE_NETNS:-0}" = 1 ]; then
    echo "FAIL: this test must run here but cannot: $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

fail() {
  echo "FAIL: $*" >&2
  if [ -n "$work" ] && [ -d "$work/logs" ]; then
    for f in "$work"/logs/*.log; do
      [ -s "$f" ] || continue
      echo "---- last lines of $(basename "$f")" >&2
      tail -25 "$f" >&2
    done
  fi
  exit 1
}

in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# The CLI runs on the coordinator's host, talking to it over the bridge.
cli() { in_ns "$NS_COORD" "$FRAMEPAIR" --server "$COORD_ADDR" "$@"; }

# Follows a job to its end (exit 0 = succeeded), bounded so a hang fails instead of waiting
# for ctest's timeout.
watch_job() { timeout 90 ip netns exec "$NS_COORD" "$FRAMEPAIR" --server "$COORD_ADDR" watch "$1"; }

# A killed server stays a zombie until reaped, and kill -0 succeeds on zombies.
alive() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null && ! awk '{ exit ($3 == "Z") ? 0 : 1 }' "/proc/$pid/stat" 2>/dev/null
}

stop_pid() {
  local pid="$1"
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  # Servers first (by the pids we recorded), so nothing writes into the work dir afterwards;
  # their drain grace would keep a cut-off server waiting, hence TERM then KILL after 5 s.
  for name in "${!pids[@]}"; do stop_pid "${pids[$name]}" & done
  wait 2>/dev/null
  # Anything else still inside our namespaces was started by this script too.
  for ns in "${created_ns[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  # Deleting a namespace deletes its veth ends (and so their peers) and the bridge in it.
  for ns in "${created_ns[@]}"; do
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
  done
  [ "$etc_netns_made" = 1 ] && rmdir /etc/netns 2>/dev/null
  if [ -n "$work" ]; then
    if [ "${FP_NETNS_KEEP:-0}" = 1 ]; then
      echo "kept $work"
    else
      rm -rf "$work"
    fi
  fi
  exit "$rc"
}

# --- Preconditions: skip (77) where this test cannot run, saying why -----------------------

check_preconditions() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (ip netns add, veth, bridge); CI runs as root"
  local tool
  for tool in ip dnsmasq getent jq cmp timeout awk; do
    command -v "$tool" >/dev/null 2>&1 ||
      skip "'$tool' not found (scripts/install-deps.sh installs it: iproute2, dnsmasq-base, jq)"
  done
  [ -d "$BUILD" ] || fail "build directory '$BUILD' not found"
  COORDINATOR="$BUILD/services/coordinator/framepair-coordinator"
  INGEST="$BUILD/services/ingest/framepair-ingest"
  ALIGN="$BUILD/services/align/framepair-align"
  SCENE="$BUILD/services/scene/framepair-scene"
  PACKER="$BUILD/services/packer/framepair-packer"
  FRAMEPAIR="$BUILD/client/framepair"
  FOOTAGE="$BUILD/tests/support/framepair-footage"
  local bin
  for bin in "$COORDINATOR" "$INGEST" "$ALIGN" "$SCENE" "$PACKER" "$FRAMEPAIR" "$FOOTAGE"; do
    [ -x "$bin" ] || fail "$bin is missing: build it first (ninja -C $BUILD)"
  done
}

# Adds a namespace with loopback up; skips the test if the kernel or sandbox refuses.
add_ns() {
  local ns="$1" err
  if ! err="$(ip netns add "$ns" 2>&1)"; then
    skip "cannot create network namespaces here (ip netns add: ${err:-failed}); needs CAP_SYS_ADMIN"
  fi
  created_ns+=("$ns")
  if ! err="$(ip -n "$ns" link set lo up 2>&1 && ip netns exec "$ns" true 2>&1)"; then
    skip "cannot use network namespaces here (ip netns exec: ${err:-failed})"
  fi
}

# --- Topology ----------------------------------------------------------------------------

build_network() {
  local err
  add_ns "$NS_SW"
  # The bridge lives in its own namespace, so nothing is added to the machine's own network
  # and the subnet cannot collide with it; it also carries the DNS server's address.
  if ! err="$(ip -n "$NS_SW" link add br0 type bridge 2>&1)"; then
    skip "cannot create a bridge (ip link add type bridge: $err)"
  fi
  ip -n "$NS_SW" addr add "$IP_SW/24" dev br0
  ip -n "$NS_SW" link set br0 up
  local host ns ip
  for host in coord:"$NS_COORD":"$IP_COORD" a:"$NS_A":"$IP_A" b:"$NS_B":"$IP_B"; do
    IFS=: read -r name ns ip <<<"$host"
    add_ns "$ns"
    # One cable per host: "port-NAME" on the switch, eth0 in the host.
    if ! err="$(ip -n "$NS_SW" link add "port-$name" type veth peer name eth0 netns "$ns" 2>&1)"; then
      skip "cannot create veth pairs (ip link add type veth: $err)"
    fi
    ip -n "$NS_SW" link set "port-$name" master br0 up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    # The host's resolver: only the cluster DNS.
    [ -d /etc/netns ] || { mkdir /etc/netns && etc_netns_made=1; }
    mkdir -p "/etc/netns/$ns"
    printf 'nameserver %s\noptions timeout:1 attempts:3\n' "$IP_SW" >"/etc/netns/$ns/resolv.conf"
  done
}

# dnsmasq answers for framepair.test only (no upstream, no /etc/hosts): one A record per host
# running a worker, like a headless Service; a name with two records gets both in one answer.
start_dns() {
  ip netns exec "$NS_SW" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --no-poll --bind-interfaces --listen-address="$IP_SW" --user=root --pid-file= \
    --local="/$ZONE/" --local-ttl=5 --log-queries --log-facility="$work/logs/dnsmasq.log" \
    --host-record="coordinator.$ZONE,$IP_COORD" \
    --host-record="ingest.$ZONE,$IP_A" --host-record="ingest.$ZONE,$IP_B" \
    --host-record="align.$ZONE,$IP_A" --host-record="scene.$ZONE,$IP_A" \
    --host-record="packers.$ZONE,$IP_A" --host-record="packers.$ZONE,$IP_B" \
    >>"$work/logs/dnsmasq.log" 2>&1 </dev/null &
  pids[dnsmasq]=$!  # ip netns exec execs dnsmasq: the same pid
  # The coordinator's host must see both packer addresses through its ordinary resolver.
  local answer=""
  for _ in $(seq 1 50); do
    alive "${pids[dnsmasq]}" || fail "dnsmasq exited"
    answer="$(in_ns "$NS_COORD" getent ahostsv4 "packers.$ZONE" 2>/dev/null | awk '{print $1}' |
      sort -u | tr '\n' ' ')" || true
    [ "$answer" = "$IP_A $IP_B " ] && break
    sleep 0.1
  done
  [ "$answer" = "$IP_A $IP_B " ] ||
    fail "packers.$ZONE resolves to '$answer' on the coordinator's host, expected $IP_A $IP_B"
  log "DNS: packers.$ZONE -> $answer(dnsmasq on $IP_SW)"
}

# --- Servers -----------------------------------------------------------------------------

# start_server NAME NS BINARY IP:PORT ARGS...: `ip netns exec` execs the binary, so $! is
# the server's own pid (not so through a shell function such as in_ns: `f &` forks a
# subshell, whose pid $! would be).
start_server() {
  local name="$1" ns="$2" bin="$3" listen="$4"; shift 4
  ip netns exec "$ns" "$bin" --listen "$listen" --storage-root "$work/storage" "$@" \
    >"$work/logs/$name.log" 2>&1 </dev/null &
  pids[$name]=$!
}

# Health checks go from the coordinator's host over the bridge, so SERVING also proves the
# route between the hosts.
wait_serving() {
  local name="$1" addr="$2"
  for _ in $(seq 1 100); do
    alive "${pids[$name]}" || fail "$name exited at start"
    if cli health --server "$addr" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "$name did not become SERVING on $addr"
}

start_stack() {
  mkdir -p "$work/storage" "$work/state"
  start_server ingest-a "$NS_A" "$INGEST" "$IP_A:$PORT_INGEST"
  start_server align-a "$NS_A" "$ALIGN" "$IP_A:$PORT_ALIGN"
  start_server scene-a "$NS_A" "$SCENE" "$IP_A:$PORT_SCENE"
  start_server packer-a "$NS_A" "$PACKER" "$IP_A:$PORT_PACKER"
  start_server ingest-b "$NS_B" "$INGEST" "$IP_B:$PORT_INGEST"
  start_server packer-b "$NS_B" "$PACKER" "$IP_B:$PORT_PACKER"
  # Workers only by DNS name. --packer-concurrency counts per target, and the DNS name is one
  # target, so 2 lets both packers work at once. A short stall timeout (see STALL_MS) so
  # that the cut-off host is given up quickly.
  start_server coordinator "$NS_COORD" "$COORDINATOR" "$COORD_ADDR" --state-dir "$work/state" \
    --ingest "dns:///ingest.$ZONE:$PORT_INGEST" --align "dns:///align.$ZONE:$PORT_ALIGN" \
    --scene "dns:///scene.$ZONE:$PORT_SCENE" --packer "dns:///packers.$ZONE:$PORT_PACKER" \
    --packer-concurrency 2 --stall-timeout-ms "$STALL_MS" --retry-backoff-ms 200
  wait_serving ingest-a "$IP_A:$PORT_INGEST"
  wait_serving align-a "$IP_A:$PORT_ALIGN"
  wait_serving scene-a "$IP_A:$PORT_SCENE"
  wait_serving packer-a "$IP_A:$PORT_PACKER"
  wait_serving ingest-b "$IP_B:$PORT_INGEST"
  wait_serving packer-b "$IP_B:$PORT_PACKER"
  wait_serving coordinator "$COORD_ADDR"
}

# --- Checks ------------------------------------------------------------------------------

# Prints "name state retries worker" per task of the job (from `status -o json`).
task_table() {
  cli status "$1" -o json |
    jq -r '.tasks[]? | "\(.name) \(.state) \(.retries // 0) \(.worker // "-")"'
}

job_state() { cli status "$1" -o json | jq -r '.state'; }

# The published dataset is sound and its shards are run's bytes.
check_dataset() {
  local dataset="$1" job="$2" k ours ref
  "$FRAMEPAIR" verify "$work/storage/datasets/$dataset" >"$work/logs/verify-$dataset.log" 2>&1 ||
    fail "framepair verify $dataset failed: $(tail -5 "$work/logs/verify-$dataset.log")"
  for k in $(seq 0 $((SHARDS - 1))); do
    ours="$(printf '%s/storage/datasets/%s/train_%s_%05d-of-%05d.tfrecord' \
      "$work" "$dataset" "$job" "$k" "$SHARDS")"
    ref="$(printf '%s/ref/train_%05d-of-%05d.tfrecord' "$work" "$k" "$SHARDS")"
    [ -f "$ours" ] || fail "$dataset: shard $ours missing"
    cmp -s "$ours" "$ref" || fail "$dataset: $(basename "$ours") differs from run's $(basename "$ref")"
  done
  log "$dataset: verify passed, $SHARDS shards identical to framepair run"
}

# Number of pack tasks of JOB that a packer's log says it finished.
packs_done_by() { grep -c "pack $2 shard [0-9]* attempt [0-9]*: done" "$work/logs/$1.log" || true; }

# Prints the pack task ("pack-0000K") packer B is working on for JOB, if any: a running pack
# task keeps its shard file open under work/JOB/pack-0000K.aN/ on the shared storage.
packer_b_task() {
  local job="$1" fd target
  for fd in /proc/"${pids[packer-b]}"/fd/*; do
    target="$(readlink "$fd" 2>/dev/null)" || continue
    case "$target" in
      "$work/storage/work/$job/pack-"*)
        target="${target#"$work/storage/work/$job/"}"
        echo "${target%%.a*}"
        return 0
        ;;
    esac
  done
  return 1
}

# The default footage pair, kept in the build tree across runs (it only feeds the pipeline;
# the reference is computed from it every run). Written under a temporary name and renamed,
# so an interrupted run leaves no half pair.
make_footage() {
  footage="$BUILD/tests/netns/footage"
  [ -f "$footage/lr.mp4" ] && [ -f "$footage/hr.mkv" ] && return 0
  mkdir -p "$BUILD/tests/netns"
  local tmp="$footage.tmp-$$"
  "$FOOTAGE" --out "$tmp" --cache "$BUILD/tests/netns/footage-cache" \
    >"$work/logs/footage.log" 2>&1 || { rm -rf "$tmp"; fail "framepair-footage failed"; }
  mv -T "$tmp" "$footage" 2>/dev/null || rm -rf "$tmp"  # another run was faster: use its pair
}

# A run killed outright (SIGKILL, e.g. by a ctest timeout) cannot clean up: remove what such
# runs of this test left, recognisable by the name prefix and a pid that is gone.
remove_stale_runs() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^fp-ns-(sw|coord|a|b)-[0-9]+$'); do
    pid="${ns##*-}"
    [ -d "/proc/$pid" ] && continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null && rm -rf "/etc/netns/$ns" && echo "removed stale namespace $ns"
  done
}

# --- The test ----------------------------------------------------------------------------

main() {
  BUILD="$(cd "${1:?usage: run.sh BUILD_DIR}" 2>/dev/null && pwd)" ||
    { echo "FAIL: build directory '$1' not found" >&2; exit 1; }
  check_preconditions
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  work="$(mktemp -d "${TMPDIR:-/tmp}/fp-netns.XXXXXX")"
  mkdir -p "$work/logs"
  remove_stale_runs

  build_network
  start_dns
  log "hosts: coordinator $IP_COORD, A $IP_A (ingest align scene packer), B $IP_B (ingest packer)"

  # Footage, and the reference bytes from `framepair run` on it (always fresh).
  local t0
  t0=$(date +%s)
  make_footage
  "$FRAMEPAIR" run --lr "$footage/lr.mp4" --hr "$footage/hr.mkv" --out "$work/ref" \
    "${DATASET_FLAGS[@]}" >"$work/logs/run.log" 2>&1 || fail "framepair run failed"
  log "footage and reference (framepair run) in $(($(date +%s) - t0)) s"

  start_stack
  log "servers SERVING across the hosts"

  # 1. A healthy job across the hosts.
  local job1 job2 t_submit t_cut t_done
  t_submit=$(date +%s.%N)
  job1="$(cli submit --lr "$footage/lr.mp4" --hr "$footage/hr.mkv" --dataset healthy \
    "${DATASET_FLAGS[@]}" -q)" || fail "submit of the healthy job failed"
  watch_job "$job1" >"$work/logs/watch-healthy.log" 2>&1 ||
    fail "job $job1 did not succeed: $(tail -5 "$work/logs/watch-healthy.log")"
  log "healthy job $job1 succeeded in $(echo "$(date +%s.%N) $t_submit" | awk '{printf "%.1f", $1-$2}') s"
  task_table "$job1" | sed 's/^/    /'
  check_dataset healthy "$job1"
  local on_a on_b
  on_a="$(packs_done_by packer-a "$job1")"
  on_b="$(packs_done_by packer-b "$job1")"
  log "pack tasks done: $on_a on host A, $on_b on host B (both behind dns:///packers.$ZONE)"
  [ "$on_a" -gt 0 ] && [ "$on_b" -gt 0 ] ||
    fail "round_robin over packers.$ZONE did not reach both packers (A $on_a, B $on_b)"
  log "ingest tasks done: $(grep -c "ingest $job1/" "$work/logs/ingest-a.log" || true) on host A, \
$(grep -c "ingest $job1/" "$work/logs/ingest-b.log" || true) on host B (dns:///ingest.$ZONE)"

  # 2. The same job again; host B is cut off while its packer is packing a shard.
  t_submit=$(date +%s.%N)
  job2="$(cli submit --lr "$footage/lr.mp4" --hr "$footage/hr.mkv" --dataset cut-off \
    "${DATASET_FLAGS[@]}" -q)" || fail "submit of the second job failed"
  # Wait until packer B is working on one of the job's pack tasks (its open shard file says
  # which; cheap to poll, so the cut comes early in the task), cut host B off at once, then
  # confirm with `status -o json` that the coordinator still has that task running: from now
  # on B cannot deliver it. (The status cannot say where a task runs: its worker is the
  # target, the one DNS name for both packers.)
  local victim="" state="" table="" i
  for i in $(seq 1 1200); do
    victim="$(packer_b_task "$job2")" && break
    if [ $((i % 20)) -eq 0 ]; then
      state="$(job_state "$job2")"
      case "$state" in JOB_SUCCEEDED|JOB_FAILED|JOB_CANCELLED)
        fail "job $job2 ended ($state) before packer B was caught running a pack task" ;;
      esac
    fi
    sleep 0.05
  done
  [ -n "$victim" ] || fail "packer B ran no pack task of job $job2 within a minute"
  ip -n "$NS_B" link set eth0 down
  t_cut=$(date +%s.%N)
  table="$(task_table "$job2")"
  log "host B cut off (eth0 down) while running $victim of job $job2; tasks then:"
  sed 's/^/    /' <<<"$table"
  state="$(awk -v t="$victim" '$1 == t { print $2 }' <<<"$table")"
  [ "$state" = running ] ||
    fail "$victim was '$state', not running, at the cut (B finished it just before): try again"

  watch_job "$job2" >"$work/logs/watch-cut-off.log" 2>&1 ||
    fail "job $job2 did not succeed after host B was cut off: $(tail -5 "$work/logs/watch-cut-off.log")"
  t_done=$(date +%s.%N)
  log "job $job2 succeeded $(echo "$t_done $t_cut" | awk '{printf "%.1f", $1-$2}') s after the cut \
($(echo "$t_done $t_submit" | awk '{printf "%.1f", $1-$2}') s in all); tasks:"
  table="$(task_table "$job2")"
  sed 's/^/    /' <<<"$table"
  check_dataset cut-off "$job2"
  # The cut hit the task mid-way: the coordinator noticed (the attempt stalled, or the
  # keepalive found the connection dead first), retried it, and host A did it.
  local retries shard
  retries="$(awk -v t="$victim" '$1 == t { print $3 }' <<<"$table")"
  [ "${retries:-0}" -ge 1 ] || fail "$victim of $job2 was not retried after the cut (retries '$retries')"
  grep -Eq "$job2/$victim: (no progress from|attempt [0-9]+ failed \\(UNAVAILABLE)" \
    "$work/logs/coordinator.log" ||
    fail "the coordinator never reported $victim of $job2 as stalled or unreachable"
  shard=$((10#${victim#pack-}))
  grep -Eq "pack $job2 shard $shard attempt ([2-9]|[1-9][0-9]+): done" "$work/logs/packer-a.log" ||
    fail "host A did not finish a retry of $victim"
  log "$victim: retried $retries time(s), finished on host A; pack attempts of $job2 finished: \
$(packs_done_by packer-a "$job2") on A, $(packs_done_by packer-b "$job2") on B (after the cut: unused)"

  # Restore the link: host B is reachable again.
  ip -n "$NS_B" link set eth0 up
  wait_serving packer-b "$IP_B:$PORT_PACKER"
  log "host B reconnected: packer B SERVING again"
  log "PASS"
}

main "$@"
