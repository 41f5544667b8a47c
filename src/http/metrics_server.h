/* `metrics` over HTTP: GET /metrics scrapes, GET / links it, anything else
 * gets its status code; pgbouncer going away and coming back is logged once. */
#ifndef PGBE_METRICS_SERVER_H
#define PGBE_METRICS_SERVER_H

#include "http/metrics.h"
#include "model/config.h"

/* Serve GET /metrics (with the names of NAMES) and GET / on LISTEN until
 * SIGTERM or SIGINT.
 * Returns EX_OK, or EX_USAGE (bad LISTEN) or EX_OSERR (cannot listen) after
 * logging. */
int metrics_serve(const struct config *c, const char *config_dir, const char *listen,
		  enum metrics_names names);

#endif
