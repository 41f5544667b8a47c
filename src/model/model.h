/* The model: struct config (config.h) built from the environment. */
#ifndef PGBE_MODEL_H
#define PGBE_MODEL_H

#include <stdbool.h>

#include "model/config.h"
#include "model/env.h"

/* Build and validate.  CONFIG_DIR is where the files go (auth_file default).
 * NEED_UPSTREAM: false when a user-supplied pgbouncer.ini makes the
 * upstream variables optional.  Returns a status after logging.  C is
 * always safe to pass to config_free afterwards. */
int model_build(struct config *c, struct env *e, const char *config_dir, bool need_upstream);

#endif
