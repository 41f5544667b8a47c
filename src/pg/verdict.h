/* What a failed login means: retry, or the server said no (pure functions
 * of libpq's message).  The wait asks libpq for PQERRORS_VERBOSE messages,
 * which carry the server's SQLSTATE ("FATAL:  53300: sorry, ..."): that
 * decides whatever the server's lc_messages; without one (no server
 * answered), libpq's own texts, which are English (no NLS in our build). */
#ifndef PGBE_VERDICT_H
#define PGBE_VERDICT_H

#include "base/buf.h"

enum attempt_result {
	ATTEMPT_OK,
	ATTEMPT_RETRY,        /* not reachable yet, or busy (starting up, too many connections) */
	ATTEMPT_REFUSED,      /* the server answered no: 77 */
	ATTEMPT_STOPPED,      /* a signal arrived */
	ATTEMPT_WRONG_SECRET, /* login fine, but pgbouncer's userlist cannot work: 78 */
	ATTEMPT_SILENT,       /* no answer before the login's deadline: retry */
	ATTEMPT_UNSAFE,       /* the server asked for what PGBOUNCER_UPSTREAM_AUTH forbids: 77 */
};

/* ATTEMPT_RETRY or ATTEMPT_REFUSED for MESSAGE.  A server's answer that is
 * not "not now" is a refusal; a failure without an answer is retried.
 * *HINT: the fix to name, for a refusal. */
enum attempt_result verdict_of(const char *message, const char **hint);

/* MESSAGE for a log line: without libpq's "connection to server at ...
 * failed:" prefix, the "FATAL:" tag, the SQLSTATE and the LOCATION line, on
 * one line.  libpq never puts the password in it. */
void verdict_reason(const char *message, struct buf *out);

#endif
