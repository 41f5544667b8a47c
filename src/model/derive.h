/* Settings that follow from the upstreams and from each other: the URL's
 * sslmode, auth_file, admin_users, the CA bundle, per-database extras, and
 * combinations pgbouncer would refuse at startup. */
#ifndef PGBE_DERIVE_H
#define PGBE_DERIVE_H

#include "model/config.h"
#include "model/env.h"

/* Returns a status after logging. */
int derive_settings(struct config *c, struct env *e);

#endif
