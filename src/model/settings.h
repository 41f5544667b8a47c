/* The one table of pgbouncer's [pgbouncer] settings.  It drives the mapping
 * from environment variables (vars.c), validation, rendering, --help and the
 * README's settings section (`make readme-settings`; tests/test_cli.py fails
 * when README and table disagree). */
#ifndef PGBE_SETTINGS_H
#define PGBE_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

enum setting_type {
	ST_STRING,
	ST_INT,
	ST_OCTAL,
	ST_BOOL,
	ST_TIME,
	ST_ENUM,
};

enum setting_flag {
	SF_RESTART = 1 << 0, /* CF_NO_RELOAD: a reload ignores a new value */
	SF_BARE = 1 << 1,    /* edoburu reads the bare upper-case name too */
};

struct setting {
	const char *name;
	enum setting_type type;
	const char *pgb_default; /* pgbouncer's own default, for the docs; NULL = empty */
	const char *our_default; /* written when unset; NULL writes nothing */
	int since;               /* first pgbouncer version, 118 = 1.18 */
	unsigned flags;          /* enum setting_flag */
	const char *alias;       /* bitnami's irregular name (PGBOUNCER_PORT), or NULL */
	long min, max;           /* ST_INT / ST_OCTAL range */
	const char *values;      /* ST_ENUM: allowed values, space separated */
};

/* The oldest pgbouncer the table describes: every row has since >= it. */
#define SETTING_OLDEST 118

extern const struct setting settings[];
extern const size_t n_settings;

const struct setting *setting_find(const char *name);
const char *setting_type_name(enum setting_type t);

/* Check VALUE against the setting's type and append the form pgbouncer reads
 * (booleans as 0/1, enums in lower case).  On failure returns false and sets
 * *why to a phrase such as "must be a whole number (0-2147483647)". */
bool setting_normalize(const struct setting *s, const char *value, struct buf *out,
		       const char **why);

/* 0/1, true/false, yes/no, on/off in any case. */
bool setting_bool_parse(const char *value, bool *out);

/* "1.18" style text for a version number such as 118. */
const char *setting_version_text(int v, char out[16]);

#endif
