/* pgbouncer's admin console for the commands that change what it does
 * (reload, drain): RELOAD, PAUSE, RESUME, SHUTDOWN, on top of local.h's
 * login (user "pgbouncer" over the Unix socket, as pgbouncer's own uid,
 * which pgbouncer lets in without a password).  Nothing here needs a
 * secret. */
#ifndef PGBE_CONSOLE_H
#define PGBE_CONSOLE_H

#include <stdbool.h>

#include "base/buf.h"
#include "pg/local.h" /* struct local, local_find: where pgbouncer listens */

/* A console connection through L's Unix socket before DEADLINE (deadline_now()),
 * or NULL after logging why (WHAT names the caller: "reload"). */
struct pg_conn *console_open(const struct local *l, long long deadline, const char *what);

/* Run SQL on CONN before DEADLINE.  With OUT, the first column of the first
 * row goes there.  false after logging. */
bool console_query(struct pg_conn *conn, const char *sql, long long deadline, struct buf *out,
		   const char *what);

/* Send SQL without waiting for an answer (SHUTDOWN sends none).  false
 * after logging. */
bool console_send(struct pg_conn *conn, const char *sql);

/* Wait until pgbouncer closes CONN (it exits), or DEADLINE: true if closed. */
bool console_wait_closed(struct pg_conn *conn, long long deadline);

/* "PgBouncer 1.18.0 ..." as 118; 0 when it cannot tell. */
int console_version_number(const char *text);

/* SHOW VERSION on CONN, as console_version_number.  0 after logging. */
int console_version(struct pg_conn *conn, long long deadline, const char *what);

void console_close(struct pg_conn *conn);

#endif
