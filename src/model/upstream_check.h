/* Checking one upstream once gathered (gather.h): required fields and
 * defaults (NEED_HOST false when the user's own pgbouncer.ini names the
 * servers), the pool pointed at itself (LP, LA: listen_port, listen_addr),
 * and duplicates.  Each returns a status after logging. */
#ifndef PGBE_UPSTREAM_CHECK_H
#define PGBE_UPSTREAM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "model/upstream.h"

int upstream_complete(struct upstream *u, bool need_host);
int upstream_check_self(const struct upstream *u, const char *lp, const char *la);
int upstreams_check_unique(const struct upstream *up, size_t n);

#endif
