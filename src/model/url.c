#include "model/url.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"

/* Schemes dj-database-url accepts for PostgreSQL that libpq does not. */
static const char *const alias_schemes[] = {"pgsql://", "postgis://", "timescale://"};

static bool has_scheme(const char *s)
{
	return strncasecmp(s, "postgres://", 11) == 0 || strncasecmp(s, "postgresql://", 13) == 0;
}

static const char *scheme_alias(const char *s)
{
	for (size_t i = 0; i < sizeof(alias_schemes) / sizeof(alias_schemes[0]); i++)
		if (strncasecmp(s, alias_schemes[i], strlen(alias_schemes[i])) == 0)
			return s + strlen(alias_schemes[i]);
	return NULL;
}

/* libpq's messages quote the offending part of the URL, which may be the
 * password, and a password may itself hold '"': keep only the words before
 * the first quote, never any part of the value (issue 8, item 9). */
static void log_parse_error(const char *origin, const char *err)
{
	const char *msg = err ? err : "";
	size_t n = strcspn(msg, "\"\n");

	while (n > 0 && strchr(" :", msg[n - 1]))
		n--;
	if (n >= 3 && !strncmp(msg + n - 3, " in", 3))
		n -= 3;
	log_error("%s is not a valid PostgreSQL URL: %.*s; percent-encode '@' ':' '/' '?' "
		  "'#' '%%' and spaces in the user name and password (%%40 %%3A %%2F %%3F "
		  "%%23 %%25 %%20)",
		  origin, (int)n, msg);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* All ports of a host list must agree: pgbouncer has one port per database.
 * libpq leaves an empty entry for a host written without a port. */
static int one_port(struct upstream *u, const char *ports, const char *origin)
{
	char *first = NULL;

	for (const char *p = ports; p && *p;) {
		size_t len = strcspn(p, ",");
		char *this = len ? strndup(p, len) : strdup("5432");
		if (!this)
			break;
		if (first && strcmp(first, this) != 0) {
			/* the list is part of the URL, which may hold the password
			 * where a port was meant: name the variable, not the ports */
			log_error("%s lists hosts with different ports; pgbouncer uses one port "
				  "for all hosts of a database",
				  origin);
			free(this);
			free(first);
			return EX_CONFIG;
		}
		if (!first)
			first = this;
		else
			free(this);
		p += len + (p[len] == ',');
	}
	if (ports && ports[strspn(ports, ",")] == '\0') {
		free(first); /* no host named a port: leave the default to later */
		first = NULL;
	}
	u->port = first;
	return 0;
}

static int take_option(struct upstream *u, const PQconninfoOption *o, const char *origin)
{
	const char *k = o->keyword;

	if (strcmp(k, "host") == 0)
		u->host = dup_or_null(o->val);
	else if (strcmp(k, "port") == 0)
		return one_port(u, o->val, origin);
	else if (strcmp(k, "dbname") == 0)
		u->dbname = dup_or_null(o->val);
	else if (strcmp(k, "user") == 0)
		u->user = dup_or_null(o->val);
	else if (strcmp(k, "password") == 0)
		u->password = o->val ? strdup(o->val) : NULL;
	else if (strcmp(k, "sslmode") == 0)
		u->sslmode = dup_or_null(o->val);
	else if (strcmp(k, "application_name") == 0)
		u->application_name = dup_or_null(o->val);
	else if (strcmp(k, "connect_timeout") == 0 || strcmp(k, "fallback_application_name") == 0)
		log_warn("%s: parameter %s has no pgbouncer equivalent and is ignored", origin, k);
	else {
		log_error("%s: parameter %s is not supported; pgbouncer's [databases] accepts "
			  "host, port, dbname, user, password, application_name, and sslmode "
			  "for server_tls_sslmode",
			  origin, k);
		return EX_CONFIG;
	}
	return 0;
}

int url_parse(const char *text, struct upstream *u, const char *origin)
{
	PQconninfoOption *opts;
	char *err = NULL;
	struct buf fixed;
	const char *rest = scheme_alias(text);
	int rc = 0;

	buf_init(&fixed);
	if (rest) {
		buf_puts(&fixed, "postgresql://");
		buf_puts(&fixed, rest);
		text = buf_str(&fixed);
	}
	opts = PQconninfoParse(text, &err);
	buf_free_secret(&fixed);
	if (!opts) {
		log_parse_error(origin, err);
		PQfreemem(err);
		return EX_CONFIG;
	}
	for (PQconninfoOption *o = opts; o->keyword && rc == 0; o++) {
		if (o->val)
			rc = take_option(u, o, origin);
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val && strcmp(o->keyword, "password") == 0)
			memset(o->val, 0, strlen(o->val));
	}
	PQconninfoFree(opts);
	return rc;
}

static bool scheme_at(const char *p)
{
	return has_scheme(p) || scheme_alias(p) != NULL;
}

/* Too many URLs, or out of memory: nothing is handed out.  The URLs may
 * hold passwords, so they are wiped. */
static int split_fail(char **out, int n)
{
	for (int i = 0; i < n; i++) {
		memset(out[i], 0, strlen(out[i]));
		free(out[i]);
	}
	return -1;
}

int url_split_list(const char *text, char **out, int max)
{
	int n = 0;
	const char *p = text, *start;

	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		start = p;
		/* run to a separator that is followed by the next URL's scheme */
		while (*p) {
			if (*p == ',' || isspace((unsigned char)*p)) {
				const char *q = p;
				while (*q == ',' || isspace((unsigned char)*q))
					q++;
				if (!*q || scheme_at(q))
					break;
			}
			p++;
		}
		if (n == max || !(out[n] = strndup(start, (size_t)(p - start))))
			return split_fail(out, n);
		n++;
	}
	return n;
}
