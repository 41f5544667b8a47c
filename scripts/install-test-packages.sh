#!/usr/bin/env bash
# Debian packages the tests and the demo run: PostgreSQL 15 server and client,
# pgbouncer, pytest.  Installed only when missing and root.
set -euo pipefail
need=()
for p in postgresql-15 postgresql-client-15 pgbouncer python3-pytest python3-yaml openssl file \
	util-linux; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
# the Docker tier drives compose examples with Debian's docker-compose
if command -v docker >/dev/null && ! command -v docker-compose >/dev/null; then
	need+=(docker-compose)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-test-packages: missing ${need[*]}; install them or run as root" >&2
	exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
# Debian's packages start a cluster and a pgbouncer service; the tests start their own.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl stop pgbouncer postgresql >/dev/null 2>&1 || true
fi
