#include "model/unknown.h"

#include <stdio.h>
#include <string.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "model/env.h"
#include "model/vars.h"

#define FAR 999

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[128], cur[128];

	if (la >= 127 || lb >= 127)
		return FAR;
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

/* The known name nearest to NAME, or "" when none is near enough. */
static void suggest(const char *name, char *out, size_t len)
{
	size_t best = FAR;
	char cand[VAR_NAME_MAX];

	out[0] = '\0';
	for (size_t i = 0; i < n_settings; i++) {
		vars_upper(cand, sizeof(cand), "PGBOUNCER_", settings[i].name);
		consider(cand, name, &best, out, len);
		if (settings[i].alias)
			consider(settings[i].alias, name, &best, out, len);
	}
	for (size_t i = 0; i < vars_n_other; i++)
		consider(vars_other[i], name, &best, out, len);
	if (best > strlen(name) / 3 + 1)
		out[0] = '\0';
}

static const struct unsupported_var *find_unsupported(const char *name)
{
	for (size_t i = 0; i < vars_n_unsupported; i++)
		if (strcmp(name, vars_unsupported[i].name) == 0)
			return &vars_unsupported[i];
	return NULL;
}

/* NAME, or NAME without its _FILE suffix, is read by something. */
static bool known(const char *name)
{
	char base[VAR_NAME_MAX * 2];
	size_t n = strlen(name);

	if (vars_file_capable(name))
		return true;
	if (n <= 5 || strcmp(name + n - 5, "_FILE") != 0 || n - 5 >= sizeof(base))
		return false;
	memcpy(base, name, n - 5);
	base[n - 5] = '\0';
	return vars_file_capable(base);
}

static int check_one(const char *name)
{
	const struct unsupported_var *u = find_unsupported(name);
	char hint[VAR_NAME_MAX];

	if (u && u->fatal) {
		log_error("%s is a bitnami variable that is %s", name, u->fix);
		return EX_CONFIG;
	}
	if (u) {
		log_warn("%s %s", name, u->fix);
		return EX_OK;
	}
	if (known(name))
		return EX_OK;
	suggest(name, hint, sizeof(hint));
	if (hint[0])
		log_error("unknown variable %s: did you mean %s?", name, hint);
	else
		log_error("unknown variable %s: no pgbouncer setting has that name "
			  "(see pgbouncer-entrypoint --help)",
			  name);
	return EX_CONFIG;
}

int unknown_check(struct env *e)
{
	int rc = EX_OK;

	for (size_t i = 0; i < e->n; i++) {
		if (strncmp(e->v[i].name, "PGBOUNCER_", 10) != 0)
			continue;
		int r = check_one(e->v[i].name);
		if (r)
			rc = r;
	}
	return rc;
}
