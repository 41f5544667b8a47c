#!/usr/bin/env bash
# Debian packages `make demo` runs: PostgreSQL 15 server and client, and
# Debian's pgbouncer.  Their services are stopped: the demo (and the tests)
# start their own on free ports.
set -euo pipefail
"$(dirname "$0")/ensure-packages.sh" postgresql-15 postgresql-client-15 pgbouncer python3
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl stop pgbouncer postgresql >/dev/null 2>&1 || true
fi
