/* `reload`: the files again from the environment and every _FILE, proven
 * and swapped in under a running pgbouncer, which is then told to RELOAD.
 * `watch` runs it whenever an input changes. */
#ifndef PGBE_RELOAD_H
#define PGBE_RELOAD_H

#include <stdbool.h>

#include "cmd/pipeline.h"

/* After runas_resolve and pipeline_load_model.  Returns a status after logging;
 * on any failure the files and the running pgbouncer are left as they
 * were. */
int reload_run(const struct options *o, struct state *s);

/* The phases reload_run needs (pipeline.h): the lock is held until
 * pgbouncer has answered RELOAD. */
#define RELOAD_NEEDS (NEEDS_RUNAS | NEEDS_LOCK | NEEDS_MODEL)

/* One whole reload with O's options, as `reload` runs it (watch.h). */
int reload_once(const struct options *o);

#endif
