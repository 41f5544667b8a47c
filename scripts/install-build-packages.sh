#!/usr/bin/env bash
# Debian packages the build needs; installed only when missing and root.
set -euo pipefail
need=()
for p in musl-tools gcc make dpkg-dev file perl ca-certificates; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-build-packages: missing ${need[*]}; install them or run as root" >&2
	exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
