#!/usr/bin/env bash
# Builds framepair's six binaries (Release) and installs them under PREFIX/bin. This is the one
# build recipe of the container image: the Dockerfile's build stage runs it, and CI runs the
# same script on the host (ctest -L deploy-image, configured with -DFRAMEPAIR_TEST_IMAGE_BUILD=ON),
# so the image steps cannot drift from what is tested.
#
#   deploy/docker/build-in-image.sh SOURCE_DIR PREFIX [BUILD_DIR]
#
#   SOURCE_DIR  the repository root (the Dockerfile passes /src)
#   PREFIX      install prefix; binaries land in PREFIX/bin (the Dockerfile uses /opt/framepair)
#   BUILD_DIR   CMake build tree (default: SOURCE_DIR/build-image; ignored by git and docker)
#
# Needs the build dependencies of scripts/install-deps.sh. FRAMEPAIR_JOBS sets the parallel
# jobs (default: all cores). FRAMEPAIR_IMAGE_BUILD_TYPE (default Release) lets scripts/test.sh
# run this very script on CI's already-built RelWithDebInfo tree, so every CI run exercises
# the image's build, install and runtime-package steps without a second full build.
#
# After installing it checks the result the way the runtime stage will use it:
#  - every installed binary starts (`--help`) with only the system's shared libraries;
#  - the Debian packages owning the libraries the binaries link directly (ELF NEEDED, resolved
#    by the dynamic loader, mapped with dpkg -S) are exactly deploy/docker/runtime-packages.txt,
#    the single list the runtime stage installs (lines tagged "# tool" there are operator tools,
#    not libraries, and are not compared). A difference fails the build and prints it, so a new
#    dependency cannot silently produce an image that fails at start-up.
# The computed list is written to PREFIX/share/framepair/runtime-packages.txt.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
src=$(cd "$1" && pwd)
prefix=$2
build=${3:-$src/build-image}
jobs=${FRAMEPAIR_JOBS:-$(nproc)}
targets=(framepair framepair-coordinator framepair-ingest framepair-align framepair-scene
  framepair-packer)
listed_file="$src/deploy/docker/runtime-packages.txt"

for tool in cmake ninja readelf ldd dpkg-query; do
  command -v "$tool" >/dev/null || { echo "build-in-image: $tool is missing (run scripts/install-deps.sh)" >&2; exit 1; }
done

build_type=${FRAMEPAIR_IMAGE_BUILD_TYPE:-Release}
echo "== configure ($build_type) $src -> $build"
# -Werror stays on: the image is built with the same Debian 12 compiler as CI.
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_INSTALL_PREFIX="$prefix"
echo "== build ${targets[*]} ($jobs jobs)"
cmake --build "$build" --parallel "$jobs" --target "${targets[@]}"
echo "== install into $prefix"
cmake --install "$build" --prefix "$prefix" --strip

for t in "${targets[@]}"; do
  [ -x "$prefix/bin/$t" ] || { echo "build-in-image: $prefix/bin/$t was not installed" >&2; exit 1; }
  "$prefix/bin/$t" --help >/dev/null || { echo "build-in-image: $t --help failed" >&2; exit 1; }
done

# Packages that own the libraries the binaries link directly (ELF NEEDED), as the dynamic
# loader resolves them. One dpkg-query for all paths (it is slow per call). dpkg records the
# path the package shipped; with Debian's merged /usr that may be /lib/... or /usr/lib/...,
# so each path is tried as resolved, canonical, and without /usr.
echo "== runtime packages"
declare -A lib_paths=()
for t in "${targets[@]}"; do
  bin="$prefix/bin/$t"
  declare -A resolved=()
  while read -r soname path; do
    resolved[$soname]=$path
  done < <(ldd "$bin" | awk '$2 == "=>" { print $1, $3 }')
  while read -r soname; do
    path=${resolved[$soname]:-}
    if [ -z "$path" ] || [ "$path" = "not" ]; then
      echo "build-in-image: $t needs $soname, which the loader cannot find" >&2
      exit 1
    fi
    lib_paths[$path]=$t
  done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  unset resolved
done
declare -A owner=()
declare -A candidates=()
for path in "${!lib_paths[@]}"; do
  canonical=$(readlink -f "$path")
  for c in "$path" "$canonical" "${path#/usr}" "${canonical#/usr}"; do candidates[$c]=1; done
done
while IFS= read -r line; do
  # "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" (diversions are not files here)
  pkg=${line%%: /*}
  file=${line#*: }
  owner[$file]=${pkg%%:*}
done < <(dpkg-query -S "${!candidates[@]}" 2>/dev/null || true)
declare -A needed_pkgs=()
for path in "${!lib_paths[@]}"; do
  canonical=$(readlink -f "$path")
  pkg=""
  for c in "$path" "$canonical" "${path#/usr}" "${canonical#/usr}"; do
    pkg=${owner[$c]:-}
    [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ]; then
    echo "build-in-image: no Debian package owns $path (needed by ${lib_paths[$path]})" >&2
    exit 1
  fi
  needed_pkgs[$pkg]=1
done
mkdir -p "$prefix/share/framepair"
computed="$prefix/share/framepair/runtime-packages.txt"
printf '%s\n' "${!needed_pkgs[@]}" | sort -u >"$computed"
cat "$computed"

if [ ! -f "$listed_file" ]; then
  echo "build-in-image: $listed_file is missing; it should list the packages above" >&2
  exit 1
fi
# The listed library packages: every line without a "# tool" tag.
if ! diff -u <(grep -v '#[[:space:]]*tool' "$listed_file" | sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' | sort -u) "$computed" \
    --label "deploy/docker/runtime-packages.txt" --label "needed by the binaries"; then
  echo "build-in-image: deploy/docker/runtime-packages.txt differs from what the binaries link" \
    "(lines with - are listed but not needed, + are needed but not listed); update the file" >&2
  exit 1
fi
echo "build-in-image: ${#targets[@]} binaries in $prefix/bin; runtime packages match deploy/docker/runtime-packages.txt"
