#!/usr/bin/env bash
# Installs the Debian 12 packages framepair needs to build, test and run. Idempotent: only
# missing packages are installed, and nothing is downloaded outside apt.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git bc python3
  ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libpng-dev zlib1g-dev libdeflate-dev libssl-dev
  libcurl4-openssl-dev  # object storage (s3://, gs://): libcurl signs with CURLOPT_AWS_SIGV4
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libabsl-dev
  libspdlog-dev libboost-dev libboost-program-options-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  iproute2 dnsmasq-base jq  # tests/netns: hosts as network namespaces, their DNS, status JSON
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer and the sanitizer runtimes for clang
  chromium util-linux  # tests/e2e: the report page in headless Chromium; script(1) for a pty
  prboom-plus freedoom xvfb xauth  # scripts/capture-game.sh: a Doom demo replayed under Xvfb
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

# npm packages of the tests that run under node, from each committed package-lock.json;
# skipped when node_modules is already up to date with it: tests/deploy (kubernetes-models,
# yaml: the manifest checks) and tests/s3 (s3rver: a real S3-compatible server;
# @20minutes/s3rver: a maintained fork of it that implements UploadPartCopy, for the multipart
# copy; @aws-sdk/client-s3: the independent client that checks what framepair wrote). Debian 12
# packages no S3-compatible server that runs without a cluster (no moto, no minio).
# FRAMEPAIR_SKIP_NODE_DEPS=1 skips them (the container image build does not run the tests).
# The deploy tests also need kubectl (with its built-in kustomize), which Debian 12 does not
# package in a usable version: it comes with the machine.
for node_tests in tests/deploy tests/s3; do
  dir="$(cd "$(dirname "$0")/.." && pwd)/$node_tests"
  if [ "${FRAMEPAIR_SKIP_NODE_DEPS:-0}" = 1 ] || [ ! -f "$dir/package-lock.json" ]; then
    :
  elif [ -f "$dir/node_modules/.package-lock.json" ] &&
    [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    echo "install-deps: $node_tests npm packages present"
  else
    if ! command -v npm >/dev/null; then
      echo "install-deps: installing nodejs and npm (for $node_tests)"
      export DEBIAN_FRONTEND=noninteractive
      $sudo apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached package lists"
      $sudo apt-get install -y -qq --no-install-recommends nodejs npm
    fi
    echo "install-deps: npm ci in $node_tests"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
