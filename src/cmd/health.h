/* `health` and `client-url`: what a shell-less image offers its probes and
 * its applications. */
#ifndef PGBE_HEALTH_H
#define PGBE_HEALTH_H

#include <stdbool.h>

#include "base/buf.h"
#include "model/config.h"

/* EX_OK when the local pgbouncer answers within 2 s; with DEEP, also a
 * query through a pooled server connection.  A failure status otherwise
 * (main reports every failure of `health` as EX_UNHEALTHY). */
int health_check(const struct config *c, const char *config_dir, bool deep);

/* The DATABASE_URL of each pool for applications reaching it as HOST. */
void health_client_urls(const struct config *c, const char *host, struct buf *out);

#endif
