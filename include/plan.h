/* Which files to write and with what: generated from the model, expanded
 * from a user's template, or left alone because the user supplied them. */
#ifndef PGBE_PLAN_H
#define PGBE_PLAN_H

#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "env.h"
#include "fileio.h"

struct outfile {
	char path[4096];
	struct buf content;
	bool write;          /* false: the user's own file, kept as it is */
	const char *source;  /* "generated", "template", "supplied" */
};

struct plan {
	struct outfile ini;
	struct outfile userlist;
	bool user_ini;       /* pgbouncer.ini or its template came from the user */
};

/* Looks at the config directory: does the user supply the ini (or a
 * template)?  Then the upstream variables become optional. */
void plan_probe(struct plan *p, const char *dir);

/* Fill both files.  Returns 0 or 78 after logging. */
/* Marks upstreams whose supplied userlist entry is an md5 hash. */
int plan_build(struct plan *p, struct config *c, struct env *e, bool redact);
void plan_free(struct plan *p);

/* userlist.txt lines: "user" "secret" with "" for ", ; comments.  Calls FN
 * for each entry; returns the number of entries, or -1 at the first line
 * pgbouncer would reject (it stops reading there). */
int userlist_parse(const char *text, void (*fn)(const char *user, const char *secret, void *arg),
		   void *arg);



/* Write what is to be written; check that supplied files are readable by
 * the run user.  Returns 0, 73 or 78. */
int plan_write(const struct plan *p, const char *dir, const struct runas *ra);

/* `check`: every file to stdout, secrets already redacted by plan_build. */
void plan_print(const struct plan *p);
#endif
