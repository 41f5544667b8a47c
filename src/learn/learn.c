#include "learn/learn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "base/runas.h"
#include "learn/scram_learn.h"
#include "learn/scram_proto.h"
#include "pg/upauth.h"
#include "pg/wait.h"

#define FIRST_BACKOFF_MS 25
#define MAX_BACKOFF_MS 1000

void learned_init(struct learned *l)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < MAX_UPSTREAMS; i++)
		l->st[i] = LEARN_NONE;
}

static void target_of(const struct config *c, const struct upstream *u, struct learn_target *t)
{
	memset(t, 0, sizeof(*t));
	t->host = u->host;
	t->port = u->port;
	t->dbname = u->dbname;
	t->user = u->user;
	t->password = u->password;
	t->sslmode = config_get(c, "server_tls_sslmode");
	t->ca_file = config_get(c, "server_tls_ca_file");
	t->cert_file = config_get(c, "server_tls_cert_file");
	t->key_file = config_get(c, "server_tls_key_file");
}

/* One exchange, retried while the server is not ready, until DEADLINE. */
static enum learn_status learn_until(const struct learn_target *t, long long deadline,
				     struct buf *secret, struct buf *why)
{
	long long backoff = FIRST_BACKOFF_MS;
	enum learn_status st;

	while ((st = scram_learn(t, deadline, secret, why)) == LEARN_RETRY &&
	       !deadline_stop_signal && deadline_now() + backoff < deadline) {
		deadline_sleep(deadline_now() +
			       backoff); /* a stop signal ends it: looked at above */
		backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
	}
	return deadline_stop_signal ? LEARN_STOPPED : st;
}

static int learn_failed(const struct upstream *u, enum learn_status st, struct buf *why)
{
	if (st == LEARN_STOPPED) {
		log_info("received signal %d while learning the upstream's SCRAM secret; stopping",
			 (int)deadline_stop_signal);
		return EX_SIGNAL_BASE + deadline_stop_signal;
	}
	log_error("could not learn the SCRAM secret of %s@%s:%s/%s: %s%s", u->user, u->host,
		  u->port, u->dbname, buf_str(why),
		  st == LEARN_RETRY ? " (--wait-timeout / PGBOUNCER_WAIT_TIMEOUT)" : "");
	return st == LEARN_RETRY ? EX_UNAVAILABLE : EX_NOPERM;
}

/* May the learning login take what the server asked for?  It sends no
 * password for md5 or the cleartext request, but a server that did not
 * ask for SCRAM now is not the one the wait logged in to. */
static int allowed(const struct config *c, const struct upstream *u, enum learn_status st)
{
	static const struct {
		enum learn_status st;
		unsigned bit;
		const char *what, *word;
	} methods[] = {{LEARN_MD5, UPAUTH_MD5, "md5", "md5"},
		       {LEARN_CLEARTEXT, UPAUTH_PASSWORD, "the password in clear", "password"},
		       {LEARN_TRUST, UPAUTH_TRUST, "no password at all (trust)", "trust"},
		       {LEARN_OTHER, UPAUTH_ANY, "another method", "any"}};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (methods[i].st != st || (c->upstream_auth & methods[i].bit) == methods[i].bit)
			continue;
		log_error(
			"upstream %s:%s: not logging in as \"%s\": the server asked for %s, which "
			"PGBOUNCER_UPSTREAM_AUTH does not allow (it is scram-sha-256 unless set; "
			"add %s to allow it, with TLS verified by server_tls_sslmode=verify-full)",
			u->host, u->port, u->user, methods[i].what, methods[i].word);
		return EX_NOPERM;
	}
	return EX_OK;
}

/* A second exchange must give the same secret: a pooler in front of the
 * server that keeps the plaintext (pgbouncer itself) answers every login
 * with a new salt, and a client proof for one salt fails at the next. */
static int learn_one(const struct config *c, size_t i, long long deadline, struct learned *out)
{
	const struct upstream *u = &c->up[i];
	struct learn_target t;
	struct buf secret, again, why;
	enum learn_status st;
	int rc = 0;

	target_of(c, u, &t);
	buf_init(&secret);
	buf_init(&again);
	buf_init(&why);
	st = learn_until(&t, deadline, &secret, &why);
	if (st == LEARN_SCRAM && (st = learn_until(&t, deadline, &again, &why)) == LEARN_SCRAM)
		out->unstable[i] = strcmp(buf_str(&secret), buf_str(&again)) != 0;
	if (st == LEARN_SCRAM && !out->unstable[i])
		snprintf(out->secret[i], sizeof(out->secret[i]), "%s", buf_str(&secret));
	if (st == LEARN_RETRY || st == LEARN_REFUSED || st == LEARN_STOPPED)
		rc = learn_failed(u, st, &why);
	else if (!(rc = allowed(c, u, st)))
		log_info("upstream %s@%s:%s/%s asks for %s%s", u->user, u->host, u->port, u->dbname,
			 st == LEARN_SCRAM ? "SCRAM-SHA-256: learned its secret"
					   : learn_status_name(st),
			 out->unstable[i] ? ", but a new salt at every login" : "");
	out->st[i] = st;
	buf_free_secret(&secret);
	buf_free_secret(&again);
	buf_free(&why);
	return rc;
}

static int wait_and_learn(const struct config *c, const bool *md5, long long start,
			  long long deadline, bool learn, struct learned *out)
{
	int rc;

	deadline_install_signals();
	rc = wait_upstreams(c, md5, start, deadline);
	for (size_t i = 0; i < c->nup && rc == 0 && learn; i++)
		if (c->up[i].host)
			rc = learn_one(c, i, deadline, out);
	deadline_restore_signals();
	return rc;
}

bool learned_valid(const struct learned *l)
{
	for (size_t i = 0; i < MAX_UPSTREAMS; i++) {
		if ((unsigned)l->st[i] > LEARN_NONE ||
		    !memchr(l->secret[i], '\0', sizeof(l->secret[i])))
			return false;
		if (l->st[i] == LEARN_SCRAM && !l->unstable[i] &&
		    !scram_secret_wellformed(l->secret[i]))
			return false;
	}
	return true;
}

/* ---- the network part in a child ----------------------------------------------
 *
 * As root, the child drops to the run user first: root parses no network
 * input.  And in every case the child can be stopped: libpq computes the
 * SCRAM PBKDF2 inside PQconnectPoll, where neither the deadline nor a
 * signal reaches it (up to SCRAM_MAX_ITERATIONS, half a second here), so
 * the parent ends a child that outlives a stop by STOP_GRACE_MS, or the
 * deadline by DEADLINE_GRACE_MS (longer: at the deadline the child says
 * why it gives up, and that line must not be cut on a busy machine). */

#define STOP_GRACE_MS 50
#define DEADLINE_GRACE_MS 300

/* Milliseconds until LIMIT, at most a poll slice. */
static int slice_until(long long limit)
{
	long long left = limit - deadline_now();

	return left <= 0 ? 0 : left > 100 ? 100 : (int)left;
}

/* The child's record from FD, until it closes FD.  A stop signal is passed
 * on to the child; a child still running a grace after that, or after
 * DEADLINE, is killed (*KILLED: by the deadline, or the signal's number). */
static bool read_record(int fd, pid_t child, long long deadline, struct learned *out, int *killed)
{
	long long limit = deadline + DEADLINE_GRACE_MS;
	size_t got = 0;
	int stop = 0;
	struct learned rec;

	*killed = 0;
	while (got < sizeof(rec)) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int n;
		if (deadline_stop_signal && !stop) {
			stop = deadline_stop_signal;
			kill(child, stop); /* PID 1 got it; the child did not */
			limit = deadline_min(limit, deadline_now() + STOP_GRACE_MS);
		}
		if (deadline_now() >= limit) {
			kill(child, SIGKILL);
			*killed = stop ? stop : -1;
			break;
		}
		n = poll(&pfd, 1, slice_until(limit));
		if (n <= 0)
			continue; /* a slice passed, or a signal: both looked at above */
		ssize_t r = read(fd, (char *)&rec + got, sizeof(rec) - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	if (got == sizeof(rec) && learned_valid(&rec)) {
		memcpy(out, &rec, sizeof(rec));
		explicit_bzero(&rec, sizeof(rec));
		return true;
	}
	explicit_bzero(&rec, sizeof(rec));
	return false;
}

static int child_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return EX_OSERR;
		if (deadline_stop_signal)
			kill(pid, deadline_stop_signal);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return EX_SIGNAL_BASE + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void child(int fd, const struct config *c, const bool *md5, long long start,
		  long long deadline, bool learn, const struct runas *ra)
{
	struct learned l;
	int rc;

	learned_init(&l);
	rc = runas_drop(ra);
	if (!rc)
		rc = wait_and_learn(c, md5, start, deadline, learn, &l);
	if (!rc && write(fd, &l, sizeof(l)) != (ssize_t)sizeof(l))
		rc = EX_OSERR;
	explicit_bzero(&l, sizeof(l));
	fflush(NULL);
	_exit(rc);
}

static int learn_as_child(const struct config *c, const bool *md5, long long start,
			  long long deadline, bool learn, const struct runas *ra,
			  struct learned *out)
{
	int fds[2], rc, killed;
	bool ok;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0 || (fflush(NULL), pid = fork()) < 0) {
		log_error("could not start the login as the run user: %s", strerror(errno));
		return EX_OSERR;
	}
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], c, md5, start, deadline, learn, ra);
	}
	close(fds[1]);
	deadline_install_signals();
	ok = read_record(fds[0], pid, deadline, out, &killed);
	close(fds[0]);
	rc = child_status(pid);
	deadline_restore_signals();
	if (killed > 0) {
		log_info("received signal %d during a login (computing its SCRAM proof); stopping",
			 killed);
		return EX_SIGNAL_BASE + killed;
	}
	if (killed < 0) {
		log_error("the login to the upstream was still computing its SCRAM proof at the "
			  "deadline (%.0f s, --wait-timeout / PGBOUNCER_WAIT_TIMEOUT)",
			  (deadline_now() - start) / 1000.0);
		return EX_UNAVAILABLE;
	}
	if (rc == 0 && !ok) {
		log_error("the login as the run user sent back no valid result");
		return EX_OSERR;
	}
	return rc;
}

int learn_phase(const struct config *c, const bool *md5, long timeout, bool learn,
		const struct runas *ra, struct learned *out)
{
	/* one deadline, from here: the address check's lookup counts too */
	long long start = deadline_now(), deadline = start + timeout * 1000LL;
	int rc;

	learned_init(out);
	deadline_install_signals();
	rc = wait_check_not_self(c, deadline);
	deadline_restore_signals();
	if (rc)
		return rc;
	if (timeout == 0 || c->nup == 0) {
		if (c->nup == 0)
			log_info("no upstream in the environment: not waiting");
		return 0;
	}
	return learn_as_child(c, md5, start, deadline, learn, ra, out);
}
