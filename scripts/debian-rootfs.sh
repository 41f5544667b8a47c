#!/usr/bin/env bash
# Import a minimal Debian root filesystem into Docker as a local image (no
# registry here): the base for test images, and a stand-in for debian:<release>
# when exercising docker/Dockerfile's builder stage.
#
#   scripts/debian-rootfs.sh TAG
#
# The mirror is read from the machine's own apt sources at run time, and the
# image gets the machine's apt sources of this release (bookworm,
# bookworm-updates, bookworm-security) as debian:bookworm has them: a
# dependency pinned from the security suite downloads there too.  The image
# is labelled with a digest of those sources and made anew when they change.
set -euo pipefail
tag=$1
top=$(cd "$(dirname "$0")/.." && pwd)
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
# this release's stanzas of the machine's deb822 sources, else its one-line ones
sources=$(awk -v RS= -v c="$codename" '$0 ~ "(^|\n)Suites:[^\n]*" c { print; print "" }' \
	/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
format=sources
if [ -z "$sources" ]; then
	sources=$(grep -E "^deb [^ ]+ $codename" /etc/apt/sources.list 2>/dev/null || true)
	format=list
fi
[ -n "$sources" ] || { echo "debian-rootfs: no apt sources for $codename on this machine" >&2; exit 1; }
digest=$(printf '%s\n' "$sources" | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "pgbe.apt-sources"}}' "$tag" 2>/dev/null || true)
[ "$have" = "$digest" ] && exit 0
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
rm -f "$root/etc/apt/sources.list" "$root/etc/apt/sources.list.d/"*
if [ "$format" = sources ]; then
	printf '%s\n' "$sources" >"$root/etc/apt/sources.list.d/debian.sources"
else
	printf '%s\n' "$sources" >"$root/etc/apt/sources.list"
fi
tar -C "$root" --exclude=./.done -c . |
	docker import --change "LABEL pgbe.apt-sources=$digest" - "$tag" >/dev/null
echo "imported $tag"
