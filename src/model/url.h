/* DATABASE_URL and friends, parsed by libpq's PQconninfoParse: the same
 * parser the application's driver trusts, not a hand-written one. */
#ifndef PGBE_URL_H
#define PGBE_URL_H

#include "model/upstream.h"

/* Parse a postgres:// URL or a libpq keyword=value string into U (fields
 * strdup'ed; unset fields NULL).  ORIGIN names the variable for messages.
 * Returns a status after logging; never logs the password. */
int url_parse(const char *text, struct upstream *u, const char *origin);

/* Split DATABASE_URLS: URLs separated by commas or white space, where a
 * separator counts only before a new "postgres" scheme, so a libpq host list
 * "h1,h2" inside one URL stays whole.  Returns the number of URLs written to
 * OUT (malloc'ed strings), or -1 with nothing in OUT to free. */
int url_split_list(const char *text, char **out, int max);

#endif
