#!/usr/bin/env bash
# The main job, end to end on a generated sample pair: installs what is missing, builds,
# generates an LR/HR footage pair with known ground truth, runs `framepair run` on it and
# verifies the shards.
#   scripts/demo.sh [DIR]      (DIR defaults to ./sample)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-sample}
scripts/install-deps.sh
scripts/build.sh build
mkdir -p "$dir"
echo "== generating a sample footage pair in $dir/footage"
build/tests/support/framepair-footage --out "$dir/footage" --preset default
lr=$(ls "$dir"/footage/lr.* | head -1)
hr=$(ls "$dir"/footage/hr.* | head -1)
echo "== framepair run"
build/client/framepair run --lr "$lr" --hr "$hr" --out "$dir/dataset" --windows 200 --shards 2 --seed 1
echo "== framepair verify"
build/client/framepair verify "$dir/dataset"
echo "shards and manifest: $dir/dataset"
