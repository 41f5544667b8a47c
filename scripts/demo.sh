#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL 15 (scram-sha-256) on a free loopback
# port, and the image's static pgbouncer (build/pgbouncer) configured by
# build/pgbouncer-entrypoint in front of it.
# Logs in through the pool once and prints the psql line to connect; Ctrl-C
# stops both and removes everything.  Without a terminal (CI) it stops after
# that first login, with its status.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build/pgbouncer-entrypoint
pgbouncer=$top/build/pgbouncer # the one the image ships, not Debian's
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
"$top/scripts/install-demo-packages.sh"

demo=$(mktemp -d /tmp/pgbouncer-entrypoint-demo.XXXXXX)
chmod 755 "$demo"
asuser=()
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$demo"
	asuser=(runuser -u postgres --)
fi
cleanup() {
	"${asuser[@]}" "$pgbin/pg_ctl" -D "$demo/pg" stop -m fast >/dev/null 2>&1 || true
	rm -rf "$demo"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
port=$(free_port)
password=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(12) + "@:/?#")')

printf '%s\n' "$password" >"$demo/pwfile"
[ "$(id -u)" = 0 ] && chown postgres: "$demo/pwfile"
"${asuser[@]}" "$pgbin/initdb" -D "$demo/pg" -A scram-sha-256 -U postgres \
	--pwfile="$demo/pwfile" -N >/dev/null
rm -f "$demo/pwfile"
cat >>"$demo/pg/postgresql.conf" <<CONF
port = $pgport
listen_addresses = '127.0.0.1'
unix_socket_directories = '$demo'
CONF
"${asuser[@]}" "$pgbin/pg_ctl" -D "$demo/pg" -l "$demo/pg.log" -w start >/dev/null
PGPASSWORD=$password psql -X -q -h 127.0.0.1 -p "$pgport" -U postgres -d postgres \
	-c "CREATE ROLE app LOGIN PASSWORD '${password//\'/\'\'}'" -c "CREATE DATABASE app OWNER app"

export DB_HOST=127.0.0.1 DB_PORT=$pgport DB_NAME=app DB_USER=app DB_PASSWORD=$password
export LISTEN_ADDR=127.0.0.1 LISTEN_PORT=$port PGBOUNCER_UNIX_SOCKET_DIR=$demo
url=$("$bin" client-url --host 127.0.0.1 2>/dev/null || true)
"$bin" run --config-dir "$demo/cfg" --user postgres -- "$pgbouncer" "$demo/cfg/pgbouncer.ini" &
pool=$!
# one query through the pool as soon as it serves: what a user would try first
for _ in $(seq 150); do
	kill -0 "$pool" 2>/dev/null || { wait "$pool"; echo "demo: pgbouncer-entrypoint exited with $?" >&2; exit 1; }
	if out=$(PGPASSWORD=$password psql -X -At -h 127.0.0.1 -p "$port" -U app app \
		-c "SELECT 'through the pool: ' || current_user || ' on ' || version()" 2>/dev/null); then
		break
	fi
	out=
	sleep 0.2
done
[ -n "$out" ] || { echo "demo: no login through the pool within 30 s" >&2; exit 1; }
echo
echo "$out"
echo "PostgreSQL on 127.0.0.1:$pgport, $("$bin" --version | head -1) with $("$pgbouncer" --version | head -1) (the image's static build) on 127.0.0.1:$port. Connect with:"
echo "  PGPASSWORD='$password' psql -h 127.0.0.1 -p $port -U app app"
[ -n "$url" ] && echo "  psql '$url'"
if [ ! -t 0 ]; then
	# no terminal to press Ctrl-C in (CI, a pipe): the check above is the demo
	echo "Not a terminal: stopping both and removing $demo."
	# pgbouncer 1.18 ends SIGTERM's fast exit with status 1: not a failure here
	kill -TERM "$pool"
	wait "$pool" || true
	exit 0
fi
echo "Ctrl-C stops both and removes $demo."
echo
trap 'kill -TERM "$pool" 2>/dev/null' INT TERM
wait "$pool" || true
wait "$pool" 2>/dev/null || true
