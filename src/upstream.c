#include "upstream.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "env.h"
#include "exitcodes.h"
#include "log.h"
#include "quote.h"
#include "url.h"
#include "vars.h"

static const char *const field_names[UF_COUNT] = {
	[UF_HOST] = "host",
	[UF_PORT] = "port",
	[UF_DBNAME] = "database name",
	[UF_USER] = "user name",
	[UF_PASSWORD] = "password",
	[UF_ALIAS] = "pool name",
};

char **upstream_field(struct upstream *u, enum upstream_field f)
{
	switch (f) {
	case UF_HOST:
		return &u->host;
	case UF_PORT:
		return &u->port;
	case UF_DBNAME:
		return &u->dbname;
	case UF_USER:
		return &u->user;
	case UF_ALIAS:
		return &u->alias;
	default:
		return &u->password;
	}
}

const char *upstream_from(const struct upstream *u, enum upstream_field f)
{
	return u->from[f][0] ? u->from[f] : u->origin;
}

static void set_from(struct upstream *u, enum upstream_field f, const char *var)
{
	snprintf(u->from[f], sizeof(u->from[f]), "%s", var);
}

void upstream_free(struct upstream *u)
{
	if (u->password)
		OPENSSL_cleanse(u->password, strlen(u->password));
	free(u->alias);
	free(u->host);
	free(u->port);
	free(u->dbname);
	free(u->user);
	free(u->password);
	free(u->sslmode);
	free(u->application_name);
	memset(u, 0, sizeof(*u));
}

bool upstream_user_first(const struct upstream *up, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(up[j].user, up[i].user) == 0)
			return false;
	return true;
}

/* ---- the sources -------------------------------------------------------- */

struct gather {
	struct upstream *up;
	size_t *n;
	struct env *e;
};

static struct upstream *new_upstream(struct gather *g, const char *origin)
{
	struct upstream *u;

	if (*g->n == MAX_UPSTREAMS) {
		log_error("too many upstream databases (at most %d)", MAX_UPSTREAMS);
		return NULL;
	}
	u = &g->up[(*g->n)++];
	memset(u, 0, sizeof(*u));
	snprintf(u->origin, sizeof(u->origin), "%s", origin);
	return u;
}

/* Every field of a URL-defined upstream comes from the URL's variable. */
static int url_upstream(struct gather *g, const char *text, const char *origin, const char *alias)
{
	struct upstream *u = new_upstream(g, origin);

	if (!u)
		return EX_CONFIG;
	if (alias && !(u->alias = strdup(alias)))
		return EX_OSERR;
	for (int f = 0; f < UF_COUNT; f++)
		set_from(u, (enum upstream_field)f, origin);
	return url_parse(text, u, origin);
}

/* A value of the DB_* or POSTGRESQL_* pair; empty means unset. */
static const char *pair_value(struct env *e, const char *name)
{
	const char *v = env_get(e, name);

	return v && *v ? v : NULL;
}

/* DB_* and bitnami's POSTGRESQL_*: one upstream, or none when all unset. */
static int upstream_from_vars(struct env *e, struct upstream *u, bool *found)
{
	char origin[VAR_NAME_MAX];

	*found = false;
	for (size_t i = 0; i < n_field_vars; i++) {
		const char *na = field_vars[i].names[0], *nb = field_vars[i].names[1];
		const char *a = pair_value(e, na), *b = pair_value(e, nb);
		if (a && b && strcmp(a, b) != 0) {
			log_error("%s and %s are both set, to different values; set only one", na, nb);
			return EX_CONFIG;
		}
		if (!a && !b)
			continue;
		*found = true;
		if (!(*upstream_field(u, field_vars[i].field) = strdup(a ? a : b)))
			return EX_OSERR;
		set_from(u, field_vars[i].field, env_origin(e, a ? na : nb, origin, sizeof(origin)));
	}
	snprintf(u->origin, sizeof(u->origin), "%s",
		 u->from[UF_HOST][0] ? u->from[UF_HOST] : u->from[UF_DBNAME][0] ? u->from[UF_DBNAME]
						       : u->from[UF_USER][0]     ? u->from[UF_USER]
										 : "DB_HOST");
	return EX_OK;
}

static bool same_field(enum upstream_field f, const char *a, const char *b)
{
	if (!a || !b)
		return true; /* unset means unset: nothing to disagree with */
	if (f == UF_HOST)
		return strcasecmp(a, b) == 0;
	return strcmp(a, b) == 0;
}

/* DATABASE_URL and DB_* both set: fine when they agree (the seed's .env.test
 * carried both); an error naming both when they do not. */
static int merge_upstreams(struct upstream *url, struct upstream *vars)
{
	for (int i = 0; i < UF_COUNT; i++) {
		enum upstream_field f = (enum upstream_field)i;
		char **a = upstream_field(url, f), **b = upstream_field(vars, f);
		if (!same_field(f, *a, *b)) {
			if (f == UF_PASSWORD)
				log_error("DATABASE_URL and %s name different passwords; set one of "
					  "them, or make them agree",
					  vars->from[f]);
			else
				log_error("DATABASE_URL and %s name different upstreams (%s \"%s\" vs "
					  "\"%s\"); set one of them, or make them agree",
					  vars->from[f], field_names[f], *a, *b);
			return EX_CONFIG;
		}
		if (!*a && *b) {
			*a = *b;
			*b = NULL;
			set_from(url, f, vars->from[f]);
		}
	}
	return EX_OK;
}

static int primary_upstream(struct gather *g)
{
	struct upstream vars;
	const char *url = env_get(g->e, "DATABASE_URL");
	bool found;
	int rc;

	memset(&vars, 0, sizeof(vars));
	rc = upstream_from_vars(g->e, &vars, &found);
	if (!rc && url && *url) {
		rc = url_upstream(g, url, "DATABASE_URL", NULL);
		if (!rc && found)
			rc = merge_upstreams(&g->up[*g->n - 1], &vars);
	} else if (!rc && found) {
		struct upstream *u = new_upstream(g, vars.origin);
		if (!u)
			rc = EX_CONFIG;
		else {
			*u = vars;
			return EX_OK;
		}
	}
	upstream_free(&vars);
	return rc;
}

static int database_urls(struct gather *g)
{
	const char *list = env_get(g->e, "DATABASE_URLS");
	char *urls[MAX_UPSTREAMS], origin[VAR_NAME_MAX];
	int n, rc = EX_OK;

	if (!list || !*list)
		return EX_OK;
	n = url_split_list(list, urls, MAX_UPSTREAMS);
	if (n < 0) {
		log_error("DATABASE_URLS lists too many URLs (at most %d)", MAX_UPSTREAMS);
		return EX_CONFIG;
	}
	for (int i = 0; i < n; i++) {
		snprintf(origin, sizeof(origin), "DATABASE_URLS (URL %d)", i + 1);
		if (!rc)
			rc = url_upstream(g, urls[i], origin, NULL);
		OPENSSL_cleanse(urls[i], strlen(urls[i]));
		free(urls[i]);
	}
	return rc;
}

/* bitnami's PGBOUNCER_DSN_<N> = "alias=<libpq connection string or URL>" */
static int dsn_upstreams(struct gather *g)
{
	struct env *e = g->e;
	char origin[VAR_NAME_MAX];

	for (size_t i = 0; i < e->n; i++) {
		const char *name = e->v[i].name, *v = e->v[i].value, *eq;
		char alias[128];
		if (!vars_is_dsn(name) || !*v)
			continue;
		e->v[i].used = true;
		env_origin(e, name, origin, sizeof(origin));
		eq = strchr(v, '=');
		if (!eq || eq == v || (size_t)(eq - v) >= sizeof(alias)) {
			log_error("%s must look like \"alias=host=... dbname=...\" or "
				  "\"alias=postgresql://...\"",
				  origin);
			return EX_CONFIG;
		}
		snprintf(alias, sizeof(alias), "%.*s", (int)(eq - v), v);
		int rc = url_upstream(g, eq + 1, origin, alias);
		if (rc)
			return rc;
	}
	return EX_OK;
}

/* ---- checks -------------------------------------------------------------- */

static bool from_discrete(const char *var)
{
	return !strncmp(var, "DB_", 3) || !strncmp(var, "POSTGRESQL_", 11);
}

static int require(const struct upstream *u, enum upstream_field f, const char *var)
{
	if (*upstream_field((struct upstream *)u, f))
		return EX_OK;
	if (from_discrete(u->origin))
		log_error("%s is not set: it gives the upstream %s", var, field_names[f]);
	else
		log_error("%s has no %s; add it to the URL", u->origin, field_names[f]);
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
	if (!u->dbname && !(u->dbname = strdup(u->user)))
		return EX_OSERR;
	if (!u->alias && !(u->alias = strdup(u->dbname)))
		return EX_OSERR;
	if (!u->from[UF_DBNAME][0])
		set_from(u, UF_DBNAME, u->from[UF_USER]);
	if (!u->from[UF_ALIAS][0])
		set_from(u, UF_ALIAS, u->from[UF_DBNAME]);
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
	if (!db_alias_ok(u->alias, &why))
		return refuse(u, UF_ALIAS, "database name (pool name)", why, NULL);
	if (u->host && !connstr_value_ok(u->host, &why))
		return refuse(u, UF_HOST, "host", why, NULL);
	if (!connstr_value_ok(u->dbname, &why))
		return refuse(u, UF_DBNAME, "database name", why, NULL);
	if (!userlist_user_ok(u->user, &why))
		return refuse(u, UF_USER, "user name", why, NULL);
	if (u->application_name && !connstr_value_ok(u->application_name, &why))
		return refuse(u, UF_HOST, "application_name", why, NULL);
	if (!userlist_value_ok(u->password, &why))
		return refuse(u, UF_PASSWORD, "password", why, NULL);
	return EX_OK;
}

/* NEED_HOST is false when the user's own pgbouncer.ini names the servers:
 * then the variables only feed userlist.txt (and templates). */
static int complete_upstream(struct upstream *u, bool need_host)
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
static int check_self_loop(const struct upstream *u, const char *lp, const char *la)
{
	if (!lp || !u->host || strcmp(u->port, lp) != 0 || !is_local_name(u->host, la))
		return EX_OK;
	log_error("%s points at this pool itself (%s:%s is where pgbouncer listens); set it "
		  "to the database server and give applications the pool's address instead",
		  upstream_from(u, UF_HOST), u->host, u->port);
	return EX_CONFIG;
}

static int check_unique(const struct upstream *up, size_t n)
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

int upstreams_gather(struct upstream *up, size_t *n, struct env *e, bool need,
		     const char *listen_port, const char *listen_addr)
{
	struct gather g = {up, n, e};
	const char *alias = env_get(e, "PGBOUNCER_DATABASE");
	int rc;

	*n = 0;
	if ((rc = primary_upstream(&g)) || (rc = database_urls(&g)) || (rc = dsn_upstreams(&g)))
		return rc;
	if (*n == 0) {
		if (!need)
			return EX_OK;
		log_error("no upstream database: set DATABASE_URL, or DB_HOST, DB_NAME, DB_USER "
			  "and DB_PASSWORD");
		return EX_CONFIG;
	}
	if (alias && *alias && !up[0].alias && !vars_is_dsn(up[0].origin)) {
		if (!(up[0].alias = strdup(alias)))
			return EX_OSERR;
		char origin[VAR_NAME_MAX];
		set_from(&up[0], UF_ALIAS,
			 env_origin(e, "PGBOUNCER_DATABASE", origin, sizeof(origin)));
	}
	for (size_t i = 0; i < *n; i++)
		if ((rc = complete_upstream(&up[i], need)) ||
		    (need && (rc = check_self_loop(&up[i], listen_port, listen_addr))))
			return rc;
	return check_unique(up, *n);
}
