/* `reload`: the files again from the environment and every _FILE, proven
 * and swapped in under a running pgbouncer, which is then told to RELOAD.
 * `watch` runs it whenever an input changes. */
#ifndef PGBE_RELOAD_H
#define PGBE_RELOAD_H

#include <stdbool.h>

#include "buf.h"
#include "pipeline.h"

/* After runas_resolve and load_model.  Returns a status after logging;
 * on any failure the files and the running pgbouncer are left as they
 * were. */
int reload_run(const struct options *o, struct state *s);

/* The forced server user (user=) of database DB in the [databases] section
 * of an ini TEXT into OUT ("" when none).  false when TEXT has no DB. */
bool ini_db_user(const char *text, const char *db, struct buf *out);

#endif
