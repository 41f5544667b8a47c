/* `drain`: stop pgbouncer without cutting a transaction (Kubernetes preStop,
 * or before `docker stop`). */
#ifndef PGBE_DRAIN_H
#define PGBE_DRAIN_H

#include <stdbool.h>

#include "base/runas.h"
#include "cmd/cli.h"

/* In the config directory while a drain runs: `health --deep` (readiness)
 * reports not ready; `run` removes it at the next start, a drain that is
 * abandoned (a signal, a failure before pgbouncer stopped) at once. */
#define DRAIN_MARKER "draining"

/* Also there: the drain running now holds an flock on it, and writes how it
 * ended for a second drain that joined it (waits for that outcome instead
 * of draining a second time). */
#define DRAIN_LOCK ".pgbe-drain.lock"

bool drain_marked(const char *dir);
void drain_clear(const char *dir);

/* Readiness red, --delay, then let pgbouncer finish the running
 * transactions and exit, before --timeout (0: no limit).  Drops to RA
 * first.  A second drain joins the one running.  SIGTERM/SIGINT end it at
 * any point without cutting a transaction: before SHUTDOWN, our PAUSE is
 * RESUMEd and readiness turns green again; after it, the running
 * transactions still end before pgbouncer does.  Returns EX_OK once
 * pgbouncer has exited, EX_SIGNAL_BASE + the signal, or a status after
 * logging. */
int drain_run(const struct options *o, const struct runas *ra);

#endif
