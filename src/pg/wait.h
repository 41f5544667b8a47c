/* Waiting for the upstream like a client: a real libpq login with the
 * configured sslmode, retried against one monotonic deadline. */
#ifndef PGBE_WAIT_H
#define PGBE_WAIT_H

#include <stdbool.h>

#include "model/config.h"

/* Every upstream of C answers a login before DEADLINE (deadline_now() clock; the
 * wait began at START, for the log).
 * USERLIST_MD5[i] (may be NULL): a supplied userlist holds an md5 hash for
 * upstream i's user, which cannot log in to a SCRAM server.  Returns
 * EX_OK, EX_UNAVAILABLE (deadline), EX_NOPERM (refused), EX_CONFIG, or
 * EX_SIGNAL_BASE + signal. */
int wait_upstreams(const struct config *c, const bool *userlist_md5, long long start,
		   long long deadline);

/* Refuse an upstream whose address is this machine's own on listen_port
 * (the seed's DB_HOST=pgbouncer-test).  A name lookup ends by DEADLINE (the
 * wait's; at most 2 s) or a stop signal (install them first).  Returns a
 * status. */
int wait_check_not_self(const struct config *c, long long deadline);

/* A libpq login that gives up at DEADLINE (deadline_now() clock) or on a signal:
 * NULL then; else a connection to check with PQstatus and PQfinish. */
struct pg_conn;
struct pg_conn *wait_connect(const char *const *keys, const char *const *vals, long long deadline);

#endif
