/* The model: what the environment asks for, validated.  Built by a pure
 * function of the environment table, so it can be unit-tested and fuzzed;
 * every value in it can be written faithfully.  The upstreams come from
 * upstream.c, the settings that follow from them from derive.c. */
#ifndef PGBE_CONFIG_H
#define PGBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "model/upstream.h"

struct config {
	struct upstream up[MAX_UPSTREAMS];
	size_t nup;
	char **value;    /* per settings[] row: normalized value, or NULL */
	char **set_by;   /* per settings[] row: the variable that set it, or NULL */
	char *pool_size; /* per-database extras, edoburu's bare names */
	char *client_encoding;
	char *timezone;
	char *config_dir;
	unsigned upstream_auth; /* PGBOUNCER_UPSTREAM_AUTH (upauth.h), from the options */
};

/* The origin (variable name, for messages) of S's value. */
struct setting;
int config_set_origin(struct config *c, const struct setting *s, const char *origin);
void config_free(struct config *c);

/* Is upstream I the first with its user? */
bool config_user_first(const struct config *c, size_t i);

/* The normalized value of setting NAME, or NULL when it is not written. */
const char *config_get(const struct config *c, const char *name);

/* Did a variable set NAME (as opposed to a default)?  The variable, or NULL. */
const char *config_set_by(const struct config *c, const char *name);

/* Set NAME to VALUE (copied).  Returns a status. */
int config_set(struct config *c, const char *name, const char *value);

/* pgbouncer refuses a setting it does not know yet: refuse first, naming the
 * variable that set it.  VERSION as 124 for 1.24; 0 checks nothing.
 * Returns a status. */
int config_check_version(const struct config *c, int version);

/* Our defaults for settings newer than the oldest pgbouncer, set where no
 * variable did and VERSION has the setting.  max_prepared_statements = 200:
 * 1.21-1.23 default it to 0, and clients that prepare (asyncpg, pgbench -M
 * prepared) then fail in transaction mode (issue 18, docs/clients.md).  An
 * older pgbouncer stops at an unknown key, and VERSION 0 (render, init, a
 * user's own ini: no pgbouncer asked) cannot tell, so then nothing is added.
 * Returns a status. */
int config_version_defaults(struct config *c, int version);

#endif
