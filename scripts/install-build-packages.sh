#!/usr/bin/env bash
# Debian packages the build needs.
exec "$(dirname "$0")/ensure-packages.sh" gcc libc6-dev make dpkg-dev file perl \
	bzip2 xz-utils ca-certificates python3 patch gpg gpgv
