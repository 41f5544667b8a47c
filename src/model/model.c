/* The model from the environment: every setting's one value (checked and
 * normalised), the upstreams (gather.h), then what follows from them
 * (derive.h).  Nothing is written here. */
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "model/derive.h"
#include "model/gather.h"
#include "model/settings.h"
#include "model/vars.h"

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
	if ((rc = config_set_origin(c, s, origin)))
		return rc;
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

int model_build(struct config *c, struct env *e, const char *config_dir, bool need_upstream)
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
	if ((rc = gather_upstreams(c->up, &c->nup, e, need_upstream, config_get(c, "listen_port"),
				   config_get(c, "listen_addr"))))
		return rc;
	return derive_settings(c, e);
}
