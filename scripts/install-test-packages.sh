#!/usr/bin/env bash
# Debian packages the tests and the demo run: PostgreSQL 15 server and client,
# pgbouncer, pytest; docker-compose for the Docker tier when there is an engine.
set -euo pipefail
pkgs=(postgresql-15 postgresql-client-15 pgbouncer python3-pytest python3-yaml openssl file
	util-linux mount valgrind clang-format)
command -v docker >/dev/null && pkgs+=(docker-compose)
"$(dirname "$0")/ensure-packages.sh" "${pkgs[@]}"
# Debian's packages start a cluster and a pgbouncer service; the tests start their own.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl stop pgbouncer postgresql >/dev/null 2>&1 || true
fi
