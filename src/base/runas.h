/* Who pgbouncer runs as.  Numeric ids work with no passwd file (scratch
 * images); names are looked up when a passwd file exists. */
#ifndef PGBE_RUNAS_H
#define PGBE_RUNAS_H

#include <stdbool.h>
#include <sys/types.h>

struct runas {
	bool set; /* chown what is written and drop to it (only when running as root) */
	uid_t uid;
	gid_t gid;
};

/* Default identity when started as root with no --user: uid/gid 70, the
 * postgres user of the Alpine images (edoburu) that volumes were made for. */
#define DEFAULT_RUN_UID 70
#define DEFAULT_RUN_GID 70

/* Parse "UID[:GID]" or "NAME[:GROUP]" into OUT; only when running as root
 * does OUT->set become true.  Returns a status after logging. */
int runas_resolve(const char *spec, struct runas *out);

/* setgroups, setgid, setuid to OUT (when set).  Returns a status (EX_OSERR
 * when the switch fails). */
int runas_drop(const struct runas *ra);

#endif
