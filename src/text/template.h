/* A user's own pgbouncer.ini.template or userlist.txt.template: ${VAR} and
 * ${VAR:-default} replaced from the environment (as envsubst did for the
 * seed, but with the file's quoting applied and line breaks refused). */
#ifndef PGBE_TEMPLATE_H
#define PGBE_TEMPLATE_H

#include <stdbool.h>

#include "base/buf.h"
#include "model/env.h"

enum template_kind { TEMPLATE_INI, TEMPLATE_USERLIST };

/* Returns a status after logging.  REDACT puts REDACTED in place of every
 * secret variable's value (vars_is_secret; for `check`). */
int template_expand(const char *name, const char *text, struct env *e, enum template_kind kind,
		    bool redact, struct buf *out);

#endif
