#include "model/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "model/settings.h"
#include "model/vars.h"

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

int config_set_origin(struct config *c, const struct setting *s, const char *origin)
{
	size_t i = setting_index(s);

	free(c->set_by[i]);
	return (c->set_by[i] = strdup(origin)) ? EX_OK : EX_OSERR;
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
			  setting_version_text(settings[i].since, want),
			  setting_version_text(version, have));
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
