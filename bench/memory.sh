#!/usr/bin/env bash
# Peak memory of framepair-ingest and framepair-packer at 4K against their pods' memory limits
# (issue 13): a loopback stack (scripts/local-stack.sh) whose ingest and packer run with the
# flags of deploy/k8s/base (--max-tasks, --pack-threads; --memory-budget 90% of the limit, the
# workers' default under a cgroup limit), fed 3840x2160 HR + 960x540 LR footage: two HR-only
# jobs (so --max-tasks 4K ingests run at once) and one pair job. Reports each server's peak
# RSS (VmHWM of /proc/PID/status) beside the pod limit and beside the memory model
# (lib/pipeline/memory_model.h: the idle worker + the tasks that ran at once x the largest
# task's reservation). Prints a Markdown table (docs/benchmarks.md quotes it).
#   bench/memory.sh [SECONDS]      default 6 (seconds of 4K footage at 30 fps)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-6}
work=${FRAMEPAIR_BENCH_DIR:-/tmp/framepair-bench}
port=${FRAMEPAIR_BENCH_PORT:-54100}
mkdir -p "$work"
# Only what runs: the CLI and the five servers.
cmake -S . -B build -G Ninja >/dev/null
ninja -C build -j "${FRAMEPAIR_JOBS:-$(nproc)}" framepair framepair-coordinator framepair-ingest \
  framepair-align framepair-scene framepair-packer >/dev/null
fp=build/client/framepair
ff="ffmpeg -nostdin -y -loglevel error"
source bench/footage.sh
minutes=$(echo "scale=6; $seconds / 60" | bc)
make_footage 4k "$minutes"
d=$(footage_dir 4k "$minutes")

# The deployed values: tunables of the base kustomization, limits of the base Deployments.
tuning() { sed -n "s/^ *- $1=\([0-9]*\)$/\1/p" deploy/k8s/base/kustomization.yaml; }
limit_mib() {  # the container's resources.limits.memory, in MiB
  local q; q=$(awk '/limits:/ { l = 1 } l && /memory:/ { print $2; exit }' "deploy/k8s/base/$1.yaml")
  case "$q" in *Gi) echo $(( ${q%Gi} * 1024 )) ;; *Mi) echo "${q%Mi}" ;; *) echo "limit $q?" >&2; exit 1 ;; esac
}
ingest_tasks=$(tuning INGEST_MAX_TASKS)
packer_tasks=$(tuning PACKER_MAX_TASKS)
pack_threads=$(tuning PACKER_PACK_THREADS)
ingest_limit=$(limit_mib ingest)
packer_limit=$(limit_mib packer)
export FRAMEPAIR_INGEST_FLAGS="--max-tasks $ingest_tasks --memory-budget $(( ingest_limit * 9 / 10 ))Mi"
export FRAMEPAIR_PACKER_FLAGS="--max-tasks $packer_tasks --pack-threads $pack_threads --memory-budget $(( packer_limit * 9 / 10 ))Mi"
export FRAMEPAIR_COORDINATOR_FLAGS="--ingest-concurrency $ingest_tasks --packer-concurrency $packer_tasks"

stack=$(mktemp -d "$work/memory-stack.XXXXXX")
trap 'scripts/local-stack.sh down --dir "$stack" >/dev/null; rm -rf "$stack"' EXIT
scripts/local-stack.sh up --dir "$stack" --port "$port" --bin build >/dev/null
server=127.0.0.1:$port
options=(--windows 8 --shards 1)
jobs=()
for seed in 1 2; do
  jobs+=("$($fp --server "$server" submit -q --hr-only --hr "$d/hr.mp4" --dataset "mem-hr$seed" \
    --seed "$seed" "${options[@]}" | tail -1)")
done
jobs+=("$($fp --server "$server" submit -q --lr "$d/lr.mp4" --hr "$d/hr.mp4" --dataset mem-pair \
  --seed 3 "${options[@]}" | tail -1)")
for job in "${jobs[@]}"; do
  $fp --server "$server" watch "$job" >/dev/null || { echo "job $job failed" >&2; exit 1; }
done

# kWorkerBaseBytes (MiB) of the model.
base=$(sed -n 's/.*kWorkerBaseBytes = int64_t{\([0-9]*\)} << 20;.*/\1/p' lib/pipeline/memory_model.h)
mib() { echo $(( ($1 + 1023) / 1024 )); }  # kB -> MiB
echo "| server (4K: 3840x2160 HR, 960x540 LR) | deployed flags | tasks at once | peak RSS (MiB) | model (MiB) | pod limit (MiB) | peak / limit | peak / model |"
echo "|---|---|---|---|---|---|---|---|"
for kind in ingest packer; do
  pid=$(cat "$stack/run/framepair-$kind.pid")
  peak=$(mib "$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")")
  log=$stack/logs/framepair-$kind.log
  # Tasks that held a reservation at once, and the largest reservation.
  # shellcheck disable=SC2016
  at_once=$(awk '{ rest = substr($0, index($0, "] ") + 2); j = index(rest, ": ")
      task = substr(rest, 1, j - 1); msg = substr(rest, j + 2) }
    msg ~ /^reserved [0-9]+ MiB/ { held[task] = 1; if (++n > m) m = n; next }
    (msg ~ /^done in / || msg ~ / after [0-9.]+ s$/) && (task in held) { delete held[task]; n-- }
    END { print m + 0 }' "$log")
  largest=$(sed -n 's/.*reserved \([0-9]*\) MiB.*/\1/p' "$log" | sort -n | tail -1)
  model=$(( base + at_once * largest ))
  if [ "$kind" = ingest ]; then limit=$ingest_limit flags="--max-tasks $ingest_tasks"
  else limit=$packer_limit flags="--max-tasks $packer_tasks --pack-threads $pack_threads"; fi
  echo "| framepair-$kind | $flags | $at_once | $peak | $model | $limit | $(echo "$peak / $limit" | bc -l | xargs printf '%.2f') | $(echo "$peak / $model" | bc -l | xargs printf '%.2f') |"
done
