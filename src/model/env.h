/* The environment as the program sees it: every variable, with <NAME>_FILE
 * secrets already read.  Loading does the file I/O through a callback so the
 * rest of the model stays a pure function of this table. */
#ifndef PGBE_ENV_H
#define PGBE_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

struct envvar {
	char *name;
	char *value;
	char *file; /* set when the value came from NAME_FILE: that path */
	bool used;  /* consumed by the model; used to find unknown names */
};

struct env {
	struct envvar *v;
	size_t n;
};

/* Reads PATH into OUT.  Returns 0, or an errno value. */
typedef int (*env_reader)(const char *path, struct buf *out);

/* Is NAME a variable whose NAME_FILE twin means "read the value from a file"?
 * Decided by vars.c, which knows every variable. */
typedef bool (*env_file_capable)(const char *name);

/* Build the table from ENVP.  Returns a status after logging. */
int env_load(struct env *e, const char *const *envp, env_reader rd, env_file_capable capable);
void env_free(struct env *e);

/* The value of NAME, or NULL when unset; marks it used. */
const char *env_get(struct env *e, const char *name);
/* The variable that supplied NAME, for messages: "DB_PASSWORD_FILE" or NAME. */
const char *env_origin(struct env *e, const char *name, char *out, size_t outlen);
struct envvar *env_find(struct env *e, const char *name);

#endif
