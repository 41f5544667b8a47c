/* Checking one upstream once gathered: required fields, defaults, values
 * each file can hold, the pool pointed at itself, duplicates.  Every
 * refusal names the variable that set the field. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "model/quote.h"
#include "model/upstream.h"
#include "model/upstream_check.h"
#include "model/vars.h"

static bool from_discrete(const char *var)
{
	return !strncmp(var, "DB_", 3) || !strncmp(var, "POSTGRESQL_", 11);
}

static int require(const struct upstream *u, enum upstream_field f, const char *var)
{
	if (*upstream_field((struct upstream *)u, f))
		return EX_OK;
	if (from_discrete(u->origin))
		log_error("%s is not set: it gives the upstream %s", var, upstream_field_names[f]);
	else
		log_error("%s has no %s; add it to the URL", u->origin, upstream_field_names[f]);
	return EX_CONFIG;
}

static int require_password(const struct upstream *u)
{
	if (u->password)
		return EX_OK;
	if (!from_discrete(u->origin))
		log_error("%s has no password: add it to the URL (percent-encoded) or set "
			  "DB_PASSWORD or DB_PASSWORD_FILE",
			  u->origin);
	else
		log_error("DB_PASSWORD is not set: pgbouncer needs the upstream password to log in "
			  "(set DB_PASSWORD or DB_PASSWORD_FILE)");
	return EX_CONFIG;
}

static bool port_ok(const char *p)
{
	char *end;
	long n;

	if (!p || !isdigit((unsigned char)*p))
		return false;
	n = strtol(p, &end, 10);
	return *end == '\0' && n >= 1 && n <= 65535 && p[0] != '0';
}

/* "VAR: the WHAT WHY", with the value only when VAR may show it. */
static int refuse(const struct upstream *u, enum upstream_field f, const char *what,
		  const char *why, const char *value)
{
	const char *var = upstream_from(u, f);

	if (value && !vars_is_secret(var))
		log_error("%s: the %s %s, got \"%s\"", var, what, why, value);
	else
		log_error("%s: the %s %s", var, what, why);
	return EX_CONFIG;
}

static int fill_defaults(struct upstream *u)
{
	if (!u->port && !(u->port = strdup("5432")))
		return EX_OSERR;
	if (!u->dbname) {
		/* libpq's default too, but a surprise when DB_NAME was forgotten:
		 * the login then fails with "database ... does not exist" */
		if (!(u->dbname = strdup(u->user)))
			return EX_OSERR;
		log_info("%s names no database: using the user's name \"%s\" (as libpq does); set "
			 "DB_NAME (or the URL's path) for another",
			 u->origin, u->user);
	}
	if (!u->alias && !(u->alias = strdup(u->dbname)))
		return EX_OSERR;
	if (!u->from[UF_DBNAME][0])
		upstream_set_from(u, UF_DBNAME, u->from[UF_USER]);
	if (!u->from[UF_ALIAS][0])
		upstream_set_from(u, UF_ALIAS, u->from[UF_DBNAME]);
	return EX_OK;
}

static int check_fields(const struct upstream *u)
{
	const char *why = "";

	if (!port_ok(u->port))
		return refuse(u, UF_PORT, "port", "must be a port number (1-65535)", u->port);
	if (!*u->password) {
		log_error("%s: the password is empty; pgbouncer cannot log in with an empty "
			  "password",
			  upstream_from(u, UF_PASSWORD));
		return EX_CONFIG;
	}
	if (!u->all && !quote_db_alias_ok(u->alias, &why))
		return refuse(u, UF_ALIAS, "database name (pool name)", why, NULL);
	if (u->host && !quote_connstr_ok(u->host, &why))
		return refuse(u, UF_HOST, "host", why, NULL);
	if (!quote_connstr_ok(u->dbname, &why))
		return refuse(u, UF_DBNAME, "database name", why, NULL);
	if (!quote_userlist_user_ok(u->user, &why))
		return refuse(u, UF_USER, "user name", why, NULL);
	if (u->application_name && !quote_connstr_ok(u->application_name, &why))
		return refuse(u, UF_HOST, "application_name", why, NULL);
	if (!quote_userlist_value_ok(u->password, &why))
		return refuse(u, UF_PASSWORD, "password", why, NULL);
	return EX_OK;
}

/* NEED_HOST is false when the user's own pgbouncer.ini names the servers:
 * then the variables only feed userlist.txt (and templates). */
int upstream_complete(struct upstream *u, bool need_host)
{
	int rc;

	if (((need_host || u->host) && (rc = require(u, UF_HOST, "DB_HOST"))) ||
	    (rc = require(u, UF_USER, "DB_USER")) || (rc = require_password(u)) ||
	    (rc = fill_defaults(u)))
		return rc;
	return check_fields(u);
}

static bool is_local_name(const char *host, const char *listen_addr)
{
	static const char *const local[] = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"};

	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (strcasecmp(host, local[i]) == 0)
			return true;
	return listen_addr && *listen_addr && strcmp(listen_addr, "*") != 0 &&
	       strcasecmp(host, listen_addr) == 0;
}

/* The seed's deploy script rewrote DB_HOST to the pooler, so a second run
 * pointed the pool at itself.  Refuse what can be seen without the network;
 * the wait phase catches a service name that resolves to this container. */
int upstream_check_self(const struct upstream *u, const char *lp, const char *la)
{
	if (!lp || !u->host || strcmp(u->port, lp) != 0 || !is_local_name(u->host, la))
		return EX_OK;
	if (vars_from_file(upstream_from(u, UF_HOST)))
		log_error("%s points at this pool itself (where pgbouncer listens); set it to the "
			  "database server and give applications the pool's address instead",
			  upstream_from(u, UF_HOST));
	else
		log_error("%s points at this pool itself (%s:%s is where pgbouncer listens); set "
			  "it to the database server and give applications the pool's address "
			  "instead",
			  upstream_from(u, UF_HOST), u->host, u->port);
	return EX_CONFIG;
}

int upstreams_check_unique(const struct upstream *up, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(up[i].alias, up[j].alias) == 0) {
				log_error("%s and %s both define the database \"%s\"; give one of "
					  "them another name",
					  up[j].origin, up[i].origin, up[i].alias);
				return EX_CONFIG;
			}
			/* userlist.txt holds one password per user */
			if (strcmp(up[i].user, up[j].user) == 0 &&
			    strcmp(up[i].password, up[j].password) != 0) {
				log_error("%s and %s give user \"%s\" different passwords; "
					  "userlist.txt holds one password per user",
					  upstream_from(&up[j], UF_PASSWORD),
					  upstream_from(&up[i], UF_PASSWORD), up[i].user);
				return EX_CONFIG;
			}
		}
	}
	return EX_OK;
}
