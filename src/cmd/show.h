/* `show WHAT` and `console -c SQL`: pgbouncer's admin console without psql
 * (the image has no shell and no client), over the Unix socket as the run
 * user, printed as an aligned table or JSON.  `docker exec <c>
 * pgbouncer-entrypoint show pools` answers what the seed checked with
 * `psql -p 6432 pgbouncer -c 'SHOW POOLS'`. */
#ifndef PGBE_SHOW_H
#define PGBE_SHOW_H

#include <stdbool.h>

#include "base/runas.h"
#include "cmd/cli.h"

/* Drop to RA, log in to the console of the pgbouncer CONFIG_DIR's ini
 * names, run O->sql (CMD_CONSOLE) or SHOW O->show, print the rows.
 * Returns a status after logging. */
int show_run(const struct options *o, const struct runas *ra);

#endif
