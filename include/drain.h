/* `drain`: stop pgbouncer without cutting a transaction (Kubernetes preStop,
 * or before `docker stop`). */
#ifndef PGBE_DRAIN_H
#define PGBE_DRAIN_H

#include <stdbool.h>

#include "cli.h"
#include "privs.h"

/* In the config directory while a drain runs: `health --deep` (readiness)
 * reports not ready; `run` removes it at the next start. */
#define DRAIN_MARKER "draining"

bool drain_marked(const char *dir);
void drain_clear(const char *dir);

/* Readiness red, --delay, then let pgbouncer finish the running
 * transactions and exit, before --timeout.  Drops to RA first.  Returns
 * EX_OK once pgbouncer has exited, else a status after logging. */
int drain_run(const struct options *o, const struct runas *ra);

#endif
