/* Where the upstream databases come from: DATABASE_URL, DATABASE_URL_<ALIAS>,
 * DB_* (and their _FILE twins), PGBOUNCER_DSN_<ALIAS>, PGBOUNCER_POOL_ALL.
 * Gathered into struct upstream (upstream.h), then checked (upstream_check.h). */
#include "model/gather.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "model/env.h"
#include "model/settings.h"
#include "model/upstream_check.h"
#include "model/url.h"
#include "model/vars.h"

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
		upstream_set_from(u, (enum upstream_field)f, origin);
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
	for (size_t i = 0; i < vars_n_fields; i++) {
		const char *na = vars_fields[i].names[0], *nb = vars_fields[i].names[1];
		const char *a = pair_value(e, na), *b = pair_value(e, nb);
		if (a && b && strcmp(a, b) != 0) {
			log_error("%s and %s are both set, to different values; set only one", na,
				  nb);
			return EX_CONFIG;
		}
		if (!a && !b)
			continue;
		*found = true;
		if (!(*upstream_field(u, vars_fields[i].field) = strdup(a ? a : b)))
			return EX_OSERR;
		upstream_set_from(u, vars_fields[i].field,
				  env_origin(e, a ? na : nb, origin, sizeof(origin)));
	}
	snprintf(u->origin, sizeof(u->origin), "%s",
		 u->from[UF_HOST][0]     ? u->from[UF_HOST]
		 : u->from[UF_DBNAME][0] ? u->from[UF_DBNAME]
		 : u->from[UF_USER][0]   ? u->from[UF_USER]
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
				log_error(
					"DATABASE_URL and %s name different passwords; set one of "
					"them, or make them agree",
					vars->from[f]);
			else if (vars_is_secret(vars->from[f]))
				/* a value read from a file is never echoed (item 9) */
				log_error("DATABASE_URL and %s name different upstreams (%s); set "
					  "one of them, or make them agree",
					  vars->from[f], upstream_field_names[f]);
			else
				/* only the variable's side: any part of the URL may be
				 * the password when the URL is malformed (item 9) */
				log_error("DATABASE_URL and %s name different upstreams (%s is "
					  "\"%s\"); set one of them, or make them agree",
					  vars->from[f], vars->from[f], *b);
			return EX_CONFIG;
		}
		if (!*a && *b) {
			*a = *b;
			*b = NULL;
			upstream_set_from(url, f, vars->from[f]);
		}
	}
	return EX_OK;
}

static int primary_upstream(struct gather *g)
{
	struct upstream vars;
	const char *url = env_get(g->e, "DATABASE_URL");
	char origin[VAR_NAME_MAX];
	bool found;
	int rc;

	memset(&vars, 0, sizeof(vars));
	rc = upstream_from_vars(g->e, &vars, &found);
	if (!rc && url && *url) {
		/* DATABASE_URL_FILE when read from a file: never echoed (item 9) */
		env_origin(g->e, "DATABASE_URL", origin, sizeof(origin));
		rc = url_upstream(g, url, origin, NULL);
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
		snprintf(origin, sizeof(origin), "%s (URL %d)",
			 env_find(g->e, "DATABASE_URLS")->file ? "DATABASE_URLS_FILE"
							       : "DATABASE_URLS",
			 i + 1);
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

/* PGBOUNCER_POOL_ALL=1: the one upstream becomes pgbouncer's "*" entry, so
 * every database of that server is pooled under its own name (edoburu's
 * default when DB_NAME is unset).  DB_NAME, or the user's name, remains
 * the database the wait logs in to. */
static int pool_all(struct upstream *up, size_t n, struct env *e)
{
	const char *v = env_get(e, "PGBOUNCER_POOL_ALL");
	char origin[VAR_NAME_MAX];
	bool on;

	if (!v || !*v)
		return EX_OK;
	if (!setting_bool_parse(v, &on)) {
		log_error("PGBOUNCER_POOL_ALL must be a boolean (1/0, true/false, yes/no, on/off), "
			  "got \"%s\"",
			  v);
		return EX_CONFIG;
	}
	if (!on)
		return EX_OK;
	if (n != 1 || up[0].alias) {
		log_error("PGBOUNCER_POOL_ALL pools every database of one server: it takes DB_HOST "
			  "or DATABASE_URL alone, without DATABASE_URLS, PGBOUNCER_DSN_<N> or "
			  "PGBOUNCER_DATABASE");
		return EX_CONFIG;
	}
	if (!(up[0].alias = strdup("*")))
		return EX_OSERR;
	up[0].all = true;
	upstream_set_from(&up[0], UF_ALIAS,
			  env_origin(e, "PGBOUNCER_POOL_ALL", origin, sizeof(origin)));
	return EX_OK;
}

int gather_upstreams(struct upstream *up, size_t *n, struct env *e, bool need,
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
		upstream_set_from(&up[0], UF_ALIAS,
				  env_origin(e, "PGBOUNCER_DATABASE", origin, sizeof(origin)));
	}
	if ((rc = pool_all(up, *n, e)))
		return rc;
	for (size_t i = 0; i < *n; i++)
		if ((rc = upstream_complete(&up[i], need)) ||
		    (need && (rc = upstream_check_self(&up[i], listen_port, listen_addr))))
			return rc;
	return upstreams_check_unique(up, *n);
}
