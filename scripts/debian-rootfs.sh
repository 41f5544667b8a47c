#!/usr/bin/env bash
# Import a minimal Debian root filesystem into Docker as a local image (no
# registry here): the base for test images, and a stand-in for debian:<release>
# when exercising docker/Dockerfile's builder stage.
#
#   scripts/debian-rootfs.sh TAG
#
# The mirror is read from the machine's own apt sources at run time.
set -euo pipefail
tag=$1
top=$(cd "$(dirname "$0")/.." && pwd)
docker image inspect "$tag" >/dev/null 2>&1 && exit 0
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
command -v debootstrap >/dev/null || "$top/scripts/ensure-packages.sh" debootstrap
root="$top/build/rootfs-$codename"
if [ ! -f "$root/.done" ]; then
	rm -rf "$root"
	mkdir -p "$top/build"
	debootstrap --variant=minbase "$codename" "$root" "$mirror" >"$top/build/debootstrap.log" 2>&1
	touch "$root/.done"
fi
tar -C "$root" --exclude=./.done -c . | docker import - "$tag" >/dev/null
echo "imported $tag"
