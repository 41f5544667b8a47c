#include "pg/pgio.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base/deadline.h"

/* Each poll is at most a slice (deadline_poll), then PQconnectPoll is called
 * only when the socket is ready: it never blocks on the network itself once
 * hostaddr spares it the name lookup (resolve.h). */
static enum pgio_result drive(PGconn *conn, long long deadline, struct upauth_guard *g,
			      bool until_auth);

enum pgio_result pgio_login(PGconn *conn, long long deadline)
{
	return drive(conn, deadline, NULL, false);
}

enum pgio_result pgio_login_guarded(PGconn *conn, long long deadline, struct upauth_guard *g)
{
	return drive(conn, deadline, g, false);
}

enum pgio_result pgio_login_authenticated(PGconn *conn, long long deadline)
{
	return drive(conn, deadline, NULL, true);
}

/* between two looks at a message that has not all come yet */
#define MORE_MS 5

/* What has arrived on CONN's connection and libpq has not read, into P
 * (at most CAP bytes): its length, 0 when nothing yet, -1 at the end of
 * the connection (libpq then reports it). */
static ssize_t peek(PGconn *conn, unsigned char *p, size_t cap)
{
	SSL *ssl = PQsslInUse(conn) ? PQsslStruct(conn, "OpenSSL") : NULL;
	ssize_t n;

	if (ssl) {
		/* decrypted, left for libpq's SSL_read: one record at most */
		n = SSL_peek(ssl, p, (int)cap);
		if (n > 0)
			return n;
		int e = SSL_get_error(ssl, (int)n);
		ERR_clear_error();
		return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
	}
	n = recv(PQsocket(conn), p, cap, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return n > 0 ? n : -1;
}

/* May libpq go on reading CONN?  Only a login's authentication requests are
 * looked at: PQconnectPoll reads once per call and answers every request in
 * what it read, so each batch is checked whole before it reads it. */
static enum upauth_verdict guard(PGconn *conn, struct upauth_guard *g)
{
	unsigned char p[16384];
	struct stat st;
	ssize_t n;

	/* the one-byte answer to the SSLRequest: libpq reads whatever came
	 * with it into its buffer and, after 'N', answers an authentication
	 * request found there once the startup packet is out, before any look
	 * here could see it.  So nothing may come with an 'N'.  (After 'S'
	 * libpq refuses what follows itself, and any other first byte is not
	 * PostgreSQL: libpq fails, and the wait tries again.) */
	if (PQstatus(conn) == CONNECTION_SSL_STARTUP && !PQsslInUse(conn)) {
		n = recv(PQsocket(conn), p, 2, MSG_PEEK | MSG_DONTWAIT);
		if (n == 2 && p[0] == 'N') {
			snprintf(g->why, sizeof(g->why),
				 "the server sent more than its one-byte answer to the TLS request "
				 "(an authentication request hidden behind it): not PostgreSQL, or "
				 "something in between");
			return UPAUTH_REFUSE;
		}
		return UPAUTH_GO;
	}
	if (PQstatus(conn) != CONNECTION_AWAITING_RESPONSE)
		return UPAUTH_GO;
	/* a new socket: libpq went on to the next host or sslmode try */
	if (fstat(PQsocket(conn), &st) == 0 && st.st_ino != g->sock) {
		upauth_guard_init(g, g->allow);
		g->sock = st.st_ino;
	}
	n = peek(conn, p, sizeof(p));
	if (n < 0)
		return UPAUTH_GO;
	return n == 0 ? UPAUTH_MORE : upauth_check(g, p, (size_t)n, n == (ssize_t)sizeof(p));
}

/* The one login loop: G (NULL: none) sees each authentication request
 * first; UNTIL_AUTH ends it at "authentication ok", before the rest. */
static enum pgio_result drive(PGconn *conn, long long deadline, struct upauth_guard *g,
			      bool until_auth)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (!conn || PQstatus(conn) == CONNECTION_BAD)
		return PGIO_FAILED;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		struct pollfd pfd = {PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
				     0};
		enum deadline_result r;
		enum upauth_verdict v = UPAUTH_GO;

		if (until_auth && PQstatus(conn) == CONNECTION_AUTH_OK)
			return PGIO_OK;
		r = deadline_poll(&pfd, 1, deadline);
		if (r == DEADLINE_STOPPED)
			return PGIO_STOPPED;
		if (r == DEADLINE_PASSED)
			return PGIO_TIMEOUT;
		if (g && st == PGRES_POLLING_READING && (v = guard(conn, g)) == UPAUTH_MORE) {
			/* a message in pieces (rare: servers send each whole): what
			 * came is still readable, so the poll would not wait for the
			 * rest; a short sleep does */
			if (deadline_sleep(deadline_min(deadline_now() + MORE_MS, deadline)) ==
			    DEADLINE_STOPPED)
				return PGIO_STOPPED;
			continue;
		}
		if (v == UPAUTH_REFUSE)
			return PGIO_REFUSED;
		st = PQconnectPoll(conn);
	}
	return st == PGRES_POLLING_OK ? PGIO_OK : PGIO_FAILED;
}

/* Wait until CONN has a whole result (PQisBusy false). */
static enum pgio_result until_result(PGconn *conn, long long deadline)
{
	while (PQisBusy(conn)) {
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		enum deadline_result r = deadline_poll(&pfd, 1, deadline);
		if (r == DEADLINE_STOPPED)
			return PGIO_STOPPED;
		if (r == DEADLINE_PASSED)
			return PGIO_TIMEOUT;
		if (!PQconsumeInput(conn))
			return PGIO_FAILED;
	}
	return PGIO_OK;
}

/* Non-blocking send: a server that stops reading cannot stall PQflush. */
static enum pgio_result flush_within(PGconn *conn, long long deadline)
{
	int f;

	while ((f = PQflush(conn)) == 1) {
		struct pollfd pfd = {PQsocket(conn), POLLOUT | POLLIN, 0};
		enum deadline_result r = deadline_poll(&pfd, 1, deadline);
		if (r == DEADLINE_STOPPED)
			return PGIO_STOPPED;
		if (r == DEADLINE_PASSED)
			return PGIO_TIMEOUT;
		if ((pfd.revents & POLLIN) && !PQconsumeInput(conn))
			return PGIO_FAILED;
	}
	return f == 0 ? PGIO_OK : PGIO_FAILED;
}

enum pgio_result pgio_query(PGconn *conn, const char *sql, long long deadline, PGresult **res)
{
	enum pgio_result r;
	PGresult *next;

	*res = NULL;
	if (PQsetnonblocking(conn, 1) != 0 || !PQsendQuery(conn, sql))
		return PGIO_FAILED;
	if ((r = flush_within(conn, deadline)) != PGIO_OK)
		return r;
	/* the first result is the answer; drain the rest to the end */
	while ((r = until_result(conn, deadline)) == PGIO_OK && (next = PQgetResult(conn))) {
		if (!*res)
			*res = next;
		else
			PQclear(next);
	}
	if (r != PGIO_OK) {
		PQclear(*res);
		*res = NULL;
	}
	return r == PGIO_OK && !*res ? PGIO_FAILED : r;
}

const char *pgio_stage(const PGconn *conn)
{
	switch (PQstatus(conn)) {
	case CONNECTION_STARTED:
		return "the TCP connection";
	case CONNECTION_MADE:
	case CONNECTION_AWAITING_RESPONSE:
		return "the answer to the login";
	case CONNECTION_SSL_STARTUP:
		return "the answer to the TLS request or the TLS handshake";
	case CONNECTION_OK:
		return "the answer to a query";
	default:
		return "the end of the login (the server accepted the password)";
	}
}

void pgio_finish(PGconn *conn)
{
	if (conn)
		PQsetnonblocking(conn, 1);
	PQfinish(conn);
}

bool pgio_send(PGconn *conn, const char *sql)
{
	return PQsendQuery(conn, sql) && PQflush(conn) == 0;
}

bool pgio_wait_closed(PGconn *conn, long long deadline)
{
	PQsetnonblocking(conn, 1);
	while (PQstatus(conn) == CONNECTION_OK) {
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};

		if (deadline_poll(&pfd, 1, deadline) != DEADLINE_READY)
			return false;
		/* EOF: the peer closed the connection */
		if (!PQconsumeInput(conn))
			return true;
		while (!PQisBusy(conn)) {
			PGresult *r = PQgetResult(conn);
			if (!r)
				break;
			PQclear(r);
		}
	}
	return true;
}
