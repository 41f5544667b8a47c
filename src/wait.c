#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "exitcodes.h"
#include "log.h"
#include "pgio.h"
#include "resolve.h"

/* A closed port is probed this often (cheap: a TCP connect), so the wait
 * notices a server that comes up within a probe's time. */
#define PROBE_MS 20
/* After a failed login (the port accepted) the next one waits this long,
 * doubling up to MAX_BACKOFF_MS: a server that is starting up or a proxy that
 * closes at once is not hammered. */
#define FIRST_BACKOFF_MS 50
#define MAX_BACKOFF_MS 1000
/* One login (name lookup included) gets at most this long, then it is
 * retried: a server that hangs once is not waited for until the deadline. */
#define ATTEMPT_MS 10000
/* The same error is logged at most this often; the next line counts them. */
#define REPEAT_LOG_MS 1000
#define MAX_HOSTS 16 /* host list entries times addresses, per login */
#define CHECK_LOOKUP_MS 2000

/* ---- what a failure means ------------------------------------------------ */

/* The server's SQLSTATE classes and codes that mean "not now": too many
 * connections (53300) and other lack of resources, starting up or shutting
 * down (57P0x), connection trouble (08).  Any other SQLSTATE is an answer. */
static bool sqlstate_retries(const char *state)
{
	return !strncmp(state, "53", 2) || !strncmp(state, "08", 2) ||
	       !strcmp(state, "57P01") || !strcmp(state, "57P02") || !strcmp(state, "57P03");
}

/* libpq's own texts (English: libpq is built without NLS) and the server's
 * English ones, for failures without a SQLSTATE. */
static const char *const retry_texts[] = {
	"connection refused", "could not translate host name", "name or service not known",
	"temporary failure in name resolution", "no route to host", "network is unreachable",
	"timeout expired", "the database system is starting up",
	"the database system is shutting down", "the database system is in recovery mode",
	"the database system is not yet accepting connections",
	"the database system is not accepting connections", "too many clients already",
	"too many connections", "remaining connection slots are reserved",
	"server closed the connection unexpectedly", "connection reset by peer",
	"no such file or directory", "could not receive data", "could not send data",
	"host is unreachable", "try again",
};

/* TEXT (and ALSO, when given) in the message, or the server's SQLSTATE
 * STATE (its messages may be in another language): the server answered no. */
static const struct {
	const char *state;
	const char *text;
	const char *also;
	const char *hint;
} refusals[] = {
	{"28P01", "password authentication failed", NULL,
	 "check DB_PASSWORD (or the URL's password) and DB_USER"},
	{NULL, "no password supplied", NULL, "set DB_PASSWORD or DB_PASSWORD_FILE"},
	{NULL, "role \"", "does not exist", "check DB_USER: the server has no such role"},
	{"3D000", "database \"", "does not exist",
	 "check DB_NAME (or the URL's path): the server has no such database"},
	{NULL, "pg_hba.conf", NULL,
	 "the server's pg_hba.conf does not let this host, user and database in "
	 "(a hostssl line needs sslmode=require or stronger)"},
	{"28000", NULL, NULL,
	 "check DB_USER, and that the server's pg_hba.conf lets this host, user and database in"},
	{NULL, "server does not support ssl, but ssl was required", NULL,
	 "the server offers no TLS: use sslmode=prefer or disable, or enable ssl on the server"},
	{NULL, "certificate verify failed", NULL,
	 "set SERVER_TLS_CA_FILE to the CA that signed the server's certificate"},
	{NULL, "does not match host name", NULL,
	 "the server's certificate is for another name: connect with the name it was issued for"},
	{NULL, "root certificate file", NULL,
	 "sslmode=verify-ca/verify-full need SERVER_TLS_CA_FILE (a CA bundle file)"},
	{"42501", "permission denied for database", NULL,
	 "grant CONNECT on the database to the user"},
	{NULL, "ssl error", NULL,
	 "the TLS handshake failed: check sslmode and the server's certificate"},
};

/* Is P the start of a SQLSTATE followed by ": " (libpq's verbose form
 * "FATAL:  53300: sorry, ...")? */
static bool at_sqlstate(const char *p)
{
	for (int i = 0; i < 5; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z')))
			return false;
	return p[5] == ':' && p[6] == ' ';
}

/* The last SQLSTATE in MSG into STATE (6 bytes); false when there is none
 * (the failure was libpq's own: no server answered). */
static bool find_sqlstate(const char *msg, char *state)
{
	bool found = false;

	for (const char *p = strstr(msg, ":  "); p; p = strstr(p + 3, ":  ")) {
		if (at_sqlstate(p + 3)) {
			memcpy(state, p + 3, 5);
			state[5] = '\0';
			found = true;
		}
	}
	return found;
}

/* The hint of the first refusal row matching MSG's text, else STATE's. */
static const char *refusal_hint(const char *msg, const char *state)
{
	size_t n = sizeof(refusals) / sizeof(refusals[0]);

	for (size_t i = 0; i < n; i++)
		if (refusals[i].text && strcasestr(msg, refusals[i].text) &&
		    (!refusals[i].also || strcasestr(msg, refusals[i].also)))
			return refusals[i].hint;
	for (size_t i = 0; state && i < n; i++)
		if (refusals[i].state && !strcmp(refusals[i].state, state))
			return refusals[i].hint;
	return NULL;
}

enum attempt_result wait_classify(const char *msg, const char **hint)
{
	char state[6];
	bool answered = find_sqlstate(msg, state);

	*hint = "";
	if (answered && sqlstate_retries(state))
		return ATTEMPT_RETRY;
	if ((*hint = refusal_hint(msg, answered ? state : NULL)))
		return ATTEMPT_REFUSED;
	*hint = "";
	for (size_t i = 0; !answered && i < sizeof(retry_texts) / sizeof(retry_texts[0]); i++)
		if (strcasestr(msg, retry_texts[i]))
			return ATTEMPT_RETRY;
	/* any other answer of the server is a no; anything else from libpq
	 * (garbage on the port, a proxy) is retried until the deadline */
	if (answered)
		*hint = "the server's log says more";
	return answered ? ATTEMPT_REFUSED : ATTEMPT_RETRY;
}

/* Line L (LEN bytes) of libpq's message, without the verbose SQLSTATE. */
static void add_line(struct buf *out, const char *l, size_t len)
{
	const char *p = l;

	while ((p = memchr(p, ':', len - (size_t)(p - l))) && (size_t)(p - l) + 9 < len &&
	       !(p[1] == ' ' && p[2] == ' ' && at_sqlstate(p + 3)))
		p++;
	if (!p || (size_t)(p - l) + 9 >= len) {
		buf_add(out, l, len);
	} else {
		buf_add(out, l, (size_t)(p - l) + 3);
		buf_add(out, p + 10, len - (size_t)(p + 10 - l));
	}
	buf_putc(out, '\n');
}

/* libpq's message without its "connection to server at ... failed:" prefix,
 * "FATAL:" tag, SQLSTATE and LOCATION line, on one line.  libpq never puts
 * the password in it. */
static void short_reason(const char *msg, struct buf *out)
{
	const char *p = strstr(msg, " failed: ");
	struct buf clean;

	p = p ? p + 9 : msg;
	buf_init(&clean);
	for (const char *l = p; *l;) {
		size_t len = strcspn(l, "\n");
		if (strncmp(l, "LOCATION:  ", 11) != 0)
			add_line(&clean, l, len);
		l += len + (l[len] == '\n');
	}
	p = buf_str(&clean) ? buf_str(&clean) : "";
	if (!strncmp(p, "FATAL:  ", 8))
		p += 8;
	for (; *p; p++) {
		bool blank = *p == '\n' || *p == '\t' || *p == ' ';
		if (!blank || (out->len && out->data[out->len - 1] != ' '))
			buf_putc(out, blank ? ' ' : *p);
	}
	while (out->len && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
	buf_free(&clean);
}

/* ---- one login ------------------------------------------------------------ */

struct target {
	const char *keys[16];
	const char *vals[16];
	int host_slot, addr_slot; /* where "host" and "hostaddr" are in keys */
	const struct upstream *u;
	bool userlist_md5; /* a supplied userlist holds an md5 hash for u->user */
	struct buf hosts, addrs; /* this login's libpq host and hostaddr lists */
	int entries;             /* in each list */
	int n;
	char probe[MAX_HOSTS][INET6_ADDRSTRLEN]; /* TCP addresses for pause probes */
	bool closed; /* the last login found the port closed (connection refused) */
};

static void target_init(struct target *t, const struct config *c, const struct upstream *u)
{
	const char *mode = config_get(c, "server_tls_sslmode");
	int n = 0;

	memset(t, 0, sizeof(*t));
	t->u = u;
	buf_init(&t->hosts);
	buf_init(&t->addrs);
#define KV(k, v)                        \
	do {                            \
		t->keys[n] = (k);       \
		t->vals[n++] = (v);     \
	} while (0)
	t->host_slot = n;
	KV("host", u->host);
	t->addr_slot = n;
	KV("hostaddr", "");
	KV("port", u->port);
	KV("dbname", u->dbname);
	KV("user", u->user);
	KV("password", u->password);
	KV("sslmode", mode ? mode : "prefer");
	KV("application_name", "pgbouncer-entrypoint");
	/* pgbouncer verifies the server only for verify-ca/verify-full.  libpq
	 * would also verify under "require" if it found a root certificate (in
	 * $HOME/.postgresql), so name one that cannot exist to match pgbouncer. */
	if (mode && !strncmp(mode, "verify-", 7))
		KV("sslrootcert", config_get(c, "server_tls_ca_file"));
	else
		KV("sslrootcert", "/nonexistent/pgbouncer-entrypoint/no-root-cert");
	if (config_get(c, "server_tls_cert_file"))
		KV("sslcert", config_get(c, "server_tls_cert_file"));
	if (config_get(c, "server_tls_key_file"))
		KV("sslkey", config_get(c, "server_tls_key_file"));
#undef KV
	t->keys[n] = NULL;
	t->vals[n] = NULL;
}

static void target_free(struct target *t)
{
	buf_free(&t->hosts);
	buf_free(&t->addrs);
}

static bool is_socket_dir(const char *host)
{
	return host[0] == '/' || host[0] == '@';
}

/* Entry NAME of the host list with address ADDR ("" for a socket dir). */
static void add_host(struct target *t, const char *name, const char *addr)
{
	buf_puts(&t->hosts, t->entries ? "," : "");
	buf_puts(&t->hosts, name);
	buf_puts(&t->addrs, t->entries ? "," : "");
	buf_puts(&t->addrs, addr);
	t->entries++;
	if (*addr && t->n < MAX_HOSTS)
		snprintf(t->probe[t->n++], sizeof(t->probe[0]), "%s", addr);
}

/* Resolve every name of the host list before DEADLINE into "host" and
 * "hostaddr" lists of the same length: libpq then never looks a name up
 * (it would block).  WHY: the lookup error when no entry is left. */
static int resolve_target(struct target *t, long long deadline, struct buf *why)
{
	char name[1024];
	struct addrs a;
	int rc = EX_OK;

	t->hosts.len = t->addrs.len = 0;
	t->entries = t->n = 0;
	for (const char *p = t->u->host; *p && rc < EX_SIGNAL_BASE;) {
		size_t len = strcspn(p, ",");
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		p += len + (p[len] == ',');
		if (is_socket_dir(name)) {
			add_host(t, name, "");
			continue;
		}
		why->len = 0;
		if ((rc = resolve_host(name, deadline, &a, why)) != EX_OK)
			continue;
		for (int i = 0; i < a.n && t->n < MAX_HOSTS; i++)
			add_host(t, name, a.addr[i]);
	}
	if (rc >= EX_SIGNAL_BASE || !t->entries || t->hosts.oom || t->addrs.oom)
		return rc >= EX_SIGNAL_BASE ? rc : EX_UNAVAILABLE;
	why->len = 0;
	t->vals[t->host_slot] = buf_str(&t->hosts);
	t->vals[t->addr_slot] = t->n ? buf_str(&t->addrs) : "";
	return EX_OK;
}

PGconn *wait_connect(const char *const *keys, const char *const *vals, long long deadline)
{
	PGconn *conn = PQconnectStartParams(keys, vals, 0);
	enum pgio_result r = pgio_login(conn, deadline);

	if (conn && r != PGIO_OK && r != PGIO_FAILED) {
		PQfinish(conn); /* timed out or stopped mid-way */
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
		buf_printf(why, "userlist.txt holds an md5 hash for \"%s\", but the server uses "
				"SCRAM (password_encryption = scram-sha-256), and pgbouncer cannot "
				"log in to it with an md5 hash (\"wrong password type\")", t->u->user);
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
			   (now_ms() - began) / 1000.0, pgio_stage(conn));
		return ATTEMPT_SILENT;
	}
	short_reason(*msg ? msg : "the login failed without a message", why);
	t->closed = strcasestr(msg, "connection refused") || strcasestr(msg, "no such file");
	return wait_classify(msg, hint);
}

static enum attempt_result attempt(struct target *t, long long deadline, struct buf *why,
				   const char **hint)
{
	long long began = now_ms();
	enum attempt_result r;
	enum pgio_result io;
	PGconn *conn;
	int rc;

	*hint = "";
	t->closed = false;
	if ((rc = resolve_target(t, deadline, why)) != EX_OK)
		return rc >= EX_SIGNAL_BASE ? ATTEMPT_STOPPED : ATTEMPT_RETRY;
	conn = PQconnectStartParams(t->keys, t->vals, 0);
	/* the SQLSTATE in the message: the verdict cannot depend on the
	 * server's lc_messages */
	if (conn)
		PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	io = pgio_login(conn, deadline);
	if (io == PGIO_OK)
		r = after_login(conn, t, deadline, why, hint);
	else
		r = login_failed(conn, io, began, t, why, hint);
	PQfinish(conn);
	return r;
}

/* ---- pausing between logins ------------------------------------------------ */

static bool socket_accepts(const char *dir, const char *port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	ok = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%s", dir, port) <
		     (int)sizeof(sa.sun_path) &&
	     fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Does ADDR:PORT accept a TCP connection before UNTIL? */
static bool tcp_accepts(const char *addr, const char *port, long long until)
{
	struct addrinfo hints, *a = NULL;
	bool ok = false;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(addr, port, &hints, &a) != 0)
		return false;
	fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
		ok = true;
	} else if (fd >= 0 && errno == EINPROGRESS) {
		struct pollfd pfd = {fd, POLLOUT, 0};
		int err = 0;
		socklen_t len = sizeof(err);
		ok = deadline_poll(&pfd, 1, until) == DEADLINE_READY &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(a);
	return ok;
}

/* Does any entry of T's host list accept a connection now? */
static bool target_accepts(const struct target *t, long long until)
{
	char name[1024];

	for (const char *p = t->u->host; *p;) {
		size_t len = strcspn(p, ",");
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		p += len + (p[len] == ',');
		if (is_socket_dir(name) && socket_accepts(name, t->u->port))
			return true;
	}
	for (int i = 0; i < t->n; i++)
		if (tcp_accepts(t->probe[i], t->u->port, until))
			return true;
	return false;
}

/* Sleep until UNTIL.  After a closed port, return as soon as it accepts
 * connections (a cheap probe every PROBE_MS); after a failed login, sleep
 * the whole back-off. */
static void pause_until(const struct target *t, long long until)
{
	while (t->closed && !wait_stop_signal && now_ms() < until) {
		long long step = deadline_min(now_ms() + PROBE_MS, until);
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
	long long now = now_ms();
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
		  "PGBOUNCER_WAIT_TIMEOUT)", u->host, u->port, (now_ms() - w->start) / 1000.0,
		  buf_str(&w->why), both ? "; before that: " : "", both ? buf_str(&w->earlier) : "");
	return EX_UNAVAILABLE;
}

/* What login W->n's result R means: a status, or -1 to try again. */
static int settle(struct waiting *w, enum attempt_result r, const char *hint)
{
	const struct upstream *u = w->t.u;

	if (r == ATTEMPT_OK) {
		log_info("upstream %s@%s:%s/%s accepts logins (attempt %d, %.2f s)", u->user,
			 u->host, u->port, u->dbname, w->n, (now_ms() - w->start) / 1000.0);
		return EX_OK;
	}
	if (r == ATTEMPT_STOPPED || wait_stop_signal) {
		log_info("received signal %d while waiting for the upstream; stopping",
			 (int)wait_stop_signal);
		return EX_SIGNAL_BASE + wait_stop_signal;
	}
	if (r == ATTEMPT_WRONG_SECRET) {
		log_error("%s; %s", buf_str(&w->why), hint);
		return EX_CONFIG;
	}
	if (r == ATTEMPT_REFUSED) {
		log_error("upstream %s:%s refused user \"%s\" on database \"%s\": %s; %s", u->host,
			  u->port, u->user, u->dbname, buf_str(&w->why), hint);
		return EX_NOPERM;
	}
	if (r != ATTEMPT_SILENT)
		copy_buf(&w->earlier, &w->why);
	if (now_ms() >= w->deadline)
		return give_up(w);
	note_progress(w);
	return -1;
}

static int wait_one(const struct config *c, size_t i, const bool *userlist_md5, long long start,
		    long long deadline)
{
	struct waiting w = {.start = start, .deadline = deadline};
	long long backoff = FIRST_BACKOFF_MS;
	int rc = -1;

	target_init(&w.t, c, &c->up[i]);
	w.t.userlist_md5 = userlist_md5 && userlist_md5[i];
	while (rc < 0) {
		const char *hint;
		enum attempt_result r;
		w.why.len = 0;
		w.n++;
		r = wait_stop_signal ? ATTEMPT_STOPPED
				     : attempt(&w.t, deadline_min(now_ms() + ATTEMPT_MS, deadline),
					       &w.why, &hint);
		if ((rc = settle(&w, r, hint)) >= 0)
			break;
		pause_until(&w.t, deadline_min(now_ms() + backoff, deadline));
		backoff = deadline_min(backoff * 2, MAX_BACKOFF_MS);
		/* no login that would have no time at all: the last one's error stands */
		if (now_ms() >= deadline && !wait_stop_signal)
			rc = give_up(&w);
	}
	waiting_free(&w);
	return rc;
}

int wait_upstreams(const struct config *c, const bool *userlist_md5, long timeout)
{
	long long start = now_ms(), deadline = start + timeout * 1000LL;
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

/* bind() to an address succeeds only for this network namespace's own. */
static bool is_own_address(const char *addr)
{
	struct addrinfo hints, *a = NULL;
	bool own = false;
	int fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(addr, "0", &hints, &a) != 0)
		return false;
	fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	own = fd >= 0 && bind(fd, a->ai_addr, a->ai_addrlen) == 0;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(a);
	return own;
}

/* Does HOST resolve to an address of this machine?  The lookup is bounded:
 * a name server that does not answer is the wait's to report. */
static bool resolves_to_self(const char *host)
{
	struct addrs a;
	struct buf why;
	bool own = false;

	buf_init(&why);
	if (resolve_host(host, now_ms() + CHECK_LOOKUP_MS, &a, &why) == EX_OK)
		for (int i = 0; i < a.n && !own; i++)
			own = is_own_address(a.addr[i]);
	buf_free(&why);
	return own;
}

int wait_check_not_self(const struct config *c)
{
	const char *lp = config_get(c, "listen_port"), *la = config_get(c, "listen_addr");

	for (size_t i = 0; lp && i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		if (!u->host || strcmp(u->port, lp) != 0 || is_socket_dir(u->host) ||
		    strchr(u->host, ','))
			continue;
		if (wildcard(la) ? resolves_to_self(u->host) : strcasecmp(u->host, la) == 0) {
			log_error("%s (%s:%s) is this container's own address, where pgbouncer listens: "
				  "the pool would connect to itself; set DB_HOST to the database "
				  "server and give applications the pool's address instead",
				  u->origin, u->host, u->port);
			return EX_CONFIG;
		}
	}
	return 0;
}
