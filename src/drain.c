#include "drain.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "exitcodes.h"
#include "fileio.h"
#include "log.h"
#include "wait.h"

#define CONSOLE_MS 3000 /* to reach the console and hear its version */
#define FORCE_MS 3000   /* after the deadline: for the immediate SHUTDOWN */

static void marker_path(const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", dir, DRAIN_MARKER);
}

bool drain_marked(const char *dir)
{
	char path[4096];

	marker_path(dir, path, sizeof(path));
	return access(path, F_OK) == 0;
}

void drain_clear(const char *dir)
{
	char path[4096];

	marker_path(dir, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("could not remove '%s' left by a drain: %s; health --deep reports not "
			 "ready until it is gone",
			 path, strerror(errno));
}

static void sleep_seconds(long s)
{
	long long until = now_ms() + s * 1000LL;

	while (!wait_stop_signal && now_ms() < until) {
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Let the running transactions finish and every client go between two of
 * them.  pgbouncer 1.23 has SHUTDOWN WAIT_FOR_SERVERS for exactly that: it
 * closes the listeners, waits until each server connection is released and
 * exits.  Older ones have no such command: PAUSE waits until every server
 * connection is released (new transactions queue meanwhile), then SHUTDOWN
 * closes the clients, none of them inside a transaction. */
static bool let_finish(struct pg_conn *conn, int version, long long deadline)
{
	if (version >= 123)
		return console_send(conn, "SHUTDOWN WAIT_FOR_SERVERS") &&
		       console_wait_closed(conn, deadline);
	if (!console_query(conn, "PAUSE", deadline, NULL, "drain"))
		return false;
	/* immediate SHUTDOWN sends no answer: pgbouncer just exits */
	return console_send(conn, "SHUTDOWN") && console_wait_closed(conn, deadline);
}

/* The deadline passed with transactions still running: the platform kills
 * pgbouncer next anyway; stopping it now keeps the stop predictable. */
static void force_stop(struct pg_conn *conn, int version, const struct local *l)
{
	struct pg_conn *other = NULL;

	/* a PAUSE still waiting occupies CONN; 1.23's socket is already closed */
	if (version < 123)
		other = console_open(l, now_ms() + FORCE_MS, "drain");
	if (console_send(other ? other : conn, "SHUTDOWN"))
		console_wait_closed(other ? other : conn, now_ms() + FORCE_MS);
	console_close(other);
}

static void mark(const char *dir)
{
	char path[4096];
	static const char note[] = "pgbouncer-entrypoint drain: health --deep reports not ready\n";
	struct file_out f = {path, note, sizeof(note) - 1};

	marker_path(dir, path, sizeof(path));
	if (write_files(&f, 1, NULL) != EX_OK)
		log_warn("readiness cannot turn red (see above): draining anyway");
}

int drain_run(const struct options *o, const struct runas *ra)
{
	struct config none;
	struct local l;
	struct pg_conn *conn;
	long long start = now_ms(), deadline;
	int version, rc;

	/* the console lets in only pgbouncer's own uid */
	if ((rc = runas_drop(ra)))
		return rc;
	memset(&none, 0, sizeof(none)); /* no model: the rendered ini says where */
	local_find(&none, o->config_dir, &l);
	if (!(conn = console_open(&l, now_ms() + CONSOLE_MS, "drain")))
		return EX_UNAVAILABLE;
	version = console_version(conn, now_ms() + CONSOLE_MS, "drain");
	console_close(conn);
	if (!version)
		return EX_UNAVAILABLE;
	mark(o->config_dir);
	log_info("drain: readiness is red; new clients are still served for %ld s", o->drain_delay);
	wait_install_signals();
	sleep_seconds(o->drain_delay);
	deadline = now_ms() + o->drain_timeout * 1000LL;
	if (!(conn = console_open(&l, deadline, "drain"))) {
		wait_restore_signals();
		return EX_UNAVAILABLE;
	}
	log_info("drain: pgbouncer %d.%d lets running transactions finish (%s), for at most %ld s",
		 version / 100, version % 100,
		 version >= 123 ? "SHUTDOWN WAIT_FOR_SERVERS" : "PAUSE, then SHUTDOWN",
		 o->drain_timeout);
	rc = let_finish(conn, version, deadline) ? EX_OK : EX_UNAVAILABLE;
	if (rc == EX_OK) {
		log_info("drain: pgbouncer has exited after %.1f s; no transaction was cut",
			 (now_ms() - start) / 1000.0);
	} else {
		log_error(
			"drain: transactions still running after --timeout %ld s: stopping "
			"pgbouncer now, which cuts them (raise --timeout / PGBOUNCER_DRAIN_TIMEOUT "
			"and the grace period)",
			o->drain_timeout);
		force_stop(conn, version, &l);
	}
	console_close(conn);
	wait_restore_signals();
	return rc;
}
