/* Environment -> model -> rendered files: env_load, config_check_unknown,
 * model_build, render_ini, render_userlist, as main() runs them.
 *
 * Input: NUL-separated entries.  "NAME=value" is an environment variable;
 * "@file:PATH=CONTENT" is a file the _FILE reader can read; "@user_ini"
 * means the user supplies pgbouncer.ini (the upstream becomes optional).
 * PGBOUNCER_CONFIG_DIR is taken as the config directory, as cli.c does.
 *
 * Invariant, for every environment model_build accepts: pgbouncer reading
 * the rendered pgbouncer.ini sees exactly the sections [databases] and
 * [pgbouncer], no %include, one line per upstream whose key is its alias
 * and whose connection string holds exactly host, port, dbname (user and
 * password under auth_type=any), application_name and the per-database
 * extras, each equal to the model; in [pgbouncer] exactly the settings the
 * model holds, each value equal and of the type pgbouncer parses; and in
 * userlist.txt exactly one entry per user with its password.  The model
 * itself keeps what the environment said: DB_* fields and string settings
 * come through unchanged, and every URL's sslmode is server_tls_sslmode.
 * Whatever the outcome, no message prints a secret. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "fuzz.h"
#include "model/config.h"
#include "model/env.h"
#include "model/model.h"
#include "model/settings.h"
#include "model/unknown.h"
#include "model/vars.h"
#include "pgbreader.h"
#include "text/render.h"

#define MAX_ENTRIES 64

struct vfile {
	const char *path;
	const char *content;
};

static struct vfile files[MAX_ENTRIES];
static size_t n_files;

void fuzz_init(void)
{
}

static int vreader(const char *path, struct buf *out)
{
	for (size_t i = 0; i < n_files; i++) {
		if (strcmp(files[i].path, path) == 0) {
			buf_puts(out, files[i].content);
			return out->oom ? ENOMEM : 0;
		}
	}
	return ENOENT;
}

static const char *env_value(struct env *e, const char *name)
{
	struct envvar *v = env_find(e, name);

	return v ? v->value : NULL;
}

/* ---- pgbouncer.ini ---------------------------------------------------------- */

struct want_pair {
	const char *key;
	const char *value;
	bool seen;
};

static void check_database(const struct config *c, const struct upstream *u, const char *line)
{
	const char *auth = config_get(c, "auth_type");
	bool any = auth && !strcmp(auth, "any");
	struct want_pair w[] = {
		{"host", u->host, false},
		{"port", u->port, false},
		{"dbname", u->dbname, false},
		{"user", any ? u->user : NULL, false},
		{"password", any ? u->password : NULL, false},
		{"application_name", u->application_name, false},
		{"pool_size", c->pool_size, false},
		{"client_encoding", c->client_encoding, false},
		{"timezone", c->timezone, false},
	};
	size_t nw = sizeof(w) / sizeof(w[0]), want = 0;
	struct connstr cs;

	INVARIANT(connstr_read(line, &cs), "[databases] %s: connection string %s unreadable",
		  esc(u->alias), esc(line));
	for (size_t i = 0; i < nw; i++)
		want += w[i].value != NULL;
	INVARIANT(cs.n == want, "[databases] %s: %zu pairs in %s, want %zu", esc(u->alias), cs.n,
		  esc(line), want);
	for (size_t i = 0; i < cs.n; i++) {
		size_t j = 0;
		while (j < nw && strcmp(w[j].key, cs.p[i].key) != 0)
			j++;
		INVARIANT(j < nw && w[j].value && !w[j].seen, "[databases] %s: extra key %s in %s",
			  esc(u->alias), esc(cs.p[i].key), esc(line));
		INVARIANT(!strcmp(w[j].value, cs.p[i].value), "[databases] %s: %s is %s, want %s",
			  esc(u->alias), w[j].key, esc(cs.p[i].value), esc(w[j].value));
		w[j].seen = true;
	}
	connstr_free(&cs);
}

static bool only(const char *v, const char *set)
{
	return *v && strspn(v, set) == strlen(v);
}

/* The value means to pgbouncer's own parser what the model means. */
static void check_type(const struct setting *s, const char *v)
{
	char *end;
	long n;

	switch (s->type) {
	case ST_STRING:
		break;
	case ST_INT:
		n = strtol(v, &end, 0); /* pgbouncer: strtol base 0 */
		INVARIANT(*v && !*end && n == strtol(v, NULL, 10) && n >= s->min && n <= s->max,
			  "%s = %s is not the decimal number it claims", s->name, esc(v));
		break;
	case ST_OCTAL:
		n = strtol(v, &end, 0);
		INVARIANT(v[0] == '0' && !*end && n == strtol(v, NULL, 8) && n <= s->max,
			  "%s = %s is not octal", s->name, esc(v));
		break;
	case ST_BOOL:
		INVARIANT(!strcmp(v, "0") || !strcmp(v, "1"), "%s = %s", s->name, esc(v));
		break;
	case ST_TIME:
		INVARIANT(only(v, "0123456789.") && strtod(v, &end) >= 0 && !*end, "%s = %s",
			  s->name, esc(v));
		break;
	case ST_ENUM: {
		char *list = strdup(s->values), *tok, *save = NULL;
		bool found = false;
		for (tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			found |= !strcmp(tok, v);
		free(list);
		INVARIANT(found, "%s = %s is not one of %s", s->name, esc(v), s->values);
		break;
	}
	}
}

static void check_settings(const struct config *c, const struct ini_doc *d)
{
	bool *seen = calloc(n_settings, sizeof(bool));

	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->e[i].section, "pgbouncer") != 0)
			continue;
		const struct setting *s = setting_find(d->e[i].key);
		INVARIANT(s, "[pgbouncer] has unknown key %s", esc(d->e[i].key));
		size_t k = (size_t)(s - settings);
		INVARIANT(c->value[k] && !seen[k],
			  "[pgbouncer] %s: written twice or not in the model", s->name);
		INVARIANT(!strcmp(c->value[k], d->e[i].value),
			  "[pgbouncer] %s reads as %s, want %s", s->name, esc(d->e[i].value),
			  esc(c->value[k]));
		check_type(s, d->e[i].value);
		seen[k] = true;
	}
	for (size_t k = 0; k < n_settings; k++)
		INVARIANT(!c->value[k] || seen[k], "[pgbouncer] %s = %s missing", settings[k].name,
			  esc(c->value[k]));
	free(seen);
}

static void check_ini(const struct config *c, const char *text)
{
	struct ini_doc d;
	size_t db = 0;

	ini_read(text, &d);
	INVARIANT(!d.syntax_error && d.includes == 0,
		  "pgbouncer.ini: syntax error or %%include:\n%s", esc(text));
	INVARIANT(d.nsections == 2 && !strcmp(d.sections[0], "databases") &&
			  !strcmp(d.sections[1], "pgbouncer"),
		  "pgbouncer.ini: %zu sections, want [databases] [pgbouncer]:\n%s", d.nsections,
		  esc(text));
	for (size_t i = 0; i < d.n; i++) {
		INVARIANT(d.e[i].section, "pgbouncer.ini: a key before any section: %s",
			  esc(d.e[i].key));
		if (strcmp(d.e[i].section, "databases") != 0)
			continue;
		INVARIANT(db < c->nup && !strcmp(d.e[i].key, c->up[db].alias),
			  "[databases] key %s, want upstream %zu's alias", esc(d.e[i].key), db);
		check_database(c, &c->up[db], d.e[i].value);
		db++;
	}
	INVARIANT(db == c->nup, "[databases] has %zu lines for %zu upstreams", db, c->nup);
	check_settings(c, &d);
	ini_free(&d);
}

/* ---- userlist.txt ------------------------------------------------------------- */

static void check_userlist(const struct config *c, const char *text, bool redacted)
{
	struct ul_doc d;
	size_t k = 0;

	ul_read(text, 128, 2048, &d);
	INVARIANT(!d.stopped, "userlist.txt: pgbouncer stops reading (%s):\n%s", d.why, esc(text));
	for (size_t i = 0; i < c->nup; i++) {
		bool first = true;
		for (size_t j = 0; j < i; j++)
			first &= strcmp(c->up[i].user, c->up[j].user) != 0;
		if (!first)
			continue;
		INVARIANT(k < d.n && !strcmp(d.e[k].user, c->up[i].user) &&
				  !strcmp(d.e[k].password, redacted ? REDACTED : c->up[i].password),
			  "userlist.txt entry %zu: want %s %s:\n%s", k, esc(c->up[i].user),
			  esc(c->up[i].password), esc(text));
		k++;
	}
	INVARIANT(k == d.n, "userlist.txt: %zu entries, want %zu", d.n, k);
	ul_free(&d);
}

/* ---- the model against the environment --------------------------------------- */

static void check_model(const struct config *c, struct env *e)
{
	static const char *const db_vars[][2] = {
		{"DB_HOST", "host"}, {"DB_PORT", "port"},         {"DB_NAME", "dbname"},
		{"DB_USER", "user"}, {"DB_PASSWORD", "password"},
	};
	const char *url = env_value(e, "DATABASE_URL");
	char name[160];

	for (size_t i = 0; !(url && *url) && c->nup > 0 && i < 5; i++) {
		const char *v = env_value(e, db_vars[i][0]);
		const struct upstream *u = &c->up[0];
		const char *have = !strcmp(db_vars[i][1], "host")     ? u->host
				   : !strcmp(db_vars[i][1], "port")   ? u->port
				   : !strcmp(db_vars[i][1], "dbname") ? u->dbname
				   : !strcmp(db_vars[i][1], "user")   ? u->user
								      : u->password;
		INVARIANT(!v || !*v || (have && !strcmp(have, v)), "%s=%s became %s %s",
			  db_vars[i][0], esc(v), db_vars[i][1], esc(have));
	}
	/* pgbouncer has one server_tls_sslmode: every URL's sslmode is it */
	for (size_t i = 0; i < c->nup; i++) {
		const char *mode = config_get(c, "server_tls_sslmode");
		INVARIANT(!c->up[i].sslmode || (mode && !strcasecmp(mode, c->up[i].sslmode)),
			  "upstream %zu asks for sslmode %s, server_tls_sslmode is %s", i,
			  esc(c->up[i].sslmode), esc(mode));
	}
	for (size_t k = 0; k < n_settings; k++) {
		size_t j = snprintf(name, sizeof(name), "PGBOUNCER_");
		for (const char *p = settings[k].name; *p && j + 1 < sizeof(name); p++)
			name[j++] = (char)toupper((unsigned char)*p);
		name[j] = '\0';
		const char *v = env_value(e, name);
		if (settings[k].type != ST_STRING || !v)
			continue;
		INVARIANT(c->value[k] && !strcmp(c->value[k], v), "%s=%s became %s = %s", name,
			  esc(v), settings[k].name, esc(c->value[k]));
	}
}

static void check_all(const struct config *c, struct env *e)
{
	struct buf ini, ul;

	check_model(c, e);
	buf_init(&ini);
	buf_init(&ul);
	render_ini(c, &ini, false);
	render_userlist(c, &ul, false);
	INVARIANT(!ini.oom && !ul.oom, "out of memory");
	check_ini(c, buf_str(&ini));
	check_userlist(c, buf_str(&ul), false);
	buf_free(&ul);
	buf_init(&ul);
	render_userlist(c, &ul, true);
	check_userlist(c, buf_str(&ul), true);
	buf_free(&ini);
	buf_free(&ul);
}

/* Messages never print a secret (issue 8, item 9): the value of a password,
 * URL or DSN variable, or anything read from a _FILE.  Only a secret that
 * holds MARKER is looked for, and only when no value that may be printed
 * holds it too: then a MARKER in the log can only have come from a secret. */
#define MARKER "S3CR3T"

static void check_no_secret_in_log(struct env *e, const char *log)
{
	bool secret = false;

	for (size_t i = 0; i < e->n; i++) {
		const struct envvar *v = &e->v[i];
		size_t len = strlen(v->name);
		/* a NAME_FILE still named so holds a path, which messages print */
		bool path = len > 5 && !strcmp(v->name + len - 5, "_FILE");
		bool is_secret = (vars_is_secret(v->name) && !path) || v->file;
		if (strstr(v->name, MARKER) || (v->file && strstr(v->file, MARKER)))
			return;
		if (strstr(v->value, MARKER)) {
			if (!is_secret)
				return;
			secret = true;
		}
	}
	INVARIANT(!secret || !strstr(log, MARKER), "a secret reached a message:\n%s", log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s[MAX_ENTRIES];
	const char *envp[MAX_ENTRIES + 1];
	const char *config_dir = NULL;
	size_t n = pieces_split(data, size, s, MAX_ENTRIES), ne = 0;
	bool need_upstream = true;
	struct env e;
	struct config c;
	struct buf log;
	int rc;

	n_files = 0;
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(s[i], '=');
		if (!strncmp(s[i], "@file:", 6) && eq) {
			*eq = '\0';
			files[n_files].path = s[i] + 6;
			files[n_files++].content = eq + 1;
		} else if (!strcmp(s[i], "@user_ini")) {
			need_upstream = false;
		} else {
			envp[ne++] = s[i];
			if (!config_dir && !strncmp(s[i], "PGBOUNCER_CONFIG_DIR=", 21) && s[i][21])
				config_dir = s[i] + 21;
		}
	}
	envp[ne] = NULL;
	memset(&c, 0, sizeof(c));
	buf_init(&log);
	log_capture(&log);
	rc = env_load(&e, envp, vreader, vars_file_capable);
	if (!rc)
		rc = unknown_check(&e);
	if (!rc)
		rc = model_build(&c, &e, config_dir ? config_dir : "/etc/pgbouncer", need_upstream);
	if (!rc)
		check_all(&c, &e);
	check_no_secret_in_log(&e, buf_str(&log));
	config_free(&c);
	env_free(&e);
	log_capture(NULL);
	buf_free(&log);
	pieces_free(s, n);
	return 0;
}
