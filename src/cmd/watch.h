/* `watch`: a sidecar that runs reload whenever an input changes. */
#ifndef PGBE_WATCH_H
#define PGBE_WATCH_H

#include "cmd/cli.h"

/* Until SIGTERM or SIGINT (then EX_OK).  Inputs: every <NAME>_FILE target,
 * the templates and the user's own files in the config directory. */
int watch_run(const struct options *o);

#endif
