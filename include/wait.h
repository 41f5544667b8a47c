/* Waiting for the upstream like a client: a real libpq login with the
 * configured sslmode, retried against one monotonic deadline. */
#ifndef PGBE_WAIT_H
#define PGBE_WAIT_H

#include <stdbool.h>

#include "config.h"
#include "deadline.h" /* now_ms, the stop signals */

enum attempt_result {
	ATTEMPT_OK,
	ATTEMPT_RETRY,   /* not reachable yet, or starting up */
	ATTEMPT_REFUSED, /* the server answered no: 77 */
	ATTEMPT_STOPPED, /* a signal arrived */
	ATTEMPT_WRONG_SECRET, /* login fine, but pgbouncer's userlist cannot work: 78 */
	ATTEMPT_SILENT,  /* no answer before the login's deadline: retry */
};

/* What a failed login's message means (pure).  MESSAGE is libpq's, with
 * the server's SQLSTATE in it (PQERRORS_VERBOSE: "FATAL:  53300: ..."),
 * which decides whatever the server's language; without one, libpq's own
 * English texts.  A server's answer that is not "not now" (too many
 * connections, starting up) is a refusal; a failure without an answer is
 * retried.  *HINT: the fix to name, for a refusal. */
enum attempt_result wait_classify(const char *message, const char **hint);

/* Every upstream of C answers a login before TIMEOUT seconds from now.
 * USERLIST_MD5[i] (may be NULL): a supplied userlist holds an md5 hash for
 * upstream i's user, which cannot log in to a SCRAM server.  Returns
 * EX_OK, EX_UNAVAILABLE (deadline), EX_NOPERM (refused), EX_CONFIG, or
 * EX_SIGNAL_BASE + signal. */
int wait_upstreams(const struct config *c, const bool *userlist_md5, long timeout);

/* Refuse an upstream whose address is this machine's own on listen_port
 * (the seed's DB_HOST=pgbouncer-test).  Returns a status. */
int wait_check_not_self(const struct config *c);

/* A libpq login that gives up at DEADLINE (now_ms() clock) or on a signal:
 * NULL then; else a connection to check with PQstatus and PQfinish. */
struct pg_conn;
struct pg_conn *wait_connect(const char *const *keys, const char *const *vals,
			     long long deadline);

#endif
