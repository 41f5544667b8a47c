/* libpq steps bounded by one deadline: a login and a query, polled in short
 * slices (deadline.h), so neither outlives --wait-timeout or a SIGTERM.  The
 * wait, the SCRAM check after a login and `health` share them. */
#ifndef PGBE_PGIO_H
#define PGBE_PGIO_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "pg/upauth.h"

enum pgio_result {
	PGIO_OK,
	PGIO_FAILED,  /* libpq gave up: PQerrorMessage says why */
	PGIO_TIMEOUT, /* the deadline passed first */
	PGIO_STOPPED, /* a stop signal arrived */
	PGIO_REFUSED, /* the upstream asked for what PGBOUNCER_UPSTREAM_AUTH forbids */
};

/* Drive the login CONN (from PQconnectStartParams) to its end or DEADLINE. */
enum pgio_result pgio_login(PGconn *conn, long long deadline);

/* pgio_login for a login to the upstream: G (upauth.h) sees each
 * authentication request before libpq answers it; PGIO_REFUSED, with
 * G->why set, when it may not.  G NULL: pgio_login. */
enum pgio_result pgio_login_guarded(PGconn *conn, long long deadline, struct upauth_guard *g);

/* pgio_login that ends at "authentication ok" (PGIO_OK), when pgbouncer
 * has checked the password and cached the SCRAM keys; the same call again
 * later drives the rest of the login. */
enum pgio_result pgio_login_authenticated(PGconn *conn, long long deadline);

/* Send SQL on CONN without waiting for an answer; false when it could not. */
bool pgio_send(PGconn *conn, const char *sql);

/* Read and drop what comes on CONN until the peer closes it (true) or
 * DEADLINE passes or a stop signal arrives (false). */
bool pgio_wait_closed(PGconn *conn, long long deadline);

/* Send SQL on CONN and collect its results before DEADLINE.  On PGIO_OK *RES
 * is the first result (the caller PQclears it; check PQresultStatus), else
 * NULL.  CONN is left non-blocking. */
enum pgio_result pgio_query(PGconn *conn, const char *sql, long long deadline, PGresult **res);

/* PQfinish that cannot block: libpq flushes its Terminate message, and in
 * blocking mode would wait without a limit for a peer that reads nothing.
 * NULL is allowed. */
void pgio_finish(PGconn *conn);

/* What an unfinished login of CONN was waiting for, in words for a message:
 * "the TCP connection", "the answer to the TLS request", ... */
const char *pgio_stage(const PGconn *conn);

#endif
