#include "pg/wait.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "pg/pgio.h"
#include "pg/probe.h"
#include "pg/resolve.h"
#include "pg/target.h"
#include "pg/verdict.h"

/* A closed port is probed this often (cheap: a TCP connect), so the wait
 * notices a server that comes up within a probe's time. */
#define PROBE_MS 20
/* After a failed login (the port accepted) the next one waits this long,
 * doubling up to MAX_BACKOFF_MS: a server that is starting up or a proxy that
 * closes at once is not hammered. */
#define FIRST_BACKOFF_MS 25
#define MAX_BACKOFF_MS 1000
/* One login (name lookup included) gets at most this long, then it is
 * retried: a server that hangs once is not waited for until the deadline. */
#define ATTEMPT_MS 10000
/* The same error is logged at most this often; the next line counts them. */
#define REPEAT_LOG_MS 1000
#define CHECK_LOOKUP_MS 2000

PGconn *wait_connect(const char *const *keys, const char *const *vals, long long deadline)
{
	PGconn *conn = PQconnectStartParams(keys, vals, 0);
	enum pgio_result r = pgio_login(conn, deadline);

	if (conn && r != PGIO_OK && r != PGIO_FAILED) {
		pgio_finish(conn); /* timed out or stopped mid-way */
		return NULL;
	}
	return conn;
}

/* The seed's setup: an md5 hash in userlist.txt cannot answer a server that
 * asks for SCRAM (pgbouncer: "wrong password type" at the first client).
 * The server's password_encryption tells what it stores for new passwords. */
static enum attempt_result md5_hash_would_fail(PGconn *conn, const struct target *t,
					       long long deadline, struct buf *why)
{
	PGresult *r;
	enum pgio_result io;
	bool scram;

	if (!t->userlist_md5)
		return ATTEMPT_OK;
	io = pgio_query(conn, "SELECT current_setting('password_encryption')", deadline, &r);
	if (io == PGIO_STOPPED || io == PGIO_TIMEOUT) {
		buf_printf(why, "the server accepted the login but did not answer a query in time");
		return io == PGIO_STOPPED ? ATTEMPT_STOPPED : ATTEMPT_SILENT;
	}
	scram = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		strcmp(PQgetvalue(r, 0, 0), "scram-sha-256") == 0;
	PQclear(r);
	if (scram)
		buf_printf(why,
			   "userlist.txt holds an md5 hash for \"%s\", but the server uses "
			   "SCRAM (password_encryption = scram-sha-256), and pgbouncer cannot "
			   "log in to it with an md5 hash (\"wrong password type\")",
			   t->u->user);
	return scram ? ATTEMPT_WRONG_SECRET : ATTEMPT_OK;
}

/* The login worked: can pgbouncer's own login (from userlist.txt) work too? */
static enum attempt_result after_login(PGconn *conn, const struct target *t, long long deadline,
				       struct buf *why, const char **hint)
{
	enum attempt_result r = md5_hash_would_fail(conn, t, deadline, why);

	if (r == ATTEMPT_WRONG_SECRET)
		*hint = "put the plaintext password in userlist.txt, or delete the file and let "
			"pgbouncer-entrypoint write it";
	return r;
}

static enum attempt_result login_failed(PGconn *conn, enum pgio_result io, long long began,
					struct target *t, struct buf *why, const char **hint)
{
	const char *msg = conn ? PQerrorMessage(conn) : "out of memory";

	if (io == PGIO_STOPPED)
		return ATTEMPT_STOPPED;
	/* whatever libpq said so far belongs to an earlier try, not this one */
	if (io == PGIO_TIMEOUT) {
		buf_printf(why, "the server did not answer within %.1f s (waiting for %s)",
			   (deadline_now() - began) / 1000.0, pgio_stage(conn));
		return ATTEMPT_SILENT;
	}
	verdict_reason(*msg ? msg : "the login failed without a message", why);
	t->closed = strcasestr(msg, "connection refused") || strcasestr(msg, "no such file");
	return verdict_of(msg, hint);
}

static enum attempt_result attempt(struct target *t, long long deadline, struct buf *why,
				   const char **hint)
{
	long long began = deadline_now();
	struct upauth_guard g;
	enum attempt_result r;
	enum pgio_result io;
	PGconn *conn;
	int rc;

	*hint = "";
	t->closed = false;
	if ((rc = target_resolve(t, deadline, why)) != EX_OK)
		return rc >= EX_SIGNAL_BASE ? ATTEMPT_STOPPED : ATTEMPT_RETRY;
	conn = PQconnectStartParams(t->keys, t->vals, 0);
	/* the SQLSTATE in the message: the verdict cannot depend on the
	 * server's lc_messages */
	if (conn)
		PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	upauth_guard_init(&g, t->auth);
	io = pgio_login_guarded(conn, deadline, &g);
	if (io == PGIO_REFUSED) {
		buf_puts(why, g.why);
		r = ATTEMPT_UNSAFE;
	} else if (io == PGIO_OK)
		r = after_login(conn, t, deadline, why, hint);
	else
		r = login_failed(conn, io, began, t, why, hint);
	pgio_finish(conn);
	return r;
}

/* ---- pausing between logins ------------------------------------------------ */

/* Sleep until UNTIL.  After a closed port, return as soon as it accepts
 * connections (a cheap probe every PROBE_MS); after a failed login, sleep
 * the whole back-off. */
static void pause_until(const struct target *t, long long until)
{
	while (t->closed && !deadline_stop_signal && deadline_now() < until) {
		long long step = deadline_min(deadline_now() + PROBE_MS, until);
		if (target_accepts(t, step))
			return;
		deadline_sleep(step);
	}
	deadline_sleep(until);
}

/* ---- waiting -------------------------------------------------------------- */

struct waiting {
	struct target t;
	struct buf why;     /* this login's failure */
	struct buf earlier; /* the last failure that was an answer, not silence */
	struct buf logged;  /* the failure last logged */
	long long start, deadline, logged_at;
	int repeats; /* failures equal to LOGGED since it was logged */
	int n;       /* logins so far */
};

static void waiting_free(struct waiting *w)
{
	target_free(&w->t);
	buf_free(&w->why);
	buf_free(&w->earlier);
	buf_free(&w->logged);
}

static void copy_buf(struct buf *to, const struct buf *from)
{
	to->len = 0;
	buf_add(to, from->data ? from->data : "", from->len);
}

/* A progress line, but the same error at most once per REPEAT_LOG_MS: the
 * next line says how often it came meanwhile. */
static void note_progress(struct waiting *w)
{
	const struct upstream *u = w->t.u;
	long long now = deadline_now();
	bool same = w->logged.len && !strcmp(buf_str(&w->logged), buf_str(&w->why));
	char count[96] = "";

	if (same && now - w->logged_at < REPEAT_LOG_MS) {
		w->repeats++;
		return;
	}
	if (same && w->repeats)
		snprintf(count, sizeof(count), " (same error %d times in the last %.1f s)",
			 w->repeats + 1, (now - w->logged_at) / 1000.0);
	log_info("waiting for %s@%s:%s/%s (attempt %d, %.1f s): %s%s", u->user, u->host, u->port,
		 u->dbname, w->n, (now - w->start) / 1000.0, buf_str(&w->why), count);
	copy_buf(&w->logged, &w->why);
	w->logged_at = now;
	w->repeats = 0;
}

static int give_up(struct waiting *w)
{
	const struct upstream *u = w->t.u;
	bool both = w->earlier.len && strcmp(buf_str(&w->earlier), buf_str(&w->why)) != 0;

	log_error("upstream %s:%s not reachable after %.0f s: %s%s%s (--wait-timeout / "
		  "PGBOUNCER_WAIT_TIMEOUT)",
		  u->host, u->port, (deadline_now() - w->start) / 1000.0, buf_str(&w->why),
		  both ? "; before that: " : "", both ? buf_str(&w->earlier) : "");
	return EX_UNAVAILABLE;
}

/* HINT with the variable the user actually set: "check DB_PASSWORD"
 * becomes "check DB_PASSWORD_FILE" when the password came from that file
 * (only the _FILE twin: a defaulted DB_NAME records DB_USER, and the hint
 * must still say to set DB_NAME). */
static void hint_with_vars(const struct upstream *u, const char *hint, struct buf *out)
{
	static const struct {
		const char *name;
		enum upstream_field f;
	} vars[] = {{"DB_PASSWORD", UF_PASSWORD}, {"DB_USER", UF_USER}, {"DB_NAME", UF_DBNAME}};

	while (*hint) {
		size_t i, n = 0;
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
			n = strlen(vars[i].name);
			/* the whole name: DB_PASSWORD, not DB_PASSWORD_FILE */
			if (!strncmp(hint, vars[i].name, n) && hint[n] != '_' &&
			    !strncmp(u->from[vars[i].f], vars[i].name, n) &&
			    !strcmp(u->from[vars[i].f] + n, "_FILE"))
				break;
		}
		if (i < sizeof(vars) / sizeof(vars[0])) {
			buf_puts(out, u->from[vars[i].f]);
			hint += n;
		} else {
			buf_putc(out, *hint++);
		}
	}
}

/* What login W->n's result R means: a status, or -1 to try again. */
static int settle(struct waiting *w, enum attempt_result r, const char *hint)
{
	const struct upstream *u = w->t.u;

	if (r == ATTEMPT_OK) {
		log_info("upstream %s@%s:%s/%s accepts logins (attempt %d, %.2f s)", u->user,
			 u->host, u->port, u->dbname, w->n, (deadline_now() - w->start) / 1000.0);
		return EX_OK;
	}
	if (r == ATTEMPT_STOPPED || deadline_stop_signal) {
		log_info("received signal %d while waiting for the upstream; stopping",
			 (int)deadline_stop_signal);
		return EX_SIGNAL_BASE + deadline_stop_signal;
	}
	if (r == ATTEMPT_WRONG_SECRET) {
		log_error("%s; %s", buf_str(&w->why), hint);
		return EX_CONFIG;
	}
	if (r == ATTEMPT_UNSAFE) {
		log_error("upstream %s:%s: not logging in as \"%s\": %s", u->host, u->port, u->user,
			  buf_str(&w->why));
		return EX_NOPERM;
	}
	if (r == ATTEMPT_REFUSED) {
		struct buf h;
		buf_init(&h);
		hint_with_vars(u, hint, &h);
		log_error("upstream %s:%s refused user \"%s\" on database \"%s\": %s; %s", u->host,
			  u->port, u->user, u->dbname, buf_str(&w->why),
			  buf_str(&h) ? buf_str(&h) : "");
		buf_free(&h);
		return EX_NOPERM;
	}
	if (r != ATTEMPT_SILENT)
		copy_buf(&w->earlier, &w->why);
	if (deadline_now() >= w->deadline)
		return give_up(w);
	note_progress(w);
	return -1;
}

static int wait_one(const struct config *c, size_t i, const bool *userlist_md5, long long start,
		    long long deadline)
{
	struct waiting w = {.start = start, .deadline = deadline};
	/* two clocks: logins refused by a closed port (the probe wakes the
	 * wait when it opens, so only the log cadence grows), and failed
	 * logins on an open port, which start over when the port was closed:
	 * a server that just opened its port is not made to wait a second */
	long long closed_pause = FIRST_BACKOFF_MS, backoff = FIRST_BACKOFF_MS;
	int rc = -1;

	target_init(&w.t, c, &c->up[i]);
	w.t.userlist_md5 = userlist_md5 && userlist_md5[i];
	while (rc < 0) {
		const char *hint;
		enum attempt_result r;
		w.why.len = 0;
		w.n++;
		r = deadline_stop_signal
			    ? ATTEMPT_STOPPED
			    : attempt(&w.t, deadline_min(deadline_now() + ATTEMPT_MS, deadline),
				      &w.why, &hint);
		if ((rc = settle(&w, r, hint)) >= 0)
			break;
		long long *grow = w.t.closed ? &closed_pause : &backoff;
		if (w.t.closed)
			backoff = FIRST_BACKOFF_MS;
		pause_until(&w.t, deadline_min(deadline_now() + *grow, deadline));
		*grow = deadline_min(*grow * 2, MAX_BACKOFF_MS);
		/* no login that would have no time at all: the last one's error stands */
		if (deadline_now() >= deadline && !deadline_stop_signal)
			rc = give_up(&w);
	}
	waiting_free(&w);
	return rc;
}

int wait_upstreams(const struct config *c, const bool *userlist_md5, long long start,
		   long long deadline)
{
	int rc = 0;

	for (size_t i = 0; i < c->nup && rc == 0; i++) {
		if (!c->up[i].host) {
			log_info("%s names no host (pgbouncer.ini is your own): not waiting for it",
				 c->up[i].origin);
			continue;
		}
		rc = wait_one(c, i, userlist_md5, start, deadline);
	}
	return rc;
}

/* ---- the pool pointed at itself ------------------------------------------- */

static bool wildcard(const char *addr)
{
	return !addr || !*addr || !strcmp(addr, "*") || !strcmp(addr, "0.0.0.0") ||
	       !strcmp(addr, "::");
}

/* Does HOST resolve to an address of this machine?  1 if so, 0 if not, or a
 * stop signal's status.  The lookup is bounded by the wait's deadline and
 * CHECK_LOOKUP_MS: a name server that does not answer is the wait's to
 * report. */
static int resolves_to_self(const char *host, long long deadline)
{
	struct addrs a;
	struct buf why;
	int own = 0, rc;

	buf_init(&why);
	rc = resolve_host(host, deadline, &a, &why);
	for (int i = 0; rc == EX_OK && i < a.n && !own; i++)
		own = probe_is_own_address(a.addr[i]);
	buf_free(&why);
	return rc >= EX_SIGNAL_BASE ? rc : own;
}

int wait_check_not_self(const struct config *c, long long deadline)
{
	const char *lp = config_get(c, "listen_port"), *la = config_get(c, "listen_addr");
	long long now = deadline_now();
	/* --wait-timeout 0 (no wait) still allows the lookup its own bound */
	long long until = deadline > now ? deadline_min(now + CHECK_LOOKUP_MS, deadline)
					 : now + CHECK_LOOKUP_MS;

	for (size_t i = 0; lp && i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		int own;
		if (!u->host || strcmp(u->port, lp) != 0 || target_is_socket_dir(u->host) ||
		    strchr(u->host, ','))
			continue;
		own = wildcard(la) ? resolves_to_self(u->host, until)
				   : strcasecmp(u->host, la) == 0;
		if (own >= EX_SIGNAL_BASE) {
			log_info(
				"received signal %d while checking the upstream's address; stopping",
				(int)deadline_stop_signal);
			return own;
		}
		if (own) {
			log_error(
				"%s (%s:%s) is this container's own address, where pgbouncer listens: "
				"the pool would connect to itself; set DB_HOST to the database "
				"server and give applications the pool's address instead",
				u->origin, u->host, u->port);
			return EX_CONFIG;
		}
	}
	return 0;
}
