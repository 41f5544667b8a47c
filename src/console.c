#include "console.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "fileio.h"
#include "health.h"
#include "pgio.h"
#include "log.h"
#include "wait.h"

struct pg_conn *console_open(const struct local *l, long long deadline, const char *what)
{
	struct buf why;
	struct pg_conn *conn;

	buf_init(&why);
	conn = local_admin_login(l, "pgbouncer-entrypoint", deadline, &why);
	if (!conn)
		log_error("%s: pgbouncer's admin console does not answer at '%s/.s.PGSQL.%s': %s",
			  what, l->socket_dir, l->port,
			  buf_str(&why) ? buf_str(&why) : "out of memory");
	buf_free(&why);
	return conn;
}

/* Wait for input on CONN until DEADLINE; false at the deadline or on a
 * stop signal. */
static bool readable_before(PGconn *conn, long long deadline)
{
	struct pollfd pfd = {PQsocket(conn), POLLIN, 0};

	return deadline_poll(&pfd, 1, deadline) == DEADLINE_READY;
}

bool console_query(struct pg_conn *pc, const char *sql, long long deadline, struct buf *out,
		   const char *what)
{
	PGconn *conn = (PGconn *)pc;
	PGresult *r;
	/* pgbouncer may answer late (PAUSE waits for every transaction), so
	 * the answer needs the deadline too */
	enum pgio_result io = pgio_query(conn, sql, deadline, &r);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	bool ok = io == PGIO_OK && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK);

	if (io == PGIO_TIMEOUT || io == PGIO_STOPPED)
		log_error("%s: %s got no answer in time", what, sql);
	else if (!ok)
		log_error("%s: %s failed: %s", what, sql,
			  r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	else if (out && st == PGRES_TUPLES_OK && PQntuples(r) > 0) {
		out->len = 0;
		buf_puts(out, PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return ok;
}

bool console_send(struct pg_conn *pc, const char *sql)
{
	PGconn *conn = (PGconn *)pc;

	if (PQsendQuery(conn, sql) && PQflush(conn) == 0)
		return true;
	log_error("could not send %s to pgbouncer's admin console: %s", sql, PQerrorMessage(conn));
	return false;
}

bool console_wait_closed(struct pg_conn *pc, long long deadline)
{
	PGconn *conn = (PGconn *)pc;

	PQsetnonblocking(conn, 1);
	while (PQstatus(conn) == CONNECTION_OK) {
		if (wait_stop_signal || !readable_before(conn, deadline))
			return false;
		/* EOF: pgbouncer closed every connection on its way out */
		if (!PQconsumeInput(conn))
			return true;
		while (!PQisBusy(conn)) {
			PGresult *r = PQgetResult(conn);
			if (!r)
				break;
			PQclear(r);
		}
	}
	return true;
}

int console_version_number(const char *text)
{
	const char *p = strstr(text, "PgBouncer ");
	char *end;
	long major, minor;

	if (!p)
		return 0;
	major = strtol(p + 10, &end, 10);
	if (*end != '.')
		return 0;
	minor = strtol(end + 1, &end, 10);
	return major >= 1 && major < 100 && minor >= 0 && minor < 100 ? (int)(major * 100 + minor)
								      : 0;
}

int console_version(struct pg_conn *conn, long long deadline, const char *what)
{
	struct buf v;
	int n = 0;

	buf_init(&v);
	if (console_query(conn, "SHOW VERSION", deadline, &v, what)) {
		n = console_version_number(buf_str(&v) ? buf_str(&v) : "");
		if (!n)
			log_error("%s: cannot tell pgbouncer's version from \"%s\"", what,
				  buf_str(&v));
	}
	buf_free(&v);
	return n;
}

void console_close(struct pg_conn *conn)
{
	pgio_finish((PGconn *)conn);
}
