/* Rendering: a validated model in, file contents out.  Pure and total: every
 * refusal happened in model_build, so nothing here can fail but memory. */
#ifndef PGBE_RENDER_H
#define PGBE_RENDER_H

#include <stdbool.h>

#include "base/buf.h"
#include "model/config.h"

/* First line of every file this program writes; a file without it is the
 * user's own and is never overwritten. */
#define REDACTED "<redacted>"

void render_ini(const struct config *c, struct buf *out, bool redact);
void render_userlist(const struct config *c, struct buf *out, bool redact);
/* Same, with SECRET[i] (when not NULL) in place of upstream i's password:
 * the server's SCRAM secret or the md5 hash. */
void render_userlist_forms(const struct config *c, const char *const *secret, struct buf *out,
			   bool redact);

#endif
