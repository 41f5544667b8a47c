#!/usr/bin/env bash
# Debian packages the tests run: the demo's (PostgreSQL 15), Debian's own
# pgbouncer (the first integration pass runs it; the demo no longer does), pytest,
# pgbench (in postgresql-15), promtool (in prometheus), the real clients of
# tests/test_clients.py (Django, psycopg2, asyncpg); docker-compose for the
# Docker tier when there is an engine.
set -euo pipefail
"$(dirname "$0")/install-demo-packages.sh"
pkgs=(pgbouncer python3-pytest python3-pytest-timeout python3-pytest-xdist python3-yaml openssl file
	util-linux mount valgrind clang-format prometheus strace
	python3-django python3-psycopg2 python3-asyncpg)
# the registry tier pushes to and pulls from Debian's Distribution registry
command -v docker >/dev/null && pkgs+=(docker-compose docker-registry)
"$(dirname "$0")/ensure-packages.sh" "${pkgs[@]}"
# Debian's packages start a Prometheus and a registry service; the tests
# start their own registry and only use promtool.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl stop prometheus prometheus-node-exporter docker-registry \
		>/dev/null 2>&1 || true
fi
