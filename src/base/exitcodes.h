/* Every exit code of the program, in one place (sysexits.h values; the
 * interface is documented in --help and README).  Helpers return one of
 * these as their status; only main turns a status into the process's exit
 * code (and `health` turns every failure into EX_UNHEALTHY). */
#ifndef PGBE_EXITCODES_H
#define PGBE_EXITCODES_H

#define EX_OK 0
#define EX_UNHEALTHY 1     /* health: pgbouncer does not serve (Docker's "unhealthy") */
#define EX_USAGE 64        /* bad command line */
#define EX_UNAVAILABLE 69  /* upstream not reachable before the deadline */
#define EX_OSERR 71        /* out of memory, privileges could not be dropped */
#define EX_CANTCREAT 73    /* cannot write the config */
#define EX_NOPERM 77       /* upstream refused the login */
#define EX_CONFIG 78       /* bad configuration in the environment or a supplied file */
#define EX_NOEXEC 126      /* COMMAND not executable */
#define EX_NOTFOUND 127    /* COMMAND not found */
#define EX_SIGNAL_BASE 128 /* + N: ended by signal N during the wait */

#endif
