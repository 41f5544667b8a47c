/* Learning the server's own SCRAM secret: one login to the upstream that
 * speaks the few protocol messages itself, because libpq has no API for the
 * salt and iteration count the server sends in its server-first message
 * (issue 10).  Knowing the password, StoredKey and ServerKey follow, so the
 * secret is byte-identical to the server's pg_authid.rolpassword, and
 * pgbouncer can pass a client's SCRAM proof through to the server.
 *
 * The message builders and parsers are pure functions (unit-tested); the
 * connection part honours one deadline and the SIGTERM/SIGINT flag of the
 * wait. */
#ifndef PGBE_SCRAM_LEARN_H
#define PGBE_SCRAM_LEARN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "learn/scram_proto.h"

/* One login.  On LEARN_SCRAM, SECRET holds
 * SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>.  WHY gets a one-line
 * reason for every other status (never the password).  Gives up at DEADLINE
 * (deadline_now() clock) with LEARN_RETRY, or at once on deadline_stop_signal. */
enum learn_status scram_learn(const struct learn_target *t, long long deadline, struct buf *secret,
			      struct buf *why);

#endif
