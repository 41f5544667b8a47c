/* The environment variables this program knows, and the rules that depend
 * only on a variable's name: which setting it sets, whether it may have a
 * <NAME>_FILE twin, whether its value is a secret. */
#ifndef PGBE_VARS_H
#define PGBE_VARS_H

#include <stdbool.h>
#include <stddef.h>

#include "model/settings.h"
#include "model/upstream.h"

/* One upstream field and the variables that may set it: the seed's DB_*
 * name first, then bitnami's. */
struct vars_fields {
	enum upstream_field field;
	const char *names[2];
};
extern const struct vars_fields vars_fields[];
extern const size_t vars_n_fields;

/* Names read by the options, the upstream list and per-database extras. */
extern const char *const vars_other[];
extern const size_t vars_n_other;

/* bitnami variables with no equivalent here, and what to do instead. */
struct unsupported_var {
	const char *name;
	const char *fix;
	bool fatal;
};
extern const struct unsupported_var vars_unsupported[];
extern const size_t vars_n_unsupported;

/* PREFIX + upper-cased NAME into DST ("PGBOUNCER_", "max_client_conn"). */
void vars_upper(char *dst, size_t len, const char *prefix, const char *name);

/* PGBOUNCER_DSN_<digits> */
bool vars_is_dsn(const char *name);

/* The setting a variable name sets (PGBOUNCER_X, a bare X the table marks,
 * or a bitnami alias), or NULL. */
const struct setting *vars_setting_of(const char *name);

/* Every variable that names setting S, in order of preference; STORE holds
 * the generated names.  Returns the count (at most 3). */
size_t vars_of_setting(const struct setting *s, const char **out, char store[][VAR_NAME_MAX]);

/* Does NAME accept a NAME_FILE twin (every variable above)? */
bool vars_file_capable(const char *name);

/* Does NAME carry or point to a secret: a password, a URL or DSN that may
 * hold one, any _FILE, PGPASSFILE?  The one rule for redaction in `check`
 * and templates, for the environment scrub before exec, and for messages:
 * a message prints the value only of a variable that is not secret (a
 * value read from a file is named NAME_FILE, so it is never printed). */
bool vars_is_secret(const char *name);

/* Was VAR's value read from a file (env_origin named it NAME_FILE)?  Such
 * a value is never echoed in a message, whatever the variable. */
bool vars_from_file(const char *var);

/* Log "VAR WHY, got "VALUE"", leaving the value out when VAR is secret. */
void vars_refuse(const char *var, const char *why, const char *value);

#endif
