/* Which files to write and with what: generated from the model, expanded
 * from a user's template, or left alone because the user supplied them.
 * Building the plan reads the model and never changes it. */
#ifndef PGBE_PLAN_H
#define PGBE_PLAN_H

#include <stdbool.h>

#include "base/buf.h"
#include "base/runas.h"
#include "model/config.h"
#include "model/env.h"

struct outfile {
	char path[4096];
	struct buf content;
	bool write;         /* false: the user's own file, kept as it is */
	const char *source; /* "generated", "template", "supplied" */
};

struct plan {
	struct outfile ini;
	struct outfile userlist;
	bool user_ini; /* pgbouncer.ini or its template came from the user */
	/* per upstream: a supplied userlist holds an md5 hash for its user,
	 * which the wait checks against the server (the seed's fault B3) */
	bool userlist_md5[MAX_UPSTREAMS];
};

/* Looks at the config directory: does the user supply the ini (or a
 * template)?  Then the upstream variables become optional. */
void plan_probe(struct plan *p, const char *dir);

/* Fill both files.  Returns a status after logging. */
int plan_build(struct plan *p, const struct config *c, struct env *e, bool redact);
void plan_free(struct plan *p);

/* Supplied files must be readable by the run user.  Returns a status. */
int plan_check_supplied(const struct plan *p, const struct runas *ra);

/* Write what is to be written (after plan_check_supplied).  Returns a status. */
int plan_write(const struct plan *p, const char *dir, const struct runas *ra);

/* `check`: every file to stdout, secrets already redacted by plan_build. */
void plan_print(const struct plan *p);

#endif
