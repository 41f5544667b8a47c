#!/usr/bin/env bash
# Debian packages the aarch64 cross build and its tests need: the cross gcc
# (which builds our own musl too), the arm64 kernel headers, qemu to run the
# results.
set -euo pipefail
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	[ "$(id -u)" = 0 ] || { echo "install-arm64-packages: run as root: dpkg --add-architecture arm64" >&2; exit 1; }
	"$(dirname "$0")/with-apt-lock.sh" dpkg --add-architecture arm64
	"$(dirname "$0")/with-apt-lock.sh" apt-get update -qq
fi
exec "$(dirname "$0")/ensure-packages.sh" gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu \
	linux-libc-dev:arm64 qemu-user-static
