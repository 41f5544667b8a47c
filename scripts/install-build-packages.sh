#!/usr/bin/env bash
# Debian packages the build needs.
exec "$(dirname "$0")/ensure-packages.sh" musl-tools gcc make dpkg-dev file perl ca-certificates
