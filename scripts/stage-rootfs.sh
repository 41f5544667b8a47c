#!/usr/bin/env bash
# Lay out what the images contain, from the built binaries:
#   OUT/init/       /pgbouncer-entrypoint (and /etc, so that it stays root's)
#   OUT/pgbouncer/  /usr/bin/pgbouncer, /etc/ssl/certs/ca-certificates.crt,
#                   /tmp (1777); the entrypoint comes from OUT/init/
#   OUT/config/     etc/pgbouncer/, mode 0770 (copied with --chown=70:0)
set -euo pipefail
out=$1
top=$(cd "$(dirname "$0")/.." && pwd)
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "stage-rootfs: $ca missing (Debian's ca-certificates)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/init/etc" "$out/pgbouncer/usr/bin" "$out/pgbouncer/etc/ssl/certs" \
	"$out/pgbouncer/tmp" "$out/config/etc/pgbouncer"
install -m 0755 "$top/build/pgbouncer-entrypoint" "$out/init/pgbouncer-entrypoint"
install -m 0755 "$top/build/pgbouncer" "$out/pgbouncer/usr/bin/pgbouncer"
install -m 0644 "$ca" "$out/pgbouncer/etc/ssl/certs/ca-certificates.crt"
chmod 1777 "$out/pgbouncer/tmp"
chmod 0770 "$out/config/etc/pgbouncer"
