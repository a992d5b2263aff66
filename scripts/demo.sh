#!/usr/bin/env bash
# The main job, end to end on a generated sample pair, through the service system on this
# machine: installs what is missing, builds, generates an LR/HR footage pair with known ground
# truth, starts the five servers on 127.0.0.1 (scripts/local-stack.sh), submits the pair as a
# job, watches it, verifies the published shards, stops the servers, and ends by printing
# where the report page (report.html: open it in a browser) is.
#   scripts/demo.sh [DIR]            DIR defaults to ./sample
#   FRAMEPAIR_PORT=50051             coordinator port (workers use the next ones)
#   scripts/demo.sh --in-process [DIR]   the same job with `framepair run`, no servers
set -euo pipefail
cd "$(dirname "$0")/.."
in_process=0
if [ "${1:-}" = "--in-process" ]; then in_process=1; shift; fi
dir=${1:-sample}
port=${FRAMEPAIR_PORT:-50051}
options=(--windows 200 --shards 2 --seed 1)

scripts/install-deps.sh
scripts/build.sh build
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
echo "== generating a sample footage pair in $dir/footage"
build/tests/support/framepair-footage --out "$dir/footage" --preset default
lr=$(ls "$dir"/footage/lr.* | head -1)
hr=$(ls "$dir"/footage/hr.* | head -1)

if [ "$in_process" = 1 ]; then
  echo "== framepair run"
  build/client/framepair run --lr "$lr" --hr "$hr" --out "$dir/dataset" "${options[@]}"
  echo "== framepair verify"
  build/client/framepair verify "$dir/dataset"
  echo "shards and manifest: $dir/dataset"
  echo "report: $dir/dataset/report.html (open it in a browser)"
  exit 0
fi

echo "== starting the local stack (coordinator on 127.0.0.1:$port)"
scripts/local-stack.sh up --dir "$dir/stack" --port "$port" --bin build
trap 'scripts/local-stack.sh down --dir "$dir/stack"' EXIT
export FRAMEPAIR_SERVER=127.0.0.1:$port
echo "== framepair submit --watch"
build/client/framepair submit --lr "$lr" --hr "$hr" --dataset sample "${options[@]}" --watch
echo "== framepair verify"
build/client/framepair verify "$dir/stack/storage/datasets/sample"
echo "== framepair report"
# The coordinator wrote the job's page (reports/<job>.html, the page `framepair run` writes:
# timelines, residuals, contact sheets); `framepair report JOB -o FILE` fetches it remotely.
job_page=$(ls "$dir"/stack/storage/datasets/sample/reports/*.html | head -1)
build/client/framepair report "$(basename "$job_page" .html)" -o "$dir/report.html"
trap - EXIT
scripts/local-stack.sh down --dir "$dir/stack"
echo "shards and manifest: $dir/stack/storage/datasets/sample (logs: $dir/stack/logs)"
echo "report: $dir/report.html (open it in a browser)"
