/* Each generated file has its own quoting; one function per file, never
 * shared: pgbouncer reads [databases] values, userlist.txt fields and
 * [pgbouncer] values by three different rules (README, "Files you supply"). */
#ifndef PGBE_QUOTE_H
#define PGBE_QUOTE_H

#include <stdbool.h>

#include "base/buf.h"

/* [databases] connection-string value: '...' with ' doubled, then a space,
 * because pgbouncer swallows the character after a closing quote.  Refuses
 * (returns false, sets *why) an empty value or one with a line break. */
bool quote_connstr(struct buf *out, const char *key, const char *value, const char **why);
bool quote_connstr_ok(const char *value, const char **why);

/* userlist.txt field: "..." with " doubled. */
bool quote_userlist(struct buf *out, const char *value, const char **why);
#define USERLIST_MAX_FIELD 2048 /* pgbouncer 1.18 MAX_PASSWORD */
#define USERLIST_MAX_USER 128   /* MAX_USERNAME */
bool quote_userlist_value_ok(const char *value, const char **why);
bool quote_userlist_user_ok(const char *value, const char **why);

/* [databases] key: pgbouncer before 1.25 has no quoting for it. */
bool quote_db_alias_ok(const char *alias, const char **why);

/* userlist.txt lines: "user" "secret" with "" for ", ; comments.  Calls FN
 * for each entry; returns the number of entries, or -1 at the first line
 * pgbouncer would reject (it stops reading there). */
int quote_userlist_parse(const char *text, void (*fn)(const char *user, const char *secret, void *arg),
		   void *arg);

/* Percent-encode for the user-info part of a URL (RFC 3986 unreserved kept). */
void quote_url_encode(struct buf *out, const char *s);

#endif
