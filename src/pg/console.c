#include "pg/console.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "pg/pgio.h"

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

bool console_query(struct pg_conn *conn, const char *sql, long long deadline, struct buf *out,
		   const char *what)
{
	struct buf why;
	PGresult *r;

	buf_init(&why);
	/* pgbouncer may answer late (PAUSE waits for every transaction), so
	 * the answer needs the deadline too */
	r = (PGresult *)local_query(conn, sql, deadline, &why);

	if (!r)
		log_error("%s: %s", what, buf_str(&why) ? buf_str(&why) : "out of memory");
	else if (out && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
		out->len = 0;
		buf_puts(out, PQgetvalue(r, 0, 0));
	}
	buf_free(&why);
	PQclear(r);
	return r != NULL;
}

bool console_send(struct pg_conn *pc, const char *sql)
{
	PGconn *conn = (PGconn *)pc;

	if (pgio_send(conn, sql))
		return true;
	log_error("could not send %s to pgbouncer's admin console: %s", sql, PQerrorMessage(conn));
	return false;
}

bool console_wait_closed(struct pg_conn *pc, long long deadline)
{
	return pgio_wait_closed((PGconn *)pc, deadline);
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
