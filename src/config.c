#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"
#include "vars.h"

static size_t setting_index(const struct setting *s)
{
	return (size_t)(s - settings);
}

bool config_user_first(const struct config *c, size_t i)
{
	return upstream_user_first(c->up, i);
}

const char *config_get(const struct config *c, const char *name)
{
	const struct setting *s = setting_find(name);

	return s && c->value ? c->value[setting_index(s)] : NULL;
}

const char *config_set_by(const struct config *c, const char *name)
{
	const struct setting *s = setting_find(name);

	return s && c->set_by ? c->set_by[setting_index(s)] : NULL;
}

int config_set(struct config *c, const char *name, const char *v)
{
	const struct setting *s = setting_find(name);
	char *copy = strdup(v);

	if (!copy || !s) {
		free(copy);
		return EX_OSERR;
	}
	free(c->value[setting_index(s)]);
	c->value[setting_index(s)] = copy;
	return EX_OK;
}

/* The one variable of S that is set (several with one value are fine); its
 * name, with _FILE when read from a file, goes to ORIGIN. */
static int chosen_value(struct env *e, const struct setting *s, const char **value, char *origin,
			size_t len)
{
	char store[2][VAR_NAME_MAX];
	const char *names[3], *chosen_name = NULL;
	size_t n = vars_of_setting(s, names, store);

	*value = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *v = env_get(e, names[i]);
		/* empty means "not set", except for strings: `key =` is the empty
		 * string to pgbouncer (listen_addr = turns TCP off) */
		if (!v || (!*v && s->type != ST_STRING))
			continue;
		if (*value && strcmp(*value, v) != 0) {
			log_error("%s and %s are both set, to different values; set only one",
				  chosen_name, names[i]);
			return EX_CONFIG;
		}
		*value = v;
		chosen_name = names[i];
	}
	if (chosen_name)
		env_origin(e, chosen_name, origin, len);
	return EX_OK;
}

static int resolve_setting(struct config *c, struct env *e, const struct setting *s)
{
	char origin[VAR_NAME_MAX + 8];
	const char *v, *why = "";
	struct buf norm;
	int rc;

	if ((rc = chosen_value(e, s, &v, origin, sizeof(origin))))
		return rc;
	/* a default the oldest pgbouncer does not know would stop it at startup:
	 * it waits for the version (config_version_defaults) */
	if (!v)
		return s->our_default && s->since <= SETTING_OLDEST
			       ? config_set(c, s->name, s->our_default)
			       : EX_OK;
	if (!(c->set_by[setting_index(s)] = strdup(origin)))
		return EX_OSERR;
	buf_init(&norm);
	if (!setting_normalize(s, v, &norm, &why)) {
		vars_refuse(origin, why, v);
		buf_free(&norm);
		return EX_CONFIG;
	}
	rc = norm.oom ? EX_OSERR : config_set(c, s->name, buf_str(&norm));
	buf_free(&norm);
	return rc;
}

int config_build(struct config *c, struct env *e, const char *config_dir, bool need_upstream)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->value = calloc(n_settings, sizeof(char *));
	c->set_by = calloc(n_settings, sizeof(char *));
	c->config_dir = strdup(config_dir);
	if (!c->value || !c->set_by || !c->config_dir)
		return EX_OSERR;
	for (size_t i = 0; i < n_settings; i++)
		if ((rc = resolve_setting(c, e, &settings[i])))
			return rc;
	if ((rc = upstreams_gather(c->up, &c->nup, e, need_upstream, config_get(c, "listen_port"),
				   config_get(c, "listen_addr"))))
		return rc;
	return derive_settings(c, e);
}

int config_check_version(const struct config *c, int version)
{
	char want[16], have[16], var[VAR_NAME_MAX];
	int rc = EX_OK;

	for (size_t i = 0; version && i < n_settings; i++) {
		if (!c->value[i] || settings[i].since <= version)
			continue;
		if (!c->set_by[i])
			vars_upper(var, sizeof(var), "PGBOUNCER_", settings[i].name);
		log_error("%s sets %s, which needs pgbouncer %s; the pgbouncer here is %s: remove "
			  "it or use a newer pgbouncer",
			  c->set_by[i] ? c->set_by[i] : var, settings[i].name,
			  version_text(settings[i].since, want), version_text(version, have));
		rc = EX_CONFIG;
	}
	return rc;
}

int config_version_defaults(struct config *c, int version)
{
	int rc;

	for (size_t i = 0; version && i < n_settings; i++) {
		const struct setting *s = &settings[i];
		if (!s->our_default || s->since <= SETTING_OLDEST || s->since > version ||
		    c->value[i])
			continue;
		if ((rc = config_set(c, s->name, s->our_default)))
			return rc;
	}
	return EX_OK;
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->nup; i++)
		upstream_free(&c->up[i]);
	for (size_t i = 0; i < n_settings; i++) {
		if (c->value)
			free(c->value[i]);
		if (c->set_by)
			free(c->set_by[i]);
	}
	free(c->value);
	free(c->set_by);
	free(c->pool_size);
	free(c->client_encoding);
	free(c->timezone);
	free(c->config_dir);
	memset(c, 0, sizeof(*c));
}
