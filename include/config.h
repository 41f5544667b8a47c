/* The model: what the environment asks for, validated.  Built by a pure
 * function of the environment table, so it can be unit-tested and fuzzed;
 * every value in it can be written faithfully. */
#ifndef PGBE_CONFIG_H
#define PGBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "env.h"

#define MAX_UPSTREAMS 64

struct upstream {
	char *alias;     /* the [databases] key: the name clients connect to */
	char *host;      /* libpq form: may be a list "a,b"; NULL only when the
			  * user's own pgbouncer.ini names the servers */
	char *port;
	char *dbname;
	char *user;
	char *password;
	char *sslmode;   /* from a URL's ?sslmode=, else NULL */
	char *application_name;
	bool userlist_md5; /* a supplied userlist holds an md5 hash for user */
	char origin[64]; /* the variable(s) that defined it, for messages */
	char pw_origin[64];
};

struct config {
	struct upstream up[MAX_UPSTREAMS];
	size_t nup;
	char **value;    /* per settings[] row: normalized value, or NULL */
	bool *from_env;  /* per settings[] row: set by a variable, not a default */
	char *pool_size; /* per-database extras, edoburu's bare names */
	char *client_encoding;
	char *timezone;
	char *config_dir;
};

/* True for every variable that accepts a <NAME>_FILE twin. */
bool config_file_capable(const char *name);

/* Build and validate.  CONFIG_DIR is where the files go (auth_file default).
 * NEED_UPSTREAM: false when a user-supplied pgbouncer.ini makes the
 * upstream variables optional.  Returns 0 or an exit code, after logging. */
int config_build(struct config *c, struct env *e, const char *config_dir,
		 bool need_upstream);
void config_free(struct config *c);

/* Is upstream I the first with its user?  userlist.txt and admin_users
 * name each user once. */
bool config_user_first(const struct config *c, size_t i);

/* The normalized value of setting NAME, or NULL when it is not written. */
const char *config_get(const struct config *c, const char *name);

/* pgbouncer refuses a setting it does not know yet: refuse first, naming it.
 * VERSION as 124 for 1.24; 0 checks nothing.  Returns 0 or 78. */
int config_check_version(const struct config *c, int version);

/* Variables starting with PGBOUNCER_ that no table knows: refused with a
 * suggestion.  Returns 0 or 78. */
int config_check_unknown(struct env *e);

#endif
