/* `metrics` over HTTP: GET /metrics scrapes, GET / links it, anything else
 * gets its status code; pgbouncer going away and coming back is logged once. */
#ifndef PGBE_METRICS_SERVER_H
#define PGBE_METRICS_SERVER_H

#include "model/config.h"

/* Serve GET /metrics and GET / on LISTEN until SIGTERM or SIGINT.
 * Returns EX_OK, or EX_USAGE (bad LISTEN) or EX_OSERR (cannot listen) after
 * logging. */
int metrics_serve(const struct config *c, const char *config_dir, const char *listen);

#endif
