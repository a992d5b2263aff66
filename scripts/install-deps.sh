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
  iproute2 dnsmasq-base jq  # tests/netns: hosts as network namespaces, their DNS, status JSON
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer and the sanitizer runtimes for clang
  chromium util-linux  # tests/e2e: the report page in headless Chromium; script(1) for a pty
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached package lists"
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages of the manifest tests (tests/deploy: kubernetes-models, yaml), from the
# committed package-lock.json; skipped when node_modules is already up to date with it.
# FRAMEPAIR_SKIP_NODE_DEPS=1 skips them (the container image build does not run the tests).
# The tests also need kubectl (with its built-in kustomize), which Debian 12 does not package
# in a usable version: it comes with the machine.
deploy_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/deploy"
if [ "${FRAMEPAIR_SKIP_NODE_DEPS:-0}" = 1 ] || [ ! -f "$deploy_tests/package-lock.json" ]; then
  :
elif [ -f "$deploy_tests/node_modules/.package-lock.json" ] &&
  [ "$deploy_tests/node_modules/.package-lock.json" -nt "$deploy_tests/package-lock.json" ]; then
  echo "install-deps: tests/deploy npm packages present"
else
  if ! command -v npm >/dev/null; then
    echo "install-deps: installing nodejs and npm (for tests/deploy)"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached package lists"
    $sudo apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  echo "install-deps: npm ci in tests/deploy"
  (cd "$deploy_tests" && npm ci --no-audit --no-fund --loglevel=error)
fi
