#!/usr/bin/env bash
# Debian packages `make demo` runs: PostgreSQL 15 server and client (the
# pgbouncer is the image's, build/pgbouncer).  A running PostgreSQL or
# pgbouncer service is stopped: the demo (and the tests) start their own on
# free ports.
set -euo pipefail
"$(dirname "$0")/ensure-packages.sh" postgresql-15 postgresql-client-15 python3
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl stop pgbouncer postgresql >/dev/null 2>&1 || true
fi
