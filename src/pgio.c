#include "pgio.h"

#include <poll.h>

#include "deadline.h"

/* Each poll is at most a slice (deadline_poll), then PQconnectPoll is called
 * only when the socket is ready: it never blocks on the network itself once
 * hostaddr spares it the name lookup (resolve.h). */
enum pgio_result pgio_login(PGconn *conn, long long deadline)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (!conn || PQstatus(conn) == CONNECTION_BAD)
		return PGIO_FAILED;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		struct pollfd pfd = {PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
				     0};
		enum deadline_result r = deadline_poll(&pfd, 1, deadline);
		if (r == DEADLINE_STOPPED)
			return PGIO_STOPPED;
		if (r == DEADLINE_PASSED)
			return PGIO_TIMEOUT;
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
