#include "cmd/drain.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "base/runas.h"
#include "files/fileio.h"
#include "files/safefile.h"
#include "pg/console.h"
#include "pg/pgio.h"

#define CONSOLE_MS 3000  /* to reach the console and hear its version */
#define FORCE_MS 3000    /* after the deadline: for the immediate SHUTDOWN */
#define JOIN_STEP_MS 100 /* how often a drain that joined another tries the lock */
/* --timeout 0: no limit of our own; the platform's grace period is one */
#define NO_DEADLINE (LLONG_MAX / 4)
#define LEAD (-1) /* join's answer: nobody drains for us, drain ourselves */

/* What the drain holding the lock writes there for the drains that joined
 * it (issue 16): they read it once the lock is theirs. */
#define REC_DRAINING "draining" /* still there: that drain died mid-way */
#define REC_DRAINED "drained"   /* pgbouncer exited, no transaction cut */
#define REC_FORCED "forced"     /* stopped at --timeout, cutting some */
#define REC_EXITING "exiting"   /* past SHUTDOWN; pgbouncer finishes alone */
#define REC_ABANDONED "abandoned"

struct drain {
	const struct options *o;
	struct local l;    /* the first (or only) pgbouncer */
	struct local base; /* where they all listen (pg/local.h) */
	int n;             /* how many: PGBOUNCER_PROCESSES */
	int version;
	int lock;    /* the lock file; -1: drains cannot coordinate */
	int sig;     /* the stop signal acted on; 0: none yet */
	bool marked; /* readiness turned red by this drain */
	long long start, deadline;
};

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

static void mark(struct drain *d)
{
	char path[4096];
	static const char note[] = "pgbouncer-entrypoint drain: health --deep reports not ready\n";
	struct file_out f = {path, note, sizeof(note) - 1};

	marker_path(d->o->config_dir, path, sizeof(path));
	d->marked = file_write_set(&f, 1, NULL) == EX_OK;
	if (!d->marked)
		log_warn("readiness cannot turn red (see above): draining anyway");
}

/* The lock file in the config directory, or -1 after a warning.  Opened
 * as the run user (drain has dropped to it), by descriptor, never through
 * a link and never a FIFO or device, as safefile.h opens everything in a
 * directory that user can write.  A file of its own, not the directory:
 * the writers (run, reload, render) flock the directory itself. */
static int lock_open(const char *dir)
{
	struct stat st;
	int dfd, fd = -1, err;

	if (!(err = safefile_open_dir(dir, false, NULL, &dfd))) {
		fd = openat(dfd, DRAIN_LOCK,
			    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
			    0600);
		err = fd < 0 ? errno : 0;
		close(dfd);
	}
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
		err = SF_ENOTREG;
	}
	if (fd < 0)
		log_warn("drain: could not open '%s/%s': %s; a second drain at the same time "
			 "cannot join this one",
			 dir, DRAIN_LOCK, safefile_strerror(err));
	return fd;
}

/* "PID WORD" into the lock file.  A failure is not reported: a joiner that
 * reads nothing drains itself, which is safe. */
static bool record(const struct drain *d, const char *word)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), word);

	return d->lock >= 0 && ftruncate(d->lock, 0) == 0 &&
	       pwrite(d->lock, line, (size_t)n, 0) == (ssize_t)n;
}

/* What the lock file says, without its line break ("" when empty). */
static void recorded(int fd, char *out, size_t cap)
{
	ssize_t n = pread(fd, out, cap - 1, 0);

	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* The stop signal that arrived is now being acted on: the waits that
 * follow (RESUME, pgbouncer's exit) must not end because of it. */
static void take_signal(struct drain *d)
{
	if (!d->sig)
		d->sig = deadline_stop_signal;
	deadline_stop_signal = 0;
}

/* The outcome of the drain that held the lock, as this drain's own. */
static int joined_outcome(const char *was)
{
	const char *word = strchr(was, ' ') ? strchr(was, ' ') + 1 : was;

	if (!strcmp(word, REC_DRAINED)) {
		log_info("drain: the drain this one joined has stopped pgbouncer; no transaction "
			 "was cut");
		return EX_OK;
	}
	if (!strcmp(word, REC_FORCED)) {
		log_error("drain: the drain this one joined stopped pgbouncer at its --timeout, "
			  "which cut the transactions still running");
		return EX_UNAVAILABLE;
	}
	if (!strcmp(word, REC_EXITING)) {
		log_error("drain: the drain this one joined was stopped by a signal after "
			  "SHUTDOWN WAIT_FOR_SERVERS: pgbouncer exits by itself once the running "
			  "transactions end");
		return EX_UNAVAILABLE;
	}
	/* abandoned (a signal, a failure), or it died: the drain asked of
	 * this one is still to be done */
	log_info("drain: the drain this one joined ended without stopping pgbouncer (\"%s\"); "
		 "draining now",
		 was);
	return LEAD;
}

/* Another drain holds the lock: wait for its outcome instead of racing it
 * (its PAUSE refuses a second one, and a second SHUTDOWN WAIT_FOR_SERVERS
 * finds the console closed).  flock cannot be given a
 * deadline nor a signal mask, and a signal landing just before a blocking
 * flock would be lost: it is tried in slices, like deadline_poll.  No
 * limit of our own: the drain we wait for has its --timeout. */
static int join(struct drain *d)
{
	char was[64];

	recorded(d->lock, was, sizeof(was));
	log_info("drain: another drain is under way (\"%s\" in '%s/%s'); joining it: waiting for "
		 "its outcome",
		 was, d->o->config_dir, DRAIN_LOCK);
	while (flock(d->lock, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_error("drain: could not lock '%s/%s': %s", d->o->config_dir, DRAIN_LOCK,
				  strerror(errno));
			return EX_UNAVAILABLE;
		}
		if (deadline_sleep(deadline_now() + JOIN_STEP_MS) == DEADLINE_STOPPED) {
			take_signal(d);
			log_info("drain: stopped by signal %d while waiting for the drain this one "
				 "joined, which goes on",
				 d->sig);
			return EX_SIGNAL_BASE + d->sig;
		}
	}
	recorded(d->lock, was, sizeof(was));
	return joined_outcome(was);
}

/* LEAD with the lock held (or no lock to be had), else the status of the
 * drain this one joined. */
static int lock_or_join(struct drain *d)
{
	if ((d->lock = lock_open(d->o->config_dir)) < 0 || flock(d->lock, LOCK_EX | LOCK_NB) == 0)
		return LEAD;
	if (errno == EWOULDBLOCK)
		return join(d);
	log_warn("drain: could not lock '%s/%s': %s; a second drain at the same time cannot "
		 "join this one",
		 d->o->config_dir, DRAIN_LOCK, strerror(errno));
	close(d->lock);
	d->lock = -1;
	return LEAD;
}

/* RESUME on a console connection of its own (the one that sent PAUSE may
 * still wait for the answer, and pgbouncer resumes nothing when it closes).
 * "not paused" is fine: a PAUSE cut short before pgbouncer read it. */
static bool resume(const struct drain *d)
{
	struct pg_conn *conn = console_open(&d->l, deadline_now() + CONSOLE_MS, "drain");
	PGresult *r = NULL;
	bool ok = false;

	if (conn &&
	    pgio_query((PGconn *)conn, "RESUME", deadline_now() + CONSOLE_MS, &r) == PGIO_OK)
		ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
		     strstr(PQresultErrorMessage(r), "not paused") != NULL;
	if (conn && !ok)
		log_error("drain: RESUME failed: %s",
			  r ? PQresultErrorMessage(r) : "no answer from pgbouncer's admin console");
	PQclear(r);
	console_close(conn);
	return ok;
}

/* What give_up did, in one line.  WHEN: where the signal arrived. */
static void report_undo(const struct drain *d, bool paused, bool resumed, const char *when)
{
	const char *done =
		!paused   ? "pgbouncer was not touched"
		: resumed ? "pgbouncer is RESUMEd and serves again, no transaction was cut"
			  : "if pgbouncer still runs it may be paused: RESUME it on the admin "
			    "console, or restart it";
	const char *ready = resumed && d->marked ? "; readiness is green again" : "";

	if (d->sig && resumed)
		log_info("drain: stopped by signal %d %s: %s%s", d->sig, when, done, ready);
	else if (d->sig)
		log_error("drain: stopped by signal %d %s: %s%s", d->sig, when, done, ready);
	else
		log_error("drain: gave up (see above): %s%s", done, ready);
}

/* Nothing was stopped, by a signal (WHEN says where it arrived) or a
 * failure logged before: take back our PAUSE (when PAUSED), then readiness.
 * Stop signals wait meanwhile: a RESUME cut short would leave new clients
 * hanging, and `health` green, for good. */
static int give_up(struct drain *d, struct pg_conn *conn, bool paused, int rc, const char *when)
{
	sigset_t stop, old;
	bool resumed;

	console_close(conn);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, &old);
	take_signal(d);
	resumed = !paused || resume(d);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (resumed && d->marked)
		drain_clear(d->o->config_dir);
	record(d, REC_ABANDONED);
	report_undo(d, paused, resumed, when);
	return d->sig ? EX_SIGNAL_BASE + d->sig : rc;
}

/* The deadline passed with transactions still running: the platform kills
 * pgbouncer next anyway; stopping it now keeps the stop predictable. */
static int force_stop(struct drain *d, struct pg_conn *conn)
{
	struct pg_conn *other = NULL;

	log_error("drain: transactions still running after --timeout %ld s: stopping pgbouncer "
		  "now, which cuts them (raise --timeout / PGBOUNCER_DRAIN_TIMEOUT and the grace "
		  "period)",
		  d->o->drain_timeout);
	/* a PAUSE still waiting occupies CONN; 1.23's socket is already closed */
	if (d->version < 123)
		other = console_open(&d->l, deadline_now() + FORCE_MS, "drain");
	if (console_send(other ? other : conn, "SHUTDOWN"))
		console_wait_closed(other ? other : conn, deadline_now() + FORCE_MS);
	console_close(other);
	console_close(conn);
	record(d, REC_FORCED);
	return EX_UNAVAILABLE;
}

/* Past the point of no return (SENT, a SHUTDOWN, cannot be taken back):
 * pgbouncer exits once the running transactions end.  Cutting them is what
 * a drain exists to avoid, so a stop signal here only means "force nothing
 * at the deadline"; a second one ends the waiting, and pgbouncer still
 * exits by itself. */
static int until_exit(struct drain *d, struct pg_conn *conn, const char *sent)
{
	bool closed;

	while (!(closed = console_wait_closed(conn, d->deadline)) && deadline_stop_signal &&
	       !d->sig) {
		take_signal(d);
		log_info("drain: received signal %d after %s, which cannot be taken back: waiting "
			 "for the running transactions to end as before, cutting none (another "
			 "signal stops the waiting)",
			 d->sig, sent);
	}
	if (closed) {
		console_close(conn);
		record(d, REC_DRAINED);
		log_info("drain: pgbouncer has exited after %.1f s; no transaction was cut",
			 (deadline_now() - d->start) / 1000.0);
		return EX_OK;
	}
	if (!d->sig)
		return force_stop(d, conn);
	console_close(conn);
	record(d, REC_EXITING);
	if (deadline_stop_signal)
		log_info("drain: a second signal ended the waiting; pgbouncer has not exited yet: "
			 "it does by itself once the running transactions end, cutting none");
	else
		log_error("drain: transactions still running after --timeout %ld s; after signal "
			  "%d nothing is forced: pgbouncer exits by itself once they end, cutting "
			  "none",
			  d->o->drain_timeout, d->sig);
	return EX_SIGNAL_BASE + d->sig;
}

/* pgbouncer 1.23 and later: SHUTDOWN WAIT_FOR_SERVERS closes the listeners,
 * waits until each server connection is released and exits. */
static int shutdown_wait(struct drain *d, struct pg_conn *conn)
{
	if (deadline_stop_signal)
		return give_up(d, conn, false, EX_OK, "before the drain began");
	if (!console_send(conn, "SHUTDOWN WAIT_FOR_SERVERS"))
		return give_up(d, conn, false, EX_UNAVAILABLE, "before the drain began");
	return until_exit(d, conn, "SHUTDOWN WAIT_FOR_SERVERS");
}

/* Several pgbouncers (PGBOUNCER_PROCESSES): SHUTDOWN WAIT_FOR_SERVERS to
 * each, all at once so none keeps taking the clients the others turn away,
 * then wait for each to exit.  FIRST: the first one's console. */
static int shutdown_all(struct drain *d, struct pg_conn *first)
{
	struct pg_conn *conn[LOCAL_MAX_PROCESSES] = {first};
	int rc = EX_OK, sent = 0;

	if (deadline_stop_signal)
		return give_up(d, first, false, EX_OK, "before the drain began");
	for (int i = 1; i < d->n; i++) {
		struct local one;
		local_process(&d->base, d->n, i + 1, &one);
		conn[i] = console_open(&one, deadline_min(d->deadline, deadline_now() + CONSOLE_MS),
				       "drain");
		if (!conn[i]) {
			while (i-- > 1)
				console_close(conn[i]);
			log_error("drain: pgbouncer %d of %d does not answer on its console", i + 2,
				  d->n);
			return give_up(d, first, false, EX_UNAVAILABLE, "before the drain began");
		}
	}
	for (int i = 0; i < d->n; i++)
		if (console_send(conn[i], "SHUTDOWN WAIT_FOR_SERVERS"))
			sent++;
		else
			log_error("drain: pgbouncer %d of %d did not take SHUTDOWN", i + 1, d->n);
	log_info("drain: SHUTDOWN WAIT_FOR_SERVERS sent to %d of %d pgbouncers", sent, d->n);
	for (int i = 0; i < d->n; i++) {
		int r = until_exit(d, conn[i], "SHUTDOWN WAIT_FOR_SERVERS");
		rc = rc ? rc : r;
	}
	return sent == d->n ? rc : EX_UNAVAILABLE;
}

/* Why PAUSE failed: R, its answer, or the connection CONN. */
static void pause_failed(PGconn *conn, const PGresult *r)
{
	const char *why = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	why = why ? why : r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
	/* "already suspended/paused": an operator's PAUSE, or a drain killed
	 * by SIGKILL (it could RESUME nothing) */
	log_error("drain: PAUSE failed: %s%s", why,
		  strstr(why, "already") ? "; pgbouncer was paused before this drain: RESUME it "
					   "on the admin console, then drain again"
					 : "");
}

/* Older ones have no such command: PAUSE waits until every server
 * connection is released (new transactions queue meanwhile), then SHUTDOWN
 * closes the clients, none of them inside a transaction.  Until SHUTDOWN
 * is sent, RESUME takes it all back. */
static int pause_then_shutdown(struct drain *d, struct pg_conn *conn)
{
	static const char during[] = "while PAUSE waited for the running transactions";
	PGresult *r;
	enum pgio_result io = pgio_query((PGconn *)conn, "PAUSE", d->deadline, &r);
	bool refused = io == PGIO_OK && PQresultStatus(r) != PGRES_COMMAND_OK;

	if (refused || io == PGIO_FAILED)
		pause_failed((PGconn *)conn, refused ? r : NULL);
	PQclear(r);
	if (io == PGIO_TIMEOUT)
		return force_stop(d, conn);
	/* "already suspended/paused": someone else's PAUSE, not ours to undo */
	if (refused)
		return give_up(d, conn, false, EX_UNAVAILABLE, during);
	if (io != PGIO_OK || deadline_stop_signal || !console_send(conn, "SHUTDOWN"))
		return give_up(d, conn, true, EX_UNAVAILABLE, during);
	/* immediate SHUTDOWN sends no answer: pgbouncer just exits */
	return until_exit(d, conn, "SHUTDOWN");
}

/* pgbouncer's version, through its admin console. */
static int probe(struct drain *d)
{
	struct pg_conn *conn = console_open(&d->l, deadline_now() + CONSOLE_MS, "drain");

	if (conn)
		d->version = console_version(conn, deadline_now() + CONSOLE_MS, "drain");
	console_close(conn);
	return d->version ? EX_OK : EX_UNAVAILABLE;
}

/* The drain itself, the lock held: readiness red, --delay, then let the
 * running transactions finish before pgbouncer exits. */
static int lead(struct drain *d)
{
	const struct options *o = d->o;
	struct pg_conn *conn;
	char limit[64];
	int rc;

	record(d, REC_DRAINING);
	if ((rc = probe(d)) != EX_OK)
		return give_up(d, NULL, false, rc, "before the drain began");
	mark(d);
	log_info("drain: readiness is red; new clients are still served for %ld s", o->drain_delay);
	if (deadline_sleep(deadline_now() + o->drain_delay * 1000LL) == DEADLINE_STOPPED)
		return give_up(d, NULL, false, EX_OK, "during --delay");
	d->deadline = o->drain_timeout ? deadline_now() + o->drain_timeout * 1000LL : NO_DEADLINE;
	if (!(conn = console_open(&d->l, deadline_min(d->deadline, deadline_now() + CONSOLE_MS),
				  "drain")))
		return give_up(d, NULL, false, EX_UNAVAILABLE, "before the drain began");
	if (o->drain_timeout)
		snprintf(limit, sizeof(limit), "for at most %ld s", o->drain_timeout);
	else
		snprintf(limit, sizeof(limit), "with no time limit (--timeout 0)");
	log_info("drain: pgbouncer %d.%d lets running transactions finish (%s), %s",
		 d->version / 100, d->version % 100,
		 d->version >= 123 ? "SHUTDOWN WAIT_FOR_SERVERS" : "PAUSE, then SHUTDOWN", limit);
	if (d->n > 1 && d->version >= 123)
		return shutdown_all(d, conn);
	if (d->n > 1) /* run refuses that (PROCS_MIN_VERSION); a hand-made setup */
		return give_up(d, conn, false, EX_UNAVAILABLE,
			       "before the drain began (several pgbouncers older than 1.23 "
			       "cannot be drained without cutting transactions)");
	return d->version >= 123 ? shutdown_wait(d, conn) : pause_then_shutdown(d, conn);
}

int drain_run(const struct options *o, const struct runas *ra)
{
	struct drain d;
	struct config none;
	int rc;

	/* the console lets in only pgbouncer's own uid */
	if ((rc = runas_drop(ra)))
		return rc;
	memset(&d, 0, sizeof(d));
	d.o = o;
	d.start = deadline_now();
	/* from here on a stop signal is an answer to give, never a sudden end:
	 * whatever this drain did to pgbouncer is taken back or finished */
	deadline_install_signals();
	memset(&none, 0, sizeof(none)); /* no model: the rendered ini says where */
	local_find(&none, o->config_dir, &d.base);
	d.n = local_processes(&d.base);
	local_process(&d.base, d.n, 1, &d.l);
	if ((rc = lock_or_join(&d)) == LEAD)
		rc = lead(&d);
	if (d.lock >= 0)
		close(d.lock); /* after the record: a joiner reads it next */
	deadline_restore_signals();
	return rc;
}
