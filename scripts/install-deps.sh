#!/usr/bin/env bash
# Installs the Debian 12 packages framepair needs to build, test and run. Idempotent: only
# missing packages are installed, and nothing is downloaded outside apt.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git bc python3
  ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libpng-dev zlib1g-dev libssl-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libabsl-dev
  libspdlog-dev libboost-dev libboost-program-options-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached package lists"
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
