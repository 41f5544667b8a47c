/* PGBOUNCER_PROCESSES=N|auto: N pgbouncers share one port (so_reuseport),
 * peered ([peers], peer_id) so that a cancel request reaches the process
 * that runs its query, under a PID 1 that does what tini does and no more:
 * forward signals, reap, and end with the first pgbouncer that fails.
 *
 * Process I listens on its own Unix socket in LOCAL_PROCESS_DIR (pg/local.h)
 * and reads a pgbouncer.ini there that includes the rendered one and sets
 * what differs.  With N 1 nothing of this happens: pgbouncer is PID 1. */
#ifndef PGBE_PROCS_H
#define PGBE_PROCS_H

#include "model/config.h"

/* pgbouncer before this cannot drain several processes without cutting a
 * transaction (SHUTDOWN WAIT_FOR_SERVERS came in 1.23; peering in 1.19). */
#define PROCS_MIN_VERSION 123

/* PGBOUNCER_PROCESSES into *N (1 when unset; auto: the CPUs this process
 * may use).  EX_OK, or EX_CONFIG after naming the variable. */
int procs_from_env(int *n);

/* The CPUs this process may run on: its affinity, capped by the cgroup's
 * CPU quota (cgroup v2 cpu.max, or v1 cfs_quota_us), rounded up. */
int procs_auto(void);

/* Can N pgbouncers run from INI_TEXT (the pgbouncer.ini to be written)
 * started as COMMAND, which must name INI?  VERSION 0: unknown.  EX_OK or
 * EX_CONFIG after saying why. */
int procs_check(int n, const char *ini_text, int version, char *const *command, const char *ini);

/* Process I's pgbouncer.ini into OUT: MAIN_TEXT (the rendered one) with
 * its own peer_id, unix_socket_dir, so_reuseport and pidfile at the end of
 * the [pgbouncer] section, and a [peers] section.  EX_CONFIG when
 * MAIN_TEXT has no [pgbouncer] section. */
struct local;
struct buf;
int procs_ini(const char *main_text, int n, int i, const struct local *l, struct buf *out);

/* Each process's directory and pgbouncer.ini from MAIN_TEXT, and the file
 * that says N (as the run user); reload calls it again before RELOAD. */
int procs_write(int n, const struct local *l, const char *main_text);

/* With the files written and privileges dropped: each process's directory
 * and pgbouncer.ini, then this program again as `supervise` (a fresh image:
 * nothing read before, no secret, is in its memory), with ENV.  Returns only
 * on failure. */
int procs_start(int n, const struct config *c, const char *config_dir, char *const *command,
		char *const *env, long grace_s);

/* The hidden `supervise N K GRACE ARG...`: N commands of K words each. */
int procs_supervise(char *const *args);

/* One pgbouncer (N 1): forget a file of an earlier start with several, so
 * that health and the rest look at the one socket again. */
void procs_forget(const struct config *c, const char *config_dir);

#endif
