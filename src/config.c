#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "quote.h"
#include "settings.h"
#include "url.h"

#define EX_CONFIG 78
#define DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

/* ---- the variables this program knows ---------------------------------- */

/* One upstream field and the variables that may set it: the seed's DB_* name
 * first, then bitnami's. */
struct field_vars {
	const char *field;
	const char *names[2];
};

static const struct field_vars discrete[] = {
	{"host", {"DB_HOST", "POSTGRESQL_HOST"}},
	{"port", {"DB_PORT", "POSTGRESQL_PORT"}},
	{"dbname", {"DB_NAME", "POSTGRESQL_DATABASE"}},
	{"user", {"DB_USER", "POSTGRESQL_USERNAME"}},
	{"password", {"DB_PASSWORD", "POSTGRESQL_PASSWORD"}},
};
#define N_DISCRETE (sizeof(discrete) / sizeof(discrete[0]))

/* bitnami names for settings whose upper-cased name differs */
static const struct {
	const char *var;
	const char *setting;
} aliases[] = {
	{"PGBOUNCER_LISTEN_ADDRESS", "listen_addr"},
	{"PGBOUNCER_LOG_FILE", "logfile"},
	{"PGBOUNCER_PORT", "listen_port"},
	{"PGBOUNCER_SOCKET_DIR", "unix_socket_dir"},
	{"PGBOUNCER_SOCKET_GROUP", "unix_socket_group"},
	{"PGBOUNCER_SOCKET_MODE", "unix_socket_mode"},
};
#define N_ALIASES (sizeof(aliases) / sizeof(aliases[0]))

/* Other names read elsewhere (the upstream list, options, per-database). */
static const char *const other_vars[] = {
	"DATABASE_URL", "DATABASE_URLS", "PGBOUNCER_DATABASE", "PGBOUNCER_CONFIG_DIR",
	"PGBOUNCER_RUN_USER", "PGBOUNCER_WAIT_TIMEOUT", "POOL_SIZE", "CLIENT_ENCODING",
	"TIMEZONE",
};
#define N_OTHER (sizeof(other_vars) / sizeof(other_vars[0]))

/* bitnami variables with no equivalent here, and what to do instead. */
static const struct {
	const char *var;
	const char *fix;
	bool fatal;
} unsupported[] = {
	{"PGBOUNCER_CONNECT_QUERY", "not supported: put connect_query in a pgbouncer.ini.template", true},
	{"PGBOUNCER_DAEMON_GROUP", "not supported: use --user UID:GID or PGBOUNCER_RUN_USER", true},
	{"PGBOUNCER_DAEMON_USER", "not supported: use --user UID:GID or PGBOUNCER_RUN_USER", true},
	{"PGBOUNCER_EXTRA_FLAGS", "not supported: pass arguments after -- to the run command", true},
	{"PGBOUNCER_FAIL_ON_INVALID_DSN_FILE", "is ignored: an unreadable _FILE is always an error", false},
	{"PGBOUNCER_FORCE_INITSCRIPTS", "is ignored: this image runs no init scripts", false},
	{"PGBOUNCER_INIT_MAX_RETRIES", "is ignored: use PGBOUNCER_WAIT_TIMEOUT (seconds)", false},
	{"PGBOUNCER_INIT_SLEEP_TIME", "is ignored: use PGBOUNCER_WAIT_TIMEOUT (seconds)", false},
	{"PGBOUNCER_SET_DATABASE_PASSWORD", "not supported: the upstream password goes to userlist.txt", true},
	{"PGBOUNCER_SET_DATABASE_USER", "not supported: use AUTH_TYPE=any for a forced user", true},
	{"PGBOUNCER_USERLIST", "not supported: mount a userlist.txt or use userlist.txt.template", true},
};
#define N_UNSUPPORTED (sizeof(unsupported) / sizeof(unsupported[0]))

static void upper(char *dst, const char *prefix, const char *name, size_t len)
{
	size_t i = strlen(prefix);

	snprintf(dst, len, "%s", prefix);
	for (; *name && i + 1 < len; name++)
		dst[i++] = (char)toupper((unsigned char)*name);
	dst[i] = '\0';
}

static bool is_dsn_var(const char *name)
{
	const char *p = name + strlen("PGBOUNCER_DSN_");

	if (strncmp(name, "PGBOUNCER_DSN_", 14) != 0 || !*p)
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

/* The setting a variable name sets, or NULL. */
static const struct setting *setting_for_var(const char *name)
{
	char low[128];
	size_t i;

	for (i = 0; i < N_ALIASES; i++)
		if (strcmp(name, aliases[i].var) == 0)
			return setting_find(aliases[i].setting);
	bool prefixed = strncmp(name, "PGBOUNCER_", 10) == 0;
	const char *rest = prefixed ? name + 10 : name;
	for (i = 0; rest[i] && i + 1 < sizeof(low); i++) {
		if (islower((unsigned char)rest[i]))
			return NULL; /* names are upper case */
		low[i] = (char)tolower((unsigned char)rest[i]);
	}
	low[i] = '\0';
	const struct setting *s = setting_find(low);
	if (s && (prefixed || s->bare))
		return s;
	return NULL;
}

bool config_file_capable(const char *name)
{
	size_t i;

	for (i = 0; i < N_DISCRETE; i++)
		if (!strcmp(name, discrete[i].names[0]) || !strcmp(name, discrete[i].names[1]))
			return true;
	for (i = 0; i < N_OTHER; i++)
		if (!strcmp(name, other_vars[i]))
			return true;
	return is_dsn_var(name) || setting_for_var(name) != NULL;
}

/* ---- unknown PGBOUNCER_* names ------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[128], cur[128];

	if (la >= 127 || lb >= 127)
		return 999;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

static void consider(const char *cand, const char *name, size_t *best, char *out, size_t len)
{
	size_t d = edit_distance(name, cand);

	if (d < *best) {
		*best = d;
		snprintf(out, len, "%s", cand);
	}
}

static void suggest(const char *name, char *out, size_t len)
{
	size_t best = 999;
	char cand[128];

	out[0] = '\0';
	for (size_t i = 0; i < n_settings; i++) {
		upper(cand, "PGBOUNCER_", settings[i].name, sizeof(cand));
		consider(cand, name, &best, out, len);
	}
	for (size_t i = 0; i < N_ALIASES; i++)
		consider(aliases[i].var, name, &best, out, len);
	for (size_t i = 0; i < N_OTHER; i++)
		consider(other_vars[i], name, &best, out, len);
	if (best > strlen(name) / 3 + 1)
		out[0] = '\0';
}

static int check_one_unknown(const char *name)
{
	char base[160], hint[128];
	size_t n = strlen(name);

	for (size_t i = 0; i < N_UNSUPPORTED; i++) {
		if (strcmp(name, unsupported[i].var) == 0) {
			if (unsupported[i].fatal) {
				log_error("%s is a bitnami variable that is %s", name, unsupported[i].fix);
				return EX_CONFIG;
			}
			log_warn("%s %s", name, unsupported[i].fix);
			return 0;
		}
	}
	if (config_file_capable(name))
		return 0;
	if (n > 5 && strcmp(name + n - 5, "_FILE") == 0 && n - 5 < sizeof(base)) {
		memcpy(base, name, n - 5);
		base[n - 5] = '\0';
		if (config_file_capable(base))
			return 0;
	}
	suggest(name, hint, sizeof(hint));
	if (hint[0])
		log_error("unknown variable %s: did you mean %s?", name, hint);
	else
		log_error("unknown variable %s: no pgbouncer setting has that name "
			  "(see pgbouncer-entrypoint --help)", name);
	return EX_CONFIG;
}

int config_check_unknown(struct env *e)
{
	int rc = 0;

	for (size_t i = 0; i < e->n; i++) {
		if (strncmp(e->v[i].name, "PGBOUNCER_", 10) != 0)
			continue;
		int r = check_one_unknown(e->v[i].name);
		if (r)
			rc = r;
	}
	return rc;
}

/* ---- settings ------------------------------------------------------------ */

static size_t setting_index(const struct setting *s)
{
	return (size_t)(s - settings);
}

bool config_user_first(const struct config *c, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(c->up[j].user, c->up[i].user) == 0)
			return false;
	return true;
}

const char *config_get(const struct config *c, const char *name)
{
	const struct setting *s = setting_find(name);

	return s && c->value ? c->value[setting_index(s)] : NULL;
}

static int set_value(struct config *c, const struct setting *s, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return EX_CONFIG;
	free(c->value[setting_index(s)]);
	c->value[setting_index(s)] = copy;
	return 0;
}

/* Every variable that names setting S, in order of preference. */
static size_t vars_for(const struct setting *s, const char **out, char store[][128])
{
	size_t n = 0;

	upper(store[0], "PGBOUNCER_", s->name, 128);
	out[n++] = store[0];
	if (s->bare) {
		upper(store[1], "", s->name, 128);
		out[n++] = store[1];
	}
	for (size_t i = 0; i < N_ALIASES; i++)
		if (strcmp(aliases[i].setting, s->name) == 0)
			out[n++] = aliases[i].var;
	return n;
}

/* An empty value means "not set", except for strings, where pgbouncer reads
 * `key =` as the empty string (listen_addr = turns TCP off). */
static int resolve_setting(struct config *c, struct env *e, const struct setting *s)
{
	char store[2][128], origin[160];
	const char *names[4], *chosen = NULL, *chosen_name = NULL, *why = "";
	size_t n = vars_for(s, names, store);
	struct buf norm;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const char *v = env_get(e, names[i]);
		if (!v || (!*v && s->type != ST_STRING))
			continue;
		if (chosen && strcmp(chosen, v) != 0) {
			log_error("%s and %s are both set, to different values; set only one",
				  chosen_name, names[i]);
			return EX_CONFIG;
		}
		chosen = v;
		chosen_name = names[i];
	}
	if (!chosen)
		return s->our_default ? set_value(c, s, s->our_default) : 0;
	c->from_env[setting_index(s)] = true;
	buf_init(&norm);
	if (!setting_normalize(s, chosen, &norm, &why)) {
		env_origin(e, chosen_name, origin, sizeof(origin));
		if (strstr(chosen_name, "PASSWORD"))
			log_error("%s %s", origin, why);
		else
			log_error("%s %s, got \"%s\"", origin, why, chosen);
		buf_free(&norm);
		return EX_CONFIG;
	}
	rc = set_value(c, s, buf_str(&norm));
	buf_free(&norm);
	return rc;
}

/* ---- upstreams ----------------------------------------------------------- */

static char **field_ptr(struct upstream *u, const char *field)
{
	if (!strcmp(field, "host"))
		return &u->host;
	if (!strcmp(field, "port"))
		return &u->port;
	if (!strcmp(field, "dbname"))
		return &u->dbname;
	if (!strcmp(field, "user"))
		return &u->user;
	return &u->password;
}

/* DB_* and bitnami's POSTGRESQL_*: one upstream, or none when all unset. */
static int upstream_from_vars(struct env *e, struct upstream *u, bool *found)
{
	*found = false;
	for (size_t i = 0; i < N_DISCRETE; i++) {
		const char *a = env_get(e, discrete[i].names[0]);
		const char *b = env_get(e, discrete[i].names[1]);
		if (a && !*a)
			a = NULL;
		if (b && !*b)
			b = NULL;
		if (a && b && strcmp(a, b) != 0) {
			log_error("%s and %s are both set, to different values; set only one",
				  discrete[i].names[0], discrete[i].names[1]);
			return EX_CONFIG;
		}
		if (!a && !b)
			continue;
		*found = true;
		*field_ptr(u, discrete[i].field) = strdup(a ? a : b);
		if (!strcmp(discrete[i].field, "password"))
			env_origin(e, a ? discrete[i].names[0] : discrete[i].names[1],
				   u->pw_origin, sizeof(u->pw_origin));
	}
	snprintf(u->origin, sizeof(u->origin), "%s",
		 env_get(e, "DB_HOST") || env_get(e, "DB_NAME") ? "DB_HOST/DB_NAME" :
								  "POSTGRESQL_HOST/POSTGRESQL_DATABASE");
	return 0;
}

static bool same_field(const char *field, const char *a, const char *b)
{
	if (!a || !b)
		return true;
	if (!strcmp(field, "host"))
		return strcasecmp(a, b) == 0;
	return strcmp(a, b) == 0;
}

/* DATABASE_URL and DB_* both set: fine when they agree (the seed's .env.test
 * carried both); an error naming both when they do not. */
static int merge_upstreams(struct upstream *url, struct upstream *vars)
{
	for (size_t i = 0; i < N_DISCRETE; i++) {
		const char *f = discrete[i].field;
		char **a = field_ptr(url, f), **b = field_ptr(vars, f);
		const char *pa = *a, *pb = *b;
		if (!strcmp(f, "port")) {
			pa = pa ? pa : "5432";
			pb = pb ? pb : "5432";
		}
		if (!same_field(f, pa, pb)) {
			if (!strcmp(f, "password"))
				log_error("DATABASE_URL and %s name different passwords; set one of "
					  "them, or make them agree", vars->pw_origin);
			else
				log_error("DATABASE_URL and %s name different upstreams (%s \"%s\" vs "
					  "\"%s\"); set one of them, or make them agree",
					  discrete[i].names[0], f, pa, pb);
			return EX_CONFIG;
		}
		if (!*a) {
			*a = *b;
			*b = NULL;
		}
	}
	if (!url->pw_origin[0])
		snprintf(url->pw_origin, sizeof(url->pw_origin), "%s", vars->pw_origin);
	return 0;
}

static void upstream_free(struct upstream *u)
{
	if (u->password)
		memset(u->password, 0, strlen(u->password));
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

static struct upstream *new_upstream(struct config *c, const char *origin)
{
	struct upstream *u;

	if (c->nup == MAX_UPSTREAMS) {
		log_error("too many upstream databases (at most %d)", MAX_UPSTREAMS);
		return NULL;
	}
	u = &c->up[c->nup++];
	memset(u, 0, sizeof(*u));
	snprintf(u->origin, sizeof(u->origin), "%s", origin);
	return u;
}

static int url_upstream(struct config *c, const char *text, const char *origin,
			const char *alias)
{
	struct upstream *u = new_upstream(c, origin);

	if (!u)
		return EX_CONFIG;
	if (alias && !(u->alias = strdup(alias)))
		return EX_CONFIG;
	snprintf(u->pw_origin, sizeof(u->pw_origin), "%s", origin);
	return url_parse(text, u, origin);
}

static int database_urls(struct config *c, struct env *e)
{
	const char *list = env_get(e, "DATABASE_URLS");
	char *urls[MAX_UPSTREAMS], origin[64];
	int n, rc = 0;

	if (!list || !*list)
		return 0;
	n = url_split_list(list, urls, MAX_UPSTREAMS);
	if (n < 0) {
		log_error("DATABASE_URLS lists too many URLs (at most %d)", MAX_UPSTREAMS);
		return EX_CONFIG;
	}
	for (int i = 0; i < n; i++) {
		snprintf(origin, sizeof(origin), "DATABASE_URLS (URL %d)", i + 1);
		if (!rc)
			rc = url_upstream(c, urls[i], origin, NULL);
		memset(urls[i], 0, strlen(urls[i]));
		free(urls[i]);
	}
	return rc;
}

/* bitnami's PGBOUNCER_DSN_<N> = "alias=<libpq connection string or URL>" */
static int dsn_upstreams(struct config *c, struct env *e)
{
	for (size_t i = 0; i < e->n; i++) {
		const char *name = e->v[i].name, *eq;
		char alias[128];
		if (!is_dsn_var(name) || !*e->v[i].value)
			continue;
		e->v[i].used = true;
		eq = strchr(e->v[i].value, '=');
		if (!eq || eq == e->v[i].value || (size_t)(eq - e->v[i].value) >= sizeof(alias)) {
			log_error("%s must look like \"alias=host=... dbname=...\" or "
				  "\"alias=postgresql://...\"", name);
			return EX_CONFIG;
		}
		snprintf(alias, sizeof(alias), "%.*s", (int)(eq - e->v[i].value), e->v[i].value);
		int rc = url_upstream(c, eq + 1, name, alias);
		if (rc)
			return rc;
	}
	return 0;
}

static int primary_upstream(struct config *c, struct env *e)
{
	struct upstream vars;
	const char *url = env_get(e, "DATABASE_URL");
	bool found;
	int rc;

	memset(&vars, 0, sizeof(vars));
	rc = upstream_from_vars(e, &vars, &found);
	if (!rc && url && *url) {
		rc = url_upstream(c, url, "DATABASE_URL", NULL);
		if (!rc && found)
			rc = merge_upstreams(&c->up[c->nup - 1], &vars);
		upstream_free(&vars);
		return rc;
	}
	if (!rc && found) {
		struct upstream *u = new_upstream(c, vars.origin);
		if (!u) {
			upstream_free(&vars);
			return EX_CONFIG;
		}
		*u = vars;
		return 0;
	}
	upstream_free(&vars);
	return rc;
}

static int require(const char *value, const struct upstream *u, const char *what,
		   const char *var)
{
	if (value)
		return 0;
	if (!strncmp(u->origin, "DB_", 3) || !strncmp(u->origin, "POSTGRESQL_", 11))
		log_error("%s is not set: it gives the upstream %s", var, what);
	else
		log_error("%s has no %s; add it to the URL", u->origin, what);
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

/* WHY is read through a pointer: it is set by the check in the same call. */
static int check_value(bool ok, const struct upstream *u, const char *what, const char **why)
{
	if (ok)
		return 0;
	log_error("%s: the %s %s", u->origin, what, *why);
	return EX_CONFIG;
}

/* NEED_HOST is false when the user's own pgbouncer.ini names the servers:
 * then the variables only feed userlist.txt (and templates). */
static int complete_upstream(struct upstream *u, bool need_host)
{
	const char *why = "";
	int rc = 0;

	if (need_host || u->host)
		rc |= require(u->host, u, "host name", "DB_HOST");
	rc |= require(u->user, u, "user name", "DB_USER");
	if (!rc && !u->password) {
		if (u->pw_origin[0] && strncmp(u->pw_origin, "DB_", 3) != 0 &&
		    strncmp(u->pw_origin, "POSTGRESQL_", 11) != 0)
			log_error("%s has no password: add it to the URL (percent-encoded) or "
				  "set DB_PASSWORD or DB_PASSWORD_FILE", u->origin);
		else
			log_error("DB_PASSWORD is not set: pgbouncer needs the upstream password "
				  "to log in (set DB_PASSWORD or DB_PASSWORD_FILE)");
		return EX_CONFIG;
	}
	if (rc)
		return EX_CONFIG;
	if (!u->port && !(u->port = strdup("5432")))
		return EX_CONFIG;
	if (!u->dbname && !(u->dbname = strdup(u->user)))
		return EX_CONFIG;
	if (!u->alias && !(u->alias = strdup(u->dbname)))
		return EX_CONFIG;
	if (!port_ok(u->port)) {
		log_error("%s: the port must be a port number (1-65535), got \"%s\"", u->origin,
			  u->port);
		return EX_CONFIG;
	}
	if (!*u->password) {
		log_error("%s: the password is empty; pgbouncer cannot log in with an empty "
			  "password", u->pw_origin[0] ? u->pw_origin : u->origin);
		return EX_CONFIG;
	}
	if (check_value(db_alias_ok(u->alias, &why), u, "database name (pool name)", &why) ||
	    check_value(!u->host || connstr_value_ok(u->host, &why), u, "host", &why) ||
	    check_value(connstr_value_ok(u->dbname, &why), u, "database name", &why) ||
	    check_value(userlist_user_ok(u->user, &why), u, "user name", &why) ||
	    check_value(!u->application_name || connstr_value_ok(u->application_name, &why),
			u, "application_name", &why))
		return EX_CONFIG;
	if (!userlist_value_ok(u->password, &why)) {
		log_error("%s: the password %s", u->pw_origin[0] ? u->pw_origin : u->origin, why);
		return EX_CONFIG;
	}
	return 0;
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
static int check_self_loop(const struct config *c, const struct upstream *u)
{
	const char *lp = config_get(c, "listen_port");

	if (!lp || !u->host || strcmp(u->port, lp) != 0 ||
	    !is_local_name(u->host, config_get(c, "listen_addr")))
		return 0;
	log_error("%s points at this pool itself (%s:%s is where pgbouncer listens); set it "
		  "to the database server and give applications the pool's address instead",
		  u->origin, u->host, u->port);
	return EX_CONFIG;
}

static int gather_upstreams(struct config *c, struct env *e, bool need)
{
	const char *alias = env_get(e, "PGBOUNCER_DATABASE");
	int rc;

	if ((rc = primary_upstream(c, e)) || (rc = database_urls(c, e)) ||
	    (rc = dsn_upstreams(c, e)))
		return rc;
	if (c->nup == 0) {
		if (!need)
			return 0;
		log_error("no upstream database: set DATABASE_URL, or DB_HOST, DB_NAME, DB_USER "
			  "and DB_PASSWORD");
		return EX_CONFIG;
	}
	if (alias && *alias && !c->up[0].alias && strstr(c->up[0].origin, "DSN") == NULL)
		c->up[0].alias = strdup(alias);
	for (size_t i = 0; i < c->nup; i++) {
		if ((rc = complete_upstream(&c->up[i], need)) ||
		    (need && (rc = check_self_loop(c, &c->up[i]))))
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->up[i].alias, c->up[j].alias) == 0) {
				log_error("%s and %s both define the database \"%s\"; give one of "
					  "them another name", c->up[j].origin, c->up[i].origin,
					  c->up[i].alias);
				return EX_CONFIG;
			}
		}
	}
	return 0;
}

/* userlist.txt holds one password per user. */
static int check_users(const struct config *c)
{
	for (size_t i = 0; i < c->nup; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->up[i].user, c->up[j].user) == 0 &&
			    strcmp(c->up[i].password, c->up[j].password) != 0) {
				log_error("%s and %s give user \"%s\" different passwords; "
					  "userlist.txt holds one password per user",
					  c->up[j].origin, c->up[i].origin, c->up[i].user);
				return EX_CONFIG;
			}
		}
	}
	return 0;
}

/* ---- settings that follow from the upstreams ----------------------------- */

static bool explicitly_set(const struct config *c, const char *name)
{
	return c->from_env[setting_index(setting_find(name))];
}

/* A URL's ?sslmode= becomes server_tls_sslmode: pgbouncer has one for all
 * databases, so URLs and an explicit setting must agree. */
static int derive_sslmode(struct config *c)
{
	const struct setting *s = setting_find("server_tls_sslmode");
	const char *have = NULL, *from = NULL, *why = "";
	bool explicit = explicitly_set(c, "server_tls_sslmode");
	struct buf norm;

	if (explicit) {
		have = config_get(c, "server_tls_sslmode");
		from = "SERVER_TLS_SSLMODE";
	}
	for (size_t i = 0; i < c->nup; i++) {
		const char *m = c->up[i].sslmode;
		if (!m)
			continue;
		buf_init(&norm);
		if (!setting_normalize(s, m, &norm, &why)) {
			log_error("%s: sslmode %s, got \"%s\"", c->up[i].origin, why, m);
			buf_free(&norm);
			return EX_CONFIG;
		}
		if (have && strcmp(have, buf_str(&norm)) != 0) {
			log_error("%s asks for sslmode=%s but %s asks for %s; pgbouncer has one "
				  "server_tls_sslmode for all databases", c->up[i].origin,
				  buf_str(&norm), from, have);
			buf_free(&norm);
			return EX_CONFIG;
		}
		if (!have) {
			set_value(c, s, buf_str(&norm));
			have = config_get(c, "server_tls_sslmode");
			from = c->up[i].origin;
		}
		buf_free(&norm);
	}
	return 0;
}

/* pgbouncer sends SNI only under verify-full (src/sbuf.c), and cloud
 * databases that route by SNI refuse without it: the seed's fault B4. */
static void warn_no_sni(const struct config *c)
{
	const char *mode = config_get(c, "server_tls_sslmode");

	if (mode && (!strcmp(mode, "require") || !strcmp(mode, "verify-ca")))
		log_warn("server_tls_sslmode = %s: pgbouncer sends the server name (SNI) only "
			 "with verify-full; a cloud database that needs it (Neon: \"Endpoint ID "
			 "is not specified\") wants SERVER_TLS_SSLMODE=verify-full", mode);
}

static int derive_defaults(struct config *c)
{
	const char *mode = config_get(c, "server_tls_sslmode");
	struct buf b;
	int rc = 0;

	buf_init(&b);
	if (!explicitly_set(c, "auth_file")) {
		buf_printf(&b, "%s/userlist.txt", c->config_dir);
		rc |= set_value(c, setting_find("auth_file"), buf_str(&b));
	}
	/* The seed document's SHOW POOLS needs the user in admin_users (B13). */
	if (!explicitly_set(c, "admin_users") && c->nup > 0) {
		buf_free(&b);
		for (size_t i = 0; i < c->nup; i++) {
			const char *u = c->up[i].user;
			if (!config_user_first(c, i) || strpbrk(u, ", \t\r\n"))
				continue; /* the list has no quoting; skip what it cannot hold */
			if (b.len)
				buf_putc(&b, ',');
			buf_puts(&b, u);
		}
		if (b.len)
			rc |= set_value(c, setting_find("admin_users"), buf_str(&b));
	}
	/* verify-ca/verify-full need a CA file; the image ships Debian's bundle. */
	if (mode && !strncmp(mode, "verify-", 7) && !config_get(c, "server_tls_ca_file"))
		rc |= set_value(c, setting_find("server_tls_ca_file"), DEFAULT_CA_FILE);
	buf_free(&b);
	return rc ? EX_CONFIG : 0;
}

static int per_database_extras(struct config *c, struct env *e)
{
	const char *ps = env_get(e, "POOL_SIZE"), *why = "";
	const char *ce = env_get(e, "CLIENT_ENCODING"), *tz = env_get(e, "TIMEZONE");
	struct buf b;

	if (ps && *ps) {
		buf_init(&b);
		if (!setting_normalize(setting_find("default_pool_size"), ps, &b, &why)) {
			log_error("POOL_SIZE %s, got \"%s\"", why, ps);
			buf_free(&b);
			return EX_CONFIG;
		}
		c->pool_size = strdup(buf_str(&b));
		buf_free(&b);
	}
	if (ce && *ce) {
		if (!connstr_value_ok(ce, &why)) {
			log_error("CLIENT_ENCODING %s", why);
			return EX_CONFIG;
		}
		c->client_encoding = strdup(ce);
	}
	if (tz && *tz) {
		if (!connstr_value_ok(tz, &why)) {
			log_error("TIMEZONE %s", why);
			return EX_CONFIG;
		}
		c->timezone = strdup(tz);
	}
	return 0;
}

static int check_combinations(const struct config *c)
{
	const char *auth = config_get(c, "auth_type");
	const char *ctls = config_get(c, "client_tls_sslmode");

	if (auth && !strcmp(auth, "hba") && !config_get(c, "auth_hba_file")) {
		log_error("AUTH_TYPE=hba needs AUTH_HBA_FILE, the path of a pg_hba.conf-style file");
		return EX_CONFIG;
	}
	if (ctls && strcmp(ctls, "disable") != 0 &&
	    (!config_get(c, "client_tls_key_file") || !config_get(c, "client_tls_cert_file"))) {
		log_error("CLIENT_TLS_SSLMODE=%s needs CLIENT_TLS_KEY_FILE and CLIENT_TLS_CERT_FILE",
			  ctls);
		return EX_CONFIG;
	}
	if (config_get(c, "pidfile"))
		log_warn("PIDFILE is set: in a container a stale pidfile can stop pgbouncer from "
			 "starting (\"pidfile exists, another instance running?\")");
	return 0;
}

int config_build(struct config *c, struct env *e, const char *config_dir, bool need_upstream)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->value = calloc(n_settings, sizeof(char *));
	c->from_env = calloc(n_settings, sizeof(bool));
	c->config_dir = strdup(config_dir);
	if (!c->value || !c->from_env || !c->config_dir)
		return EX_CONFIG;
	for (size_t i = 0; i < n_settings; i++)
		if ((rc = resolve_setting(c, e, &settings[i])))
			return rc;
	if ((rc = gather_upstreams(c, e, need_upstream)) || (rc = check_users(c)) ||
	    (rc = derive_sslmode(c)))
		return rc;
	warn_no_sni(c);
	if ((rc = derive_defaults(c)) || (rc = per_database_extras(c, e)) ||
	    (rc = check_combinations(c)))
		return rc;
	return 0;
}

int config_check_version(const struct config *c, int version)
{
	char want[16], have[16], var[128];
	int rc = 0;

	for (size_t i = 0; version && i < n_settings; i++) {
		if (!c->value[i] || settings[i].since <= version)
			continue;
		upper(var, "PGBOUNCER_", settings[i].name, sizeof(var));
		log_error("%s sets %s, which needs pgbouncer %s; the pgbouncer here is %s: remove "
			  "it or use a newer pgbouncer", var, settings[i].name,
			  version_text(settings[i].since, want), version_text(version, have));
		rc = EX_CONFIG;
	}
	return rc;
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->nup; i++)
		upstream_free(&c->up[i]);
	if (c->value)
		for (size_t i = 0; i < n_settings; i++)
			free(c->value[i]);
	free(c->value);
	free(c->from_env);
	free(c->pool_size);
	free(c->client_encoding);
	free(c->timezone);
	free(c->config_dir);
	memset(c, 0, sizeof(*c));
}
