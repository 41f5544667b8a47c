/* Who pgbouncer runs as.  Numeric ids work with no passwd file (scratch
 * images); names are looked up when a passwd file exists. */
#ifndef PGBE_PRIVS_H
#define PGBE_PRIVS_H

#include "fileio.h"

/* Default identity when started as root with no --user: uid/gid 70, the
 * postgres user of the Alpine images (edoburu) that volumes were made for. */
#define DEFAULT_RUN_UID 70
#define DEFAULT_RUN_GID 70

/* Parse "UID[:GID]" or "NAME[:GROUP]" into OUT; only when running as root
 * does OUT->set become true.  Returns 0 or 64 after logging. */
int runas_resolve(const char *spec, struct runas *out);

/* setgroups, setgid, setuid to OUT (when set).  Returns 0 or 71. */
int runas_drop(const struct runas *ra);

#endif
