#!/usr/bin/env bash
# Makes the Debian 12 base images of the Dockerfile from Debian's packages, for machines that
# reach Debian's archive but no container registry: debootstrap (minbase) into a directory,
# imported into buildah's local storage as
#   localhost/debian:VERSION        (the build stage's base)
#   localhost/debian:VERSION-slim   (the runtime stage's base: no docs, manuals or locales)
# with the same apt sources as Debian's official images. Then build on them:
#   buildah bud -f deploy/docker/Dockerfile -t framepair:0.1.0 \
#     --build-arg DEBIAN_BUILD_IMAGE=localhost/debian:VERSION \
#     --build-arg DEBIAN_RUNTIME_IMAGE=localhost/debian:VERSION-slim .
#
#   deploy/docker/bootstrap-base.sh [WORK_DIR]
# Needs root, debootstrap and buildah (apt-get install debootstrap buildah). VERSION is the
# point release the archive serves (from the bootstrapped /etc/debian_version); it is printed.
# DEBIAN_MIRROR overrides the mirror (default http://deb.debian.org/debian).
set -euo pipefail
work=${1:-$(mktemp -d /tmp/framepair-debian-XXXXXX)}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || { echo "bootstrap-base: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "bootstrap-base: debootstrap needs root" >&2; exit 1; }

rootfs="$work/rootfs"
if [ ! -f "$rootfs/etc/debian_version" ]; then
  echo "== debootstrap bookworm (minbase) into $rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror"
fi
version=$(cut -d. -f1,2 "$rootfs/etc/debian_version")
case "$version" in 12.*) ;; *) echo "bootstrap-base: $rootfs is Debian $version, not 12" >&2; exit 1 ;; esac

# The official images' sources (deb822), and nothing cached.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

make_image() { # NAME TAG [slim]
  local ctr mnt
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  if [ "${3:-}" = slim ]; then
    cat >"$mnt/etc/dpkg/dpkg.cfg.d/slim" <<'SLIM'
# As in Debian's -slim images: no documentation, manuals or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
SLIM
    find "$mnt/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
    rm -rf "$mnt"/usr/share/man/* "$mnt"/usr/share/info/* "$mnt"/usr/share/locale/*
  fi
  buildah umount "$ctr" >/dev/null
  buildah config --cmd '["bash"]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --quiet "$ctr" "localhost/debian:$2" >/dev/null
  buildah rm "$ctr" >/dev/null
  echo "bootstrap-base: localhost/debian:$2"
}
make_image debian "$version"
make_image debian "$version-slim" slim
echo "bootstrap-base: Debian $version; build with --build-arg DEBIAN_BUILD_IMAGE=localhost/debian:$version --build-arg DEBIAN_RUNTIME_IMAGE=localhost/debian:$version-slim"
