#include "model/vars.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

const struct vars_fields vars_fields[] = {
	{UF_HOST, {"DB_HOST", "POSTGRESQL_HOST"}},
	{UF_PORT, {"DB_PORT", "POSTGRESQL_PORT"}},
	{UF_DBNAME, {"DB_NAME", "POSTGRESQL_DATABASE"}},
	{UF_USER, {"DB_USER", "POSTGRESQL_USERNAME"}},
	{UF_PASSWORD, {"DB_PASSWORD", "POSTGRESQL_PASSWORD"}},
};
const size_t vars_n_fields = sizeof(vars_fields) / sizeof(vars_fields[0]);

const char *const vars_other[] = {
	"DATABASE_URL",
	"DATABASE_URLS",
	"PGBOUNCER_DATABASE",
	"PGBOUNCER_POOL_ALL",
	"PGBOUNCER_CONFIG_DIR",
	"PGBOUNCER_RUN_USER",
	"PGBOUNCER_WAIT_TIMEOUT",
	"PGBOUNCER_USERLIST_PLAINTEXT",
	"PGBOUNCER_UPSTREAM_AUTH",
	"POOL_SIZE",
	"CLIENT_ENCODING",
	"TIMEZONE",
	"PGBOUNCER_METRICS_LISTEN",
	"PGBOUNCER_DRAIN_DELAY",
	"PGBOUNCER_DRAIN_TIMEOUT",
	"PGBOUNCER_WATCH_INTERVAL",
	"PGBOUNCER_PROCESSES",
	"PGBOUNCER_METRICS_NAMES",
};
const size_t vars_n_other = sizeof(vars_other) / sizeof(vars_other[0]);

const struct unsupported_var vars_unsupported[] = {
	{"PGBOUNCER_CONNECT_QUERY", "not supported: put connect_query in a pgbouncer.ini.template",
	 true},
	{"PGBOUNCER_DAEMON_GROUP", "not supported: use --user UID:GID or PGBOUNCER_RUN_USER", true},
	{"PGBOUNCER_DAEMON_USER", "not supported: use --user UID:GID or PGBOUNCER_RUN_USER", true},
	{"PGBOUNCER_EXTRA_FLAGS", "not supported: pass arguments after -- to the run command",
	 true},
	{"PGBOUNCER_FAIL_ON_INVALID_DSN_FILE", "is ignored: an unreadable _FILE is always an error",
	 false},
	{"PGBOUNCER_FORCE_INITSCRIPTS", "is ignored: this image runs no init scripts", false},
	{"PGBOUNCER_INIT_MAX_RETRIES", "is ignored: use PGBOUNCER_WAIT_TIMEOUT (seconds)", false},
	{"PGBOUNCER_INIT_SLEEP_TIME", "is ignored: use PGBOUNCER_WAIT_TIMEOUT (seconds)", false},
	{"PGBOUNCER_SET_DATABASE_PASSWORD",
	 "not supported: the upstream password goes to userlist.txt", true},
	{"PGBOUNCER_SET_DATABASE_USER", "not supported: use AUTH_TYPE=any for a forced user", true},
	{"PGBOUNCER_USERLIST", "not supported: mount a userlist.txt or use userlist.txt.template",
	 true},
};
const size_t vars_n_unsupported = sizeof(vars_unsupported) / sizeof(vars_unsupported[0]);

void vars_upper(char *dst, size_t len, const char *prefix, const char *name)
{
	size_t i = strlen(prefix);

	snprintf(dst, len, "%s", prefix);
	for (; *name && i + 1 < len; name++)
		dst[i++] = (char)toupper((unsigned char)*name);
	dst[i] = '\0';
}

bool vars_is_dsn(const char *name)
{
	const char *p = name + strlen("PGBOUNCER_DSN_");

	if (strncmp(name, "PGBOUNCER_DSN_", 14) != 0 || !*p)
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

const struct setting *vars_setting_of(const char *name)
{
	char low[VAR_NAME_MAX];
	size_t i;

	for (i = 0; i < n_settings; i++)
		if (settings[i].alias && strcmp(name, settings[i].alias) == 0)
			return &settings[i];
	bool prefixed = strncmp(name, "PGBOUNCER_", 10) == 0;
	const char *rest = prefixed ? name + 10 : name;
	for (i = 0; rest[i] && i + 1 < sizeof(low); i++) {
		if (islower((unsigned char)rest[i]))
			return NULL; /* names are upper case */
		low[i] = (char)tolower((unsigned char)rest[i]);
	}
	low[i] = '\0';
	const struct setting *s = setting_find(low);
	if (s && (prefixed || (s->flags & SF_BARE)))
		return s;
	return NULL;
}

size_t vars_of_setting(const struct setting *s, const char **out, char store[][VAR_NAME_MAX])
{
	size_t n = 0;

	vars_upper(store[0], VAR_NAME_MAX, "PGBOUNCER_", s->name);
	out[n++] = store[0];
	if (s->flags & SF_BARE) {
		vars_upper(store[1], VAR_NAME_MAX, "", s->name);
		out[n++] = store[1];
	}
	if (s->alias)
		out[n++] = s->alias;
	return n;
}

bool vars_file_capable(const char *name)
{
	for (size_t i = 0; i < vars_n_fields; i++)
		if (!strcmp(name, vars_fields[i].names[0]) ||
		    !strcmp(name, vars_fields[i].names[1]))
			return true;
	for (size_t i = 0; i < vars_n_other; i++)
		if (!strcmp(name, vars_other[i]))
			return true;
	return vars_is_dsn(name) || vars_setting_of(name) != NULL;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

bool vars_is_secret(const char *name)
{
	return strcasestr(name, "PASSWORD") != NULL || strncasecmp(name, "DATABASE_URL", 12) == 0 ||
	       strncasecmp(name, "PGBOUNCER_DSN_", 14) == 0 || ends_with_ci(name, "_FILE") ||
	       strcasecmp(name, "PGPASSFILE") == 0;
}

bool vars_from_file(const char *var)
{
	return strstr(var, "_FILE") != NULL; /* "DATABASE_URLS_FILE (URL 2)" too */
}

void vars_refuse(const char *var, const char *why, const char *value)
{
	if (vars_is_secret(var) || !value)
		log_error("%s %s", var, why);
	else
		log_error("%s %s, got \"%s\"", var, why, value);
}
