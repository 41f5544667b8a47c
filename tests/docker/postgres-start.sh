#!/bin/sh
# Test PostgreSQL: initdb on first start with scram-sha-256, create APP_USER
# with APP_PASSWORD (and database APP_DB), then run the server in the foreground.
set -eu
data=/tmp/pgdata
if [ -n "${APP_PASSWORD_FILE:-}" ]; then
	APP_PASSWORD=$(cat "$APP_PASSWORD_FILE")
fi
if [ ! -s "$data/PG_VERSION" ]; then
	initdb -D "$data" -U postgres -A trust -N >/dev/null
	echo "host all all 0.0.0.0/0 ${PASSWORD_ENCRYPTION:-scram-sha-256}" >>"$data/pg_hba.conf"
	echo "host all all ::/0 ${PASSWORD_ENCRYPTION:-scram-sha-256}" >>"$data/pg_hba.conf"
	pg_ctl -D "$data" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
	pw=$(printf '%s' "${APP_PASSWORD:-app}" | sed "s/'/''/g")
	psql -X -q -h /tmp -U postgres -d postgres \
		-c "SET password_encryption = '${PASSWORD_ENCRYPTION:-scram-sha-256}'" \
		-c "CREATE ROLE \"${APP_USER:-app}\" LOGIN PASSWORD '$pw'" \
		-c "CREATE DATABASE \"${APP_DB:-app}\" OWNER \"${APP_USER:-app}\""
	pg_ctl -D "$data" -m fast -w stop >/dev/null
fi
# TLS when a certificate is mounted at /tls (the staging test's stand-in for
# a cloud database): the key copied to a file of our own, 0600 as required
tls=
if [ -f /tls/server.crt ]; then
	install -m 0600 /tls/server.key /tmp/server.key
	tls="-c ssl=on -c ssl_cert_file=/tls/server.crt -c ssl_key_file=/tmp/server.key"
fi
# shellcheck disable=SC2086 # $tls is a list of options
exec postgres -D "$data" -c listen_addresses='*' -c unix_socket_directories=/tmp -c fsync=off \
	-c password_encryption="${PASSWORD_ENCRYPTION:-scram-sha-256}" $tls
