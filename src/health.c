#include "health.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "fileio.h"
#include "pgio.h"
#include "log.h"
#include "quote.h"
#include "wait.h"

#define HEALTH_MS 1800 /* answer within the 2 s a probe allows */

static const char *skip_blank(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

bool ini_value(const char *text, const char *key, struct buf *out)
{
	bool in_section = false, found = false;
	size_t klen = strlen(key);

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n'), *p = skip_blank(line);
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (*p == '[')
			in_section = !strncmp(p, "[pgbouncer]", 11);
		else if (in_section && !strncmp(p, key, klen) &&
			 (p[klen] == ' ' || p[klen] == '\t' || p[klen] == '=')) {
			const char *v = skip_blank(p + klen);
			if (*v == '=') {
				v = skip_blank(v + 1);
				size_t vlen = len - (size_t)(v - p);
				while (vlen && isspace((unsigned char)v[vlen - 1]))
					vlen--;
				out->len = 0;
				buf_add(out, v, vlen);
				if (!vlen)
					buf_puts(out, "");
				found = true;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return found;
}

struct local {
	char port[16];
	char socket_dir[1024];
	char addr[256];
};

/* Where the local pgbouncer listens: from the ini it was started with, else
 * from the environment's model. */
static void find_local(const struct config *c, const char *dir, struct local *l)
{
	char path[4096];
	size_t len;
	char *text;
	struct buf v;
	const char *p = config_get(c, "listen_port"), *s = config_get(c, "unix_socket_dir");
	const char *a = config_get(c, "listen_addr");

	snprintf(l->port, sizeof(l->port), "%s", p ? p : "6432");
	snprintf(l->socket_dir, sizeof(l->socket_dir), "%s", s ? s : "/tmp");
	snprintf(l->addr, sizeof(l->addr), "%s", a ? a : "");
	snprintf(path, sizeof(path), "%s/pgbouncer.ini", dir);
	text = read_text(path, &len);
	if (!text)
		return;
	buf_init(&v);
	if (ini_value(text, "listen_port", &v))
		snprintf(l->port, sizeof(l->port), "%s", buf_str(&v));
	if (ini_value(text, "unix_socket_dir", &v))
		snprintf(l->socket_dir, sizeof(l->socket_dir), "%s", buf_str(&v));
	if (ini_value(text, "listen_addr", &v))
		snprintf(l->addr, sizeof(l->addr), "%s", buf_str(&v));
	buf_free(&v);
	free(text);
}

/* TCP address to reach a pgbouncer listening on ADDR (a list, or a wildcard). */
static const char *tcp_host(const struct local *l)
{
	if (!l->addr[0])
		return NULL;
	if (!strcmp(l->addr, "*") || !strncmp(l->addr, "0.0.0.0", 7))
		return "127.0.0.1";
	if (!strcmp(l->addr, "::"))
		return "::1";
	return l->addr; /* first entry of a list is good enough for a probe */
}

/* pgbouncer accepts the login itself and then queues the query until a
 * server connection is free, so the query needs the deadline too. */
static bool query_within(PGconn *conn, const char *sql, long long deadline)
{
	PGresult *r;
	enum pgio_result io = pgio_query(conn, sql, deadline, &r);
	bool ok = io == PGIO_OK && PQresultStatus(r) == PGRES_TUPLES_OK;

	if (io == PGIO_TIMEOUT || io == PGIO_STOPPED)
		log_error("health: %s got no answer within %d ms", sql, HEALTH_MS);
	else if (!ok)
		log_error("health: %s failed: %s", sql,
			  r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	PQclear(r);
	return ok;
}

static bool query_ok(const char *host, const char *port, const char *db, const char *user,
		     const char *password, const char *sql, long long deadline)
{
	/* no password: the admin console over the socket needs none */
	const char *keys[] = {"host", "port", "dbname", "user", "application_name",
			      password ? "password" : NULL, NULL};
	const char *vals[] = {host, port, db, user, "pgbouncer-entrypoint-health", password, NULL};
	PGconn *conn;
	bool ok = false;

	conn = (PGconn *)wait_connect(keys, vals, deadline);
	if (conn && PQstatus(conn) == CONNECTION_OK) {
		ok = query_within(conn, sql, deadline);
	} else {
		log_error("health: could not log in to %s at %s:%s: %s", db, host, port,
			  conn ? PQerrorMessage(conn) : "timed out");
	}
	PQfinish(conn);
	return ok;
}

int health_check(const struct config *c, const char *dir, bool deep)
{
	struct local l;
	long long deadline = now_ms() + HEALTH_MS;
	const char *host;
	bool ok;

	find_local(c, dir, &l);
	host = tcp_host(&l);
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
	if (ok && deep) {
		const struct upstream *u = c->nup ? &c->up[0] : NULL;
		if (!u) {
			log_error("health --deep needs DB_USER, DB_PASSWORD and DB_NAME (or "
				  "DATABASE_URL) to log in through the pool");
			return EX_CONFIG;
		}
		ok = query_ok(host ? host : l.socket_dir, l.port, u->alias, u->user, u->password,
			      "SELECT 1", now_ms() + HEALTH_MS);
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
		url_encode(out, u->alias);
		if (tls && strcmp(tls, "disable") != 0)
			buf_puts(out, "?sslmode=require");
		buf_putc(out, '\n');
	}
}
