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
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "exitcodes.h"
#include "log.h"

/* Upper bound of one blocking step, so a signal that lands just before a
 * poll() still ends the wait quickly. */
#define STEP_MS 20
#define FIRST_BACKOFF_MS 25
#define MAX_BACKOFF_MS 1000
#define ATTEMPT_MS 10000

volatile sig_atomic_t wait_stop_signal;

static void on_signal(int sig)
{
	wait_stop_signal = sig;
}

void wait_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

void wait_restore_signals(void)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- what a failure means ------------------------------------------------ */

static const char *const retry_texts[] = {
	"connection refused", "could not translate host name", "name or service not known",
	"temporary failure in name resolution", "no route to host", "network is unreachable",
	"timeout expired", "the database system is starting up",
	"the database system is shutting down", "the database system is in recovery mode",
	"the database system is not yet accepting connections",
	"the database system is not accepting connections", "too many clients already",
	"remaining connection slots are reserved", "server closed the connection unexpectedly",
	"connection reset by peer", "no such file or directory", "could not receive data",
	"could not send data", "host is unreachable", "try again",
};

/* TEXT (and ALSO, when given) in the message: the server answered no. */
static const struct {
	const char *text;
	const char *also;
	const char *hint;
} refusals[] = {
	{"password authentication failed", NULL,
	 "check DB_PASSWORD (or the URL's password) and DB_USER"},
	{"no password supplied", NULL, "set DB_PASSWORD or DB_PASSWORD_FILE"},
	{"role \"", "does not exist", "check DB_USER: the server has no such role"},
	{"database \"", "does not exist",
	 "check DB_NAME (or the URL's path): the server has no such database"},
	{"pg_hba.conf", NULL,
	 "the server's pg_hba.conf does not let this host, user and database in "
	 "(a hostssl line needs sslmode=require or stronger)"},
	{"server does not support ssl, but ssl was required", NULL,
	 "the server offers no TLS: use sslmode=prefer or disable, or enable ssl on the server"},
	{"certificate verify failed", NULL,
	 "set SERVER_TLS_CA_FILE to the CA that signed the server's certificate"},
	{"does not match host name", NULL,
	 "the server's certificate is for another name: connect with the name it was issued for"},
	{"root certificate file", NULL,
	 "sslmode=verify-ca/verify-full need SERVER_TLS_CA_FILE (a CA bundle file)"},
	{"permission denied for database", NULL, "grant CONNECT on the database to the user"},
	{"ssl error", NULL, "the TLS handshake failed: check sslmode and the server's certificate"},
};

enum attempt_result wait_classify(const char *msg, bool *known, const char **hint)
{
	*known = true;
	*hint = "";
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		if (strcasestr(msg, refusals[i].text) &&
		    (!refusals[i].also || strcasestr(msg, refusals[i].also))) {
			*hint = refusals[i].hint;
			return ATTEMPT_REFUSED;
		}
	}
	for (size_t i = 0; i < sizeof(retry_texts) / sizeof(retry_texts[0]); i++)
		if (strcasestr(msg, retry_texts[i]))
			return ATTEMPT_RETRY;
	*known = false;
	return ATTEMPT_RETRY;
}

/* libpq's message without its "connection to server at ... failed:" prefix
 * and "FATAL:" tag, on one line.  libpq never puts the password in it. */
static void short_reason(const char *msg, struct buf *out)
{
	const char *p = strstr(msg, " failed: ");

	p = p ? p + 9 : msg;
	if (!strncmp(p, "FATAL:  ", 8))
		p += 8;
	for (; *p; p++) {
		bool blank = *p == '\n' || *p == '\t' || *p == ' ';
		if (!blank || (out->len && out->data[out->len - 1] != ' '))
			buf_putc(out, blank ? ' ' : *p);
	}
	while (out->len && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
}

/* ---- one login ------------------------------------------------------------ */

struct target {
	const char *keys[16];
	const char *vals[16];
	const struct upstream *u;
	bool userlist_md5; /* a supplied userlist holds an md5 hash for u->user */
};

static void target_init(struct target *t, const struct config *c, const struct upstream *u)
{
	const char *mode = config_get(c, "server_tls_sslmode");
	int n = 0;

	t->u = u;
#define KV(k, v)                        \
	do {                            \
		t->keys[n] = (k);       \
		t->vals[n++] = (v);     \
	} while (0)
	KV("host", u->host);
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

static enum attempt_result poll_login(PGconn *conn, long long deadline);

PGconn *wait_connect(const char *const *keys, const char *const *vals, long long deadline)
{
	PGconn *conn = PQconnectStartParams(keys, vals, 0);

	if (conn && PQstatus(conn) != CONNECTION_BAD && poll_login(conn, deadline) != ATTEMPT_OK &&
	    PQstatus(conn) != CONNECTION_BAD) {
		PQfinish(conn); /* timed out or stopped mid-way */
		return NULL;
	}
	return conn;
}

static enum attempt_result poll_login(PGconn *conn, long long deadline)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		struct pollfd pfd = {PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0};
		long long left = deadline - now_ms();
		if (wait_stop_signal)
			return ATTEMPT_STOPPED;
		if (left <= 0)
			return ATTEMPT_RETRY;
		int r = poll(&pfd, 1, left < STEP_MS ? (int)left : STEP_MS);
		if (wait_stop_signal)
			return ATTEMPT_STOPPED;
		if (r > 0)
			st = PQconnectPoll(conn);
	}
	return st == PGRES_POLLING_OK ? ATTEMPT_OK : ATTEMPT_RETRY;
}

/* Did a server answer at all?  PQping's verdict, for messages in a language
 * wait_classify does not know (the server's lc_messages). */
static bool server_answered(const struct target *t)
{
	return PQpingParams(t->keys, t->vals, 0) == PQPING_OK;
}

/* The seed's setup: an md5 hash in userlist.txt cannot answer a server that
 * asks for SCRAM (pgbouncer: "wrong password type" at the first client).
 * The server's password_encryption tells what it stores for new passwords. */
static bool md5_hash_would_fail(PGconn *conn, const struct target *t, struct buf *why)
{
	const struct upstream *u = t->u;
	PGresult *r;
	bool scram;

	if (!t->userlist_md5)
		return false;
	r = PQexec(conn, "SELECT current_setting('password_encryption')");
	scram = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		strcmp(PQgetvalue(r, 0, 0), "scram-sha-256") == 0;
	PQclear(r);
	if (scram)
		buf_printf(why, "userlist.txt holds an md5 hash for \"%s\", but the server uses "
				"SCRAM (password_encryption = scram-sha-256), and pgbouncer cannot "
				"log in to it with an md5 hash (\"wrong password type\")", u->user);
	return scram;
}

static enum attempt_result attempt(const struct target *t, long long deadline, struct buf *why,
				   const char **hint)
{
	PGconn *conn = PQconnectStartParams(t->keys, t->vals, 0);
	enum attempt_result r = ATTEMPT_RETRY;
	bool known;

	*hint = "";
	if (conn && PQstatus(conn) != CONNECTION_BAD)
		r = poll_login(conn, deadline);
	if (r == ATTEMPT_OK && md5_hash_would_fail(conn, t, why)) {
		*hint = "put the plaintext password in userlist.txt, or delete the file and let "
			"pgbouncer-entrypoint write it";
		r = ATTEMPT_WRONG_SECRET;
	}
	if (r == ATTEMPT_RETRY) {
		const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
		short_reason(*msg ? msg : "timeout expired", why);
		r = wait_classify(msg, &known, hint);
		if (!known && server_answered(t))
			r = ATTEMPT_REFUSED;
	}
	PQfinish(conn);
	return r;
}

/* ---- waiting -------------------------------------------------------------- */

static bool is_socket_dir(const char *host)
{
	return host[0] == '/';
}

static bool socket_accepts(const char *dir, const char *port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%s", dir, port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Does any of RES accept a TCP connection within TIMEOUT_MS? */
static bool any_accepts(const struct addrinfo *res, int timeout_ms)
{
	bool ok = false;

	for (const struct addrinfo *a = res; a && !ok; a = a->ai_next) {
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			ok = true;
		} else if (errno == EINPROGRESS) {
			struct pollfd pfd = {fd, POLLOUT, 0};
			int err = 0;
			socklen_t len = sizeof(err);
			if (poll(&pfd, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
				ok = true;
		}
		close(fd);
	}
	return ok;
}

/* Sleep until NEXT, but return early when the port starts accepting
 * connections (a cheap probe every STEP_MS), or a signal arrives.  The name
 * is resolved once per pause, not once per probe. */
static void pause_until(const struct upstream *u, long long next)
{
	struct addrinfo hints, *res = NULL;
	bool sock = is_socket_dir(u->host);

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (!sock && !strchr(u->host, ','))
		getaddrinfo(u->host, u->port, &hints, &res);
	while (!wait_stop_signal && now_ms() < next) {
		long long left = next - now_ms();
		struct timespec ts = {0, (left < STEP_MS ? left : STEP_MS) * 1000000L};
		if (sock ? socket_accepts(u->host, u->port) : any_accepts(res, STEP_MS))
			break;
		nanosleep(&ts, NULL);
	}
	if (res)
		freeaddrinfo(res);
}

static int wait_one(const struct config *c, size_t i, const bool *userlist_md5, long long start,
		    long long deadline)
{
	const struct upstream *u = &c->up[i];
	struct target t;
	long long backoff = FIRST_BACKOFF_MS;
	struct buf why;
	const char *hint;

	target_init(&t, c, u);
	t.userlist_md5 = userlist_md5 && userlist_md5[i];
	buf_init(&why);
	for (int n = 1;; n++) {
		long long step_deadline = now_ms() + ATTEMPT_MS;
		enum attempt_result r;
		why.len = 0;
		r = attempt(&t, step_deadline < deadline ? step_deadline : deadline, &why, &hint);
		if (r == ATTEMPT_OK) {
			log_info("upstream %s@%s:%s/%s accepts logins (attempt %d, %.2f s)", u->user,
				 u->host, u->port, u->dbname, n, (now_ms() - start) / 1000.0);
			buf_free(&why);
			return 0;
		}
		if (r == ATTEMPT_STOPPED || wait_stop_signal)
			break;
		if (r == ATTEMPT_WRONG_SECRET) {
			log_error("%s; %s", buf_str(&why), hint);
			buf_free(&why);
			return EX_CONFIG;
		}
		if (r == ATTEMPT_REFUSED) {
			log_error("upstream %s:%s refused user \"%s\" on database \"%s\": %s; %s",
				  u->host, u->port, u->user, u->dbname, buf_str(&why), hint);
			buf_free(&why);
			return EX_NOPERM;
		}
		log_info("waiting for %s@%s:%s/%s (attempt %d, %.1f s): %s", u->user, u->host,
			 u->port, u->dbname, n, (now_ms() - start) / 1000.0, buf_str(&why));
		if (now_ms() >= deadline) {
			log_error("upstream %s:%s not reachable after %.0f s: %s (--wait-timeout / "
				  "PGBOUNCER_WAIT_TIMEOUT)", u->host, u->port,
				  (now_ms() - start) / 1000.0, buf_str(&why));
			buf_free(&why);
			return EX_UNAVAILABLE;
		}
		long long next = now_ms() + backoff;
		pause_until(u, next < deadline ? next : deadline);
		backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
	}
	buf_free(&why);
	log_info("received signal %d while waiting for the upstream; stopping", (int)wait_stop_signal);
	return EX_SIGNAL_BASE + wait_stop_signal;
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
static bool is_own_address(const struct addrinfo *a)
{
	struct sockaddr_storage ss;
	int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool own;

	if (fd < 0)
		return false;
	memcpy(&ss, a->ai_addr, a->ai_addrlen);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	own = bind(fd, (struct sockaddr *)&ss, a->ai_addrlen) == 0;
	close(fd);
	return own;
}

int wait_check_not_self(const struct config *c)
{
	const char *lp = config_get(c, "listen_port"), *la = config_get(c, "listen_addr");

	for (size_t i = 0; lp && i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		struct addrinfo hints, *res = NULL;
		bool loop = false;
		if (!u->host || strcmp(u->port, lp) != 0 || is_socket_dir(u->host) ||
		    strchr(u->host, ','))
			continue;
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(u->host, NULL, &hints, &res) != 0)
			continue; /* not resolvable yet: the wait reports it */
		for (struct addrinfo *a = res; a && !loop; a = a->ai_next)
			loop = wildcard(la) ? is_own_address(a) : false;
		freeaddrinfo(res);
		if (loop || (!wildcard(la) && strcasecmp(u->host, la) == 0)) {
			log_error("%s (%s:%s) is this container's own address, where pgbouncer listens: "
				  "the pool would connect to itself; set DB_HOST to the database "
				  "server and give applications the pool's address instead",
				  u->origin, u->host, u->port);
			return EX_CONFIG;
		}
	}
	return 0;
}
