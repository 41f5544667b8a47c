#include "cmd/reload.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "base/runas.h"
#include "cmd/procs.h"
#include "files/fileio.h"
#include "model/settings.h"
#include "pg/console.h"
#include "pg/pgio.h"
#include "text/ini.h"

#define CONSOLE_MS 3000    /* to reach the console, hear its version, RELOAD */
#define PAUSE_MS 5000      /* for the running transactions, before a RELOAD that needs PAUSE */
#define LOGIN_START_MS 300 /* for the SCRAM exchange of a login through the paused pool */

/* pgbouncer 1.18 exits with "FATAL ... put_in_order: found existing elem"
 * at the first client after a RELOAD gave an existing database a forced
 * user= (AUTH_TYPE changing to any; tests/test_daytwo.py); 1.24 does not.
 * Below 1.24, where it is not known to be safe, such a change needs a
 * restart, so reload refuses it before writing anything. */
#define FORCED_USER_RELOAD_SAFE 124

static int check_forced_users(const struct config *c, int version, const char *old, const char *new)
{
	struct buf a, b;
	int rc = EX_OK;

	if (version >= FORCED_USER_RELOAD_SAFE)
		return EX_OK;
	buf_init(&a);
	buf_init(&b);
	for (size_t i = 0; i < c->nup && rc == EX_OK; i++) {
		const char *db = c->up[i].alias;
		if (!ini_db_user(old, db, &a) || !ini_db_user(new, db, &b))
			continue;
		if (strcmp(buf_str(&a), buf_str(&b)) != 0) {
			log_error(
				"reload: database \"%s\" would change its forced user (user= in "
				"[databases], \"%s\" before, \"%s\" now; AUTH_TYPE=any writes it), "
				"which pgbouncer %d.%d cannot take on a reload (1.18 exits with "
				"\"put_in_order: found existing elem\"): restart instead",
				db, buf_str(&a), buf_str(&b), version / 100, version % 100);
			rc = EX_CONFIG;
		}
	}
	buf_free(&a);
	buf_free(&b);
	return rc;
}

/* Name every setting that pgbouncer takes only at a restart and that the
 * new ini changes: a reload would silently keep the old value. */
static void warn_restart_only(const char *old, const char *new)
{
	struct buf a, b;

	buf_init(&a);
	buf_init(&b);
	for (size_t i = 0; i < n_settings; i++) {
		const struct setting *s = &settings[i];
		if (!(s->flags & SF_RESTART))
			continue;
		bool ha = ini_get(old, "pgbouncer", s->name, &a),
		     hb = ini_get(new, "pgbouncer", s->name, &b);
		if (ha == hb && (!ha || !strcmp(buf_str(&a), buf_str(&b))))
			continue;
		log_warn("reload: %s changes from \"%s\" to \"%s\", which pgbouncer applies only "
			 "at a restart: until then it keeps the old value; restart the container",
			 s->name, ha ? buf_str(&a) : "(unset)", hb ? buf_str(&b) : "(unset)");
	}
	buf_free(&a);
	buf_free(&b);
}

/* What the new ini changes against the one pgbouncer runs with. */
static int check_changes(const struct state *s)
{
	size_t len;
	char *old;
	int rc;

	if (!s->plan.ini.write || !s->plan.ini.content.data)
		return EX_OK;
	if (!(old = file_read_text(s->plan.ini.path, &len)))
		return EX_OK; /* nothing to compare with */
	rc = check_forced_users(&s->cfg, s->pgbouncer_version, old, s->plan.ini.content.data);
	if (rc == EX_OK)
		warn_restart_only(old, s->plan.ini.content.data);
	memset(old, 0, len);
	free(old);
	return rc;
}

/* The logins through the reloaded pgbouncer, one per user, with the new
 * password, over its Unix socket.  They prove the rotation end to end, and
 * they keep the pool serving when userlist.txt holds the server's SCRAM
 * secret: pgbouncer logs in to the server with the SCRAM keys of the last
 * client that authenticated (scram.c prefers them to the secret), and until
 * a client does so against the new secret it keeps the old keys, so every
 * new server connection fails and server_login_retry (15 s) then turns
 * clients away.  Started first, finished after a RESUME: pgbouncer caches
 * the keys at the end of the SCRAM exchange but holds the rest of a login
 * while paused. */
struct pool_logins {
	PGconn *conn[MAX_UPSTREAMS];
};

static void logins_start(struct pool_logins *p, const struct config *c, const struct local *l)
{
	long long soon = deadline_now() + LOGIN_START_MS;

	for (size_t i = 0; i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		const char *keys[] = {
			"host", "port", "dbname", "user", "password", "application_name", NULL};
		const char *vals[] = {l->socket_dir, l->port,     upstream_client_db(u),
				      u->user,       u->password, "pgbouncer-entrypoint-reload",
				      NULL};

		p->conn[i] = NULL;
		if (!config_user_first(c, i) || !u->alias || !u->user || !u->password)
			continue;
		p->conn[i] = PQconnectStartParams(keys, vals, 0);
		/* to "authentication ok": pgbouncer has the new keys */
		pgio_login_authenticated(p->conn[i], soon);
	}
}

static int logins_finish(struct pool_logins *p, const struct config *c)
{
	int rc = EX_OK;

	for (size_t i = 0; i < c->nup; i++) {
		PGconn *conn = p->conn[i];
		if (!config_user_first(c, i) || !c->up[i].password || !c->up[i].alias)
			continue;
		if (!conn || PQstatus(conn) == CONNECTION_BAD ||
		    pgio_login_authenticated(conn, deadline_now() + CONSOLE_MS) != PGIO_OK) {
			log_error(
				"reload: pgbouncer reloaded, but \"%s\" cannot log in through it to "
				"\"%s\" with the new password: %s",
				c->up[i].user, c->up[i].alias,
				conn && PQstatus(conn) == CONNECTION_BAD ? PQerrorMessage(conn)
									 : "timed out");
			rc = EX_NOPERM;
		}
		pgio_finish(conn);
	}
	return rc;
}

/* Does the new userlist change a SCRAM secret that pgbouncer has cached
 * keys for?  Then pgbouncer before 1.24 needs the PAUSE of switch_secret. */
static bool secret_changes(const struct state *s, const char *old)
{
	const char *new = s->plan.userlist.content.data;

	return s->pgbouncer_version < 124 && s->plan.userlist.write &&
	       new &&strstr(new, "SCRAM-SHA-256$") && (!old || strcmp(old, new) != 0);
}

/* RELOAD, then at once the login through the pool that caches the new
 * SCRAM keys.  pgbouncer before 1.24 also closes its server connections
 * when a userlist entry changes and opens new ones at the next query, with
 * the old keys (scram.c prefers cached keys to the secret), which the
 * server refuses after ALTER ROLE: server_login_retry then turns clients
 * away for 15 s.  So there, with PAUSE first, no server connection is
 * opened until RESUME, and by then the keys are the new ones.  PAUSE waits
 * for the running transactions; if they take too long, no pause. */
/* PAUSE for at most PAUSE_MS: 1 when this reload paused pgbouncer, 0 when
 * pgbouncer refused (already paused: by a drain, or an operator; theirs to
 * RESUME, never ours), -1 when the PAUSE is still waiting for transactions
 * (or its answer was lost). */
static int pause_pool(struct pg_conn *conn)
{
	PGresult *r;
	enum pgio_result io = pgio_query((PGconn *)conn, "PAUSE", deadline_now() + PAUSE_MS, &r);
	int st = io != PGIO_OK ? -1 : PQresultStatus(r) == PGRES_COMMAND_OK ? 1 : 0;

	if (st == 0) {
		const char *why = PQresultErrorMessage(r);
		log_warn("reload: pgbouncer refused PAUSE (%.*s): it is paused by someone else (a "
			 "drain?), who resumes it; reloading without a PAUSE of its own",
			 (int)strcspn(why, "\n"), why);
	}
	PQclear(r);
	return st;
}

static int switch_files(struct pg_conn **conn, const struct local *l, const struct state *s,
			bool pause)
{
	int p = pause ? pause_pool(*conn) : 0;
	bool paused = p == 1;
	struct pool_logins logins;
	bool reloaded, resumed;
	int rc;

	if (p < 0) {
		/* the PAUSE still waits on CONN: cancel it from a fresh one */
		console_close(*conn);
		if (!(*conn = console_open(l, deadline_now() + CONSOLE_MS, "reload")) ||
		    !console_query(*conn, "RESUME", deadline_now() + CONSOLE_MS, NULL, "reload"))
			return EX_UNAVAILABLE;
		log_warn("reload: transactions still running after %d s: reloading without "
			 "PAUSE; new server logins may fail until a client logs in again",
			 PAUSE_MS / 1000);
	}
	reloaded = console_query(*conn, "RELOAD", deadline_now() + CONSOLE_MS, NULL, "reload");
	if (reloaded)
		logins_start(&logins, &s->cfg, l);
	/* whatever happened, never leave pgbouncer paused */
	resumed = !paused ||
		  console_query(*conn, "RESUME", deadline_now() + CONSOLE_MS, NULL, "reload");
	if (!resumed)
		log_error("reload: pgbouncer stays paused: run RESUME on its admin console");
	if (!reloaded) {
		log_error("reload: the new files are in place, but pgbouncer did not confirm "
			  "RELOAD: it reads them at its next reload or start");
		return EX_UNAVAILABLE;
	}
	rc = logins_finish(&logins, &s->cfg);
	return resumed ? rc : EX_UNAVAILABLE;
}

/* Proven, compared, written, then RELOADed: every step that can fail comes
 * before the files change. */
/* Several pgbouncers (PGBOUNCER_PROCESSES): each reads a copy of the ini
 * with lines of its own (cmd/procs.h), made again from the new one. */
static int refresh_copies(const struct state *s, const struct local *l, int n)
{
	size_t len;
	char *text;
	int rc;

	if (n <= 1)
		return EX_OK;
	text = file_read_text(s->plan.ini.path, &len);
	rc = procs_write(n, l, text);
	free(text);
	return rc;
}

/* RELOAD each of the N pgbouncers (CONN: the first one's console). */
static int switch_all(struct pg_conn **conn, const struct local *l, int n, const struct state *s,
		      bool pause)
{
	int rc = EX_OK;

	for (int i = 1; i <= n; i++) {
		struct pg_conn *other = NULL, **c = i == 1 ? conn : &other;
		struct local one;
		int r;

		local_process(l, n, i, &one);
		if (i > 1 && !(other = console_open(&one, deadline_now() + CONSOLE_MS, "reload")))
			r = EX_UNAVAILABLE;
		else
			r = switch_files(c, &one, s, pause);
		if (r && n > 1)
			log_error("reload: that is pgbouncer %d of %d (PGBOUNCER_PROCESSES)", i, n);
		if (i > 1)
			console_close(other);
		rc = rc ? rc : r;
	}
	return rc;
}

static int reload_steps(const struct options *o, struct state *s, struct pg_conn **conn,
			const struct local *l, int n)
{
	size_t len = 0;
	char *old;
	bool pause;
	int rc;

	if ((rc = pipeline_validate(o, s)) || (rc = check_changes(s)) ||
	    (rc = pipeline_login(o, s))) {
		log_error("reload: nothing was changed; pgbouncer goes on with its current files");
		return rc;
	}
	old = file_read_text(s->plan.userlist.path, &len);
	pause = secret_changes(s, old);
	if (old) {
		memset(old, 0, len);
		free(old);
	}
	if ((rc = plan_write(&s->plan, o->config_dir, &s->runas)) ||
	    (rc = refresh_copies(s, l, n)) || (rc = switch_all(conn, l, n, s, pause)))
		return rc;
	log_info("reload: pgbouncer %d.%d reloaded '%s'%s%s%s%s", s->pgbouncer_version / 100,
		 s->pgbouncer_version % 100, s->plan.ini.path,
		 s->plan.userlist.source ? " and '" : "",
		 s->plan.userlist.source ? s->plan.userlist.path : "",
		 s->plan.userlist.source ? "'" : "", pause ? " (paused meanwhile)" : "");
	return EX_OK;
}

int reload_run(const struct options *o, struct state *s)
{
	struct local l, first;
	struct pg_conn *conn;
	int rc, n;

	/* the secrets are read (as root when started so); the console lets in
	 * only pgbouncer's own uid, and the files are the run user's.  From
	 * here on this process is the run user: nothing more to drop to. */
	if ((rc = runas_drop(&s->runas)))
		return rc;
	s->runas.set = false;
	local_find(&s->cfg, o->config_dir, &l);
	n = local_processes(&l);
	local_process(&l, n, 1, &first);
	if (!(conn = console_open(&first, deadline_now() + CONSOLE_MS, "reload")))
		return EX_UNAVAILABLE;
	s->pgbouncer_version = console_version(conn, deadline_now() + CONSOLE_MS, "reload");
	rc = s->pgbouncer_version ? reload_steps(o, s, &conn, &l, n) : EX_UNAVAILABLE;
	console_close(conn);
	return rc;
}

int reload_once(const struct options *o)
{
	static const struct pipeline reload = {CMD_RELOAD, RELOAD_NEEDS, reload_run};
	struct options r = *o;
	struct state st;
	int rc;

	memset(&st, 0, sizeof(st));
	r.cmd = CMD_RELOAD;
	rc = pipeline_run(&reload, &r, &st);
	pipeline_state_free(&st);
	return rc;
}
