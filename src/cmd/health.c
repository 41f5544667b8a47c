#include "cmd/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "cmd/drain.h"
#include "model/quote.h"
#include "pg/local.h"
#include "pg/pgio.h"
#include "pg/resolve.h"

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

/* Connect to SA, send an SSLRequest, read the one byte of the answer ('N'
 * or 'S'), close: pgbouncer's event loop runs and takes connections.
 * Unlike a login (three lines: "access from unix socket", "login attempt",
 * "closing because"), this leaves nothing in pgbouncer's log, where a
 * liveness probe every few seconds would bury everything else. */
static bool answers_ssl_request(const struct sockaddr *sa, socklen_t len, long long deadline)
{
	static const unsigned char req[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}; /* 80877103 */
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
	socklen_t elen = sizeof(err);
	struct pollfd pfd = {fd, POLLOUT, 0};
	char answer = 0;
	bool ok = false;

	if (fd < 0)
		return false;
	if (connect(fd, sa, len) != 0 &&
	    (errno != EINPROGRESS || deadline_poll(&pfd, 1, deadline) != DEADLINE_READY ||
	     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0))
		goto out;
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		goto out;
	pfd.events = POLLIN;
	if (deadline_poll(&pfd, 1, deadline) == DEADLINE_READY && recv(fd, &answer, 1, 0) == 1)
		ok = answer == 'N' || answer == 'S';
out:
	close(fd);
	return ok;
}

/* The time left before DEADLINE shared among N tries still to come: one
 * address that drops packets must not leave none for the next. */
static long long share(long long deadline, size_t n)
{
	long long now = deadline_now();

	return now + (deadline > now ? (deadline - now) / (long long)(n ? n : 1) : 0);
}

/* Each address of NAME (looked up under DEADLINE, resolve.h) until one
 * answers. */
static bool name_answers(const char *name, const char *port, long long deadline)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM},
			*ai = NULL;
	struct addrs a;
	struct buf why;
	bool ok = false;

	buf_init(&why);
	if (resolve_host(name, deadline, &a, &why) != EX_OK) {
		if (why.len)
			log_error("health: %s", buf_str(&why));
		a.n = 0;
	}
	buf_free(&why);
	for (int i = 0; i < a.n && !ok; i++) {
		if (getaddrinfo(a.addr[i], port, &hints, &ai) != 0)
			continue;
		ok = answers_ssl_request(ai->ai_addr, ai->ai_addrlen,
					 share(deadline, (size_t)(a.n - i)));
		freeaddrinfo(ai);
	}
	return ok;
}

/* Liveness without a login: the Unix socket, else each entry of HOST (a
 * listen_addr list, "a, b") in turn.  -1 when neither applies. */
static int probe_quietly(const struct local *l, const char *host, long long deadline)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	size_t left = 1;

	if (l->socket_dir[0]) {
		if ((size_t)snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%s",
				     l->socket_dir, l->port) >= sizeof(un.sun_path))
			return -1;
		return answers_ssl_request((struct sockaddr *)&un, sizeof(un), deadline);
	}
	if (!host)
		return -1;
	for (const char *c = host; *c; c++)
		left += *c == ',';
	for (const char *p = host; *p; left--) {
		size_t len = strcspn(p, ",");
		char entry[256], *e = entry;

		snprintf(entry, sizeof(entry), "%.*s", (int)len, p);
		p += len + (p[len] == ',');
		e += strspn(e, " \t");
		for (len = strlen(e); len && strchr(" \t", e[len - 1]); len--)
			e[len - 1] = '\0';
		if (*e && name_answers(local_loopback(e), l->port, share(deadline, left)))
			return 1;
	}
	return 0;
}

/* One pgbouncer, listening as L says; THROUGH: where the login of --deep
 * goes (a TCP address, or L's socket). */
static int health_one(const struct config *c, const char *dir, const struct local *l, bool deep,
		      const char *through, long long deadline)
{
	const char *host = local_tcp_host(l);
	bool ok;

	/* liveness: an answer is enough, and it leaves no log line */
	if (!deep) {
		int quiet = probe_quietly(l, host, deadline);
		if (quiet == 1)
			return EX_OK;
		if (quiet == 0) {
			log_error("health: pgbouncer does not answer on %s%s%s",
				  l->socket_dir[0] ? l->socket_dir : host,
				  l->socket_dir[0] ? " (Unix socket), port " : ":", l->port);
			return EX_UNAVAILABLE;
		}
	}
	/* The admin console lets user "pgbouncer" in without a password over
	 * the Unix socket when the uid matches pgbouncer's (the caller has
	 * switched to the run user).  Without a socket: any protocol answer. */
	if (l->socket_dir[0])
		ok = query_ok(l->socket_dir, l->port, "pgbouncer", "pgbouncer", NULL,
			      "SHOW VERSION", deadline);
	else if (host) {
		ok = probe_quietly(l, host, deadline) == 1;
		if (!ok)
			log_error("health: pgbouncer does not answer on %s:%s", host, l->port);
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
		ok = query_ok(through, l->port, upstream_client_db(u), u->user, u->password,
			      "SELECT 1", deadline_now() + HEALTH_MS);
	}
	return ok ? EX_OK : EX_UNAVAILABLE;
}

int health_check(const struct config *c, const char *dir, bool deep)
{
	struct local l, one;
	long long deadline = deadline_now() + HEALTH_MS;
	int n, rc = EX_OK;

	local_find(c, dir, &l);
	n = local_processes(&l);
	/* several pgbouncers (PGBOUNCER_PROCESSES): green only when every one
	 * serves, each asked on its own socket (a TCP login lands on any) */
	for (int i = 1; i <= n && rc == EX_OK; i++) {
		const char *host = local_tcp_host(&l);
		local_process(&l, n, i, &one);
		rc = health_one(c, dir, &one, deep, n > 1 || !host ? one.socket_dir : host,
				deadline);
		if (rc && n > 1)
			log_error("health: that is pgbouncer %d of %d (PGBOUNCER_PROCESSES)", i, n);
	}
	return rc;
}

void health_client_urls(const struct config *c, const char *host, struct buf *out)
{
	const char *port = config_get(c, "listen_port");
	const char *tls = config_get(c, "client_tls_sslmode");

	for (size_t i = 0; i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		bool v6 = strchr(host, ':') != NULL && host[0] != '[';
		buf_puts(out, "postgresql://");
		quote_url_encode(out, u->user);
		buf_putc(out, ':');
		quote_url_encode(out, u->password);
		buf_printf(out, "@%s%s%s:%s/", v6 ? "[" : "", host, v6 ? "]" : "",
			   port ? port : "6432");
		quote_url_encode(out, upstream_client_db(u));
		if (tls && strcmp(tls, "disable") != 0)
			buf_puts(out, "?sslmode=require");
		buf_putc(out, '\n');
	}
}
