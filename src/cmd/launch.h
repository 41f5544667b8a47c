/* Handing off to pgbouncer: scrub secrets from the environment, raise the
 * open-files limit, drop privileges, exec.  pgbouncer then is PID 1 and
 * receives signals directly. */
#ifndef PGBE_LAUNCH_H
#define PGBE_LAUNCH_H

#include <stdbool.h>

#include "base/runas.h"
#include "model/config.h"

/* ENVP without the secret variables (vars_is_secret; a new NULL-terminated
 * array). */
char **launch_scrub_env(char *const *envp);

/* File descriptors pgbouncer may need: clients, server connections, spare. */
unsigned long launch_fd_need(const struct config *c);

/* Raise RLIMIT_NOFILE's soft limit towards NEED; warn when the hard limit is
 * lower.  Never fails. */
void launch_raise_nofile(unsigned long need);

/* The version of the pgbouncer ARGV would run into *VERSION, as 124 for
 * 1.24.x, and *RELEASE, as 12401 for 1.24.1: from `pgbouncer --version`, run as RA with ENVP scrubbed, killed
 * after TIMEOUT_MS.  0 when ARGV is not pgbouncer or it cannot tell.
 * Returns EX_OK, EX_NOTFOUND (nothing logged) when ARGV names pgbouncer and
 * PATH has none, or EX_SIGNAL_BASE + N when signal N stopped it. */
int launch_pgbouncer_version(char *const *argv, char *const *envp, const struct runas *ra,
			     long timeout_ms, int *version, int *release);

/* exec ARGV (PATH search like execvp, with ENVP).  Returns only on failure:
 * 127 not found, 126 not executable. */
int launch_exec(char *const *argv, char *const *envp);

#endif
