#include "health.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "drain.h"
#include "exitcodes.h"
#include "local.h"
#include "log.h"
#include "pgio.h"
#include "quote.h"

#define HEALTH_MS 1800 /* answer within the 2 s a probe allows */

/* Log in and run SQL, all before DEADLINE; false after logging why. */
static bool query_ok(const char *host, const char *port, const char *db, const char *user,
		     const char *password, const char *sql, long long deadline)
{
	struct buf why;
	PGconn *conn;
	PGresult *r = NULL;

	buf_init(&why);
	conn = local_login(host, port, db, user, password, "pgbouncer-entrypoint-health", deadline,
			   &why);
	if (conn)
		r = local_query(conn, sql, deadline, &why);
	if (!r)
		log_error("health: %s", buf_str(&why));
	PQclear(r);
	pgio_finish(conn);
	buf_free(&why);
	return r != NULL;
}

int health_check(const struct config *c, const char *dir, bool deep)
{
	struct local l;
	long long deadline = now_ms() + HEALTH_MS;
	const char *host;
	bool ok;

	local_find(c, dir, &l);
	host = local_tcp_host(&l);
	/* The admin console lets user "pgbouncer" in without a password over
	 * the Unix socket when the uid matches pgbouncer's (the caller has
	 * switched to the run user).  Without a socket: any protocol answer. */
	if (l.socket_dir[0])
		ok = query_ok(l.socket_dir, l.port, "pgbouncer", "pgbouncer", NULL, "SHOW VERSION",
			      deadline);
	else if (host) {
		const char *keys[] = {"host", "port", "dbname", "user", "connect_timeout", NULL};
		const char *vals[] = {host, l.port, "pgbouncer", "pgbouncer", "2", NULL};
		ok = PQpingParams(keys, vals, 0) == PQPING_OK;
		if (!ok)
			log_error("health: pgbouncer does not answer on %s:%s", host, l.port);
	} else {
		log_error("health: pgbouncer has neither a Unix socket nor a TCP address");
		return EX_UNAVAILABLE;
	}
	/* a drain has begun: readiness goes red so load balancers and Service
	 * endpoints stop sending new clients, while liveness stays green */
	if (ok && deep && drain_marked(dir)) {
		log_error("health: pgbouncer is draining ('%s/%s' exists): not ready", dir,
			  DRAIN_MARKER);
		return EX_UNAVAILABLE;
	}
	if (ok && deep) {
		const struct upstream *u = c->nup ? &c->up[0] : NULL;
		if (!u) {
			log_error("health --deep needs DB_USER, DB_PASSWORD and DB_NAME (or "
				  "DATABASE_URL) to log in through the pool");
			return EX_CONFIG;
		}
		ok = query_ok(host ? host : l.socket_dir, l.port, upstream_client_db(u), u->user,
			      u->password, "SELECT 1", now_ms() + HEALTH_MS);
	}
	return ok ? EX_OK : EX_UNAVAILABLE;
}

void client_urls(const struct config *c, const char *host, struct buf *out)
{
	const char *port = config_get(c, "listen_port");
	const char *tls = config_get(c, "client_tls_sslmode");

	for (size_t i = 0; i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		bool v6 = strchr(host, ':') != NULL && host[0] != '[';
		buf_puts(out, "postgresql://");
		url_encode(out, u->user);
		buf_putc(out, ':');
		url_encode(out, u->password);
		buf_printf(out, "@%s%s%s:%s/", v6 ? "[" : "", host, v6 ? "]" : "",
			   port ? port : "6432");
		url_encode(out, upstream_client_db(u));
		if (tls && strcmp(tls, "disable") != 0)
			buf_puts(out, "?sslmode=require");
		buf_putc(out, '\n');
	}
}
