#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL 15 (scram-sha-256) on a free loopback
# port, and pgbouncer configured by build/pgbouncer-entrypoint in front of it.
# Prints the psql line to connect; Ctrl-C stops both and removes everything.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build/pgbouncer-entrypoint
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
scripts/install-test-packages.sh

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
echo
echo "PostgreSQL on 127.0.0.1:$pgport, pgbouncer on 127.0.0.1:$port. Connect with:"
echo "  PGPASSWORD='$password' psql -h 127.0.0.1 -p $port -U app app"
[ -n "$url" ] && echo "  psql '$url'"
echo "Ctrl-C stops both and removes $demo."
echo
"$bin" run --config-dir "$demo/cfg" --user postgres
