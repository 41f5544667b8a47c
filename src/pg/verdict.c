#include "pg/verdict.h"

#include <string.h>
#include <strings.h>

#include "base/buf.h"

/* The server's SQLSTATE classes and codes that mean "not now": too many
 * connections (53300) and other lack of resources, starting up or shutting
 * down (57P0x), connection trouble (08).  Any other SQLSTATE is an answer. */
static bool sqlstate_retries(const char *state)
{
	return !strncmp(state, "53", 2) || !strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
	       !strcmp(state, "57P02") || !strcmp(state, "57P03");
}

/* libpq's own texts (English: libpq is built without NLS) and the server's
 * English ones, for failures without a SQLSTATE. */
static const char *const retry_texts[] = {
	"connection refused",
	"could not translate host name",
	"name or service not known",
	"temporary failure in name resolution",
	"no route to host",
	"network is unreachable",
	"timeout expired",
	"the database system is starting up",
	"the database system is shutting down",
	"the database system is in recovery mode",
	"the database system is not yet accepting connections",
	"the database system is not accepting connections",
	"too many clients already",
	"too many connections",
	"remaining connection slots are reserved",
	"server closed the connection unexpectedly",
	"connection reset by peer",
	"no such file or directory",
	"could not receive data",
	"could not send data",
	"host is unreachable",
	"try again",
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
	/* libpq's own checks of the server's SCRAM messages: nothing that
	 * waiting cures */
	{NULL, "server signature", NULL,
	 "the server did not prove it knows the password: check that DB_HOST leads to your "
	 "database and nothing in between (server_tls_sslmode=verify-full proves it)"},
	{NULL, "SCRAM", NULL,
	 "the server did not prove it knows the password: check that DB_HOST leads to your "
	 "database and nothing in between (server_tls_sslmode=verify-full proves it)"},
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

enum attempt_result verdict_of(const char *msg, const char **hint)
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

void verdict_reason(const char *msg, struct buf *out)
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
