/* Values read back from ini text (pgbouncer.ini). */
#ifndef PGBE_INI_H
#define PGBE_INI_H

#include <stdbool.h>

#include "base/buf.h"

/* Value of KEY in [SECTION] of an ini TEXT into OUT, as pgbouncer reads
 * it (the last one wins, white space around it dropped).  false when
 * TEXT has none. */
bool ini_get(const char *text, const char *section, const char *key, struct buf *out);

/* The forced server user (user=) of database DB in the [databases] section
 * of an ini TEXT into OUT ("" when none).  false when TEXT has no DB. */
bool ini_db_user(const char *text, const char *db, struct buf *out);

/* Where the last [SECTION] of an ini TEXT ends: the start of the line of
 * the next section header, or the end of TEXT; NULL when TEXT has no
 * [SECTION]. */
const char *ini_section_end(const char *text, const char *section);

#endif
