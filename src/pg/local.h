/* The local pgbouncer: where it listens (from the pgbouncer.ini it was
 * started with), and its admin console over the Unix socket.  Shared by
 * `health` and `metrics`. */
#ifndef PGBE_LOCAL_H
#define PGBE_LOCAL_H

#include <stdbool.h>

#include "base/buf.h"
#include "model/config.h"

struct local {
	char port[16];
	char socket_dir[1024]; /* "" when pgbouncer has no Unix socket */
	char addr[256];        /* listen_addr, "" when TCP is off */
};

/* Where the local pgbouncer listens: from CONFIG_DIR/pgbouncer.ini, else
 * from the environment's model C. */
void local_find(const struct config *c, const char *config_dir, struct local *l);

/* PGBOUNCER_PROCESSES > 1 (cmd/procs.h): process I of N (1..N) has its own
 * socket directory LOCAL_PROCESS_DIR under the shared unix_socket_dir, and
 * a file beside them says N.  At most LOCAL_MAX_PROCESSES. */
#define LOCAL_MAX_PROCESSES 64
#define LOCAL_PROCESS_DIR "%s/pgbouncer-%s-%d"           /* socket_dir, port, i */
#define LOCAL_PROCESSES_FILE "%s/pgbouncer-%s.processes" /* socket_dir, port */

/* How many pgbouncers listen (1 unless the supervisor's file says more). */
int local_processes(const struct local *l);

/* Where process I (1..N) of the N of local_processes listens, into *ONE;
 * with N 1, L itself. */
void local_process(const struct local *l, int n, int i, struct local *one);

/* A TCP address that reaches it (listen_addr, a list as pgbouncer takes
 * it), or NULL when it listens on no TCP address. */
const char *local_tcp_host(const struct local *l);
/* An address to reach a listener on ADDR: loopback for the wildcards. */
const char *local_loopback(const char *addr);

/* A libpq login to DB as USER (PASSWORD may be NULL) that gives up at
 * DEADLINE (deadline_now() clock).  NULL with WHY filled on failure. */
struct pg_conn;
struct pg_result;
struct pg_conn *local_login(const char *host, const char *port, const char *db, const char *user,
			    const char *password, const char *app, long long deadline,
			    struct buf *why);

/* The admin console as user pgbouncer over the Unix socket: pgbouncer lets
 * its own uid in without a password. */
struct pg_conn *local_admin_login(const struct local *l, const char *app, long long deadline,
				  struct buf *why);

/* Run SQL (simple protocol) and wait for its rows until DEADLINE: a
 * PGRES_TUPLES_OK result to PQclear, or NULL with WHY filled. */
struct pg_result *local_query(struct pg_conn *conn, const char *sql, long long deadline,
			      struct buf *why);

#endif
