/* Variables starting with PGBOUNCER_ that nothing here reads: a typo that
 * would otherwise be silently ignored.  Refused with a suggestion. */
#ifndef PGBE_UNKNOWN_H
#define PGBE_UNKNOWN_H

struct env;

/* Returns a status (EX_CONFIG when a name is refused) after logging. */
int unknown_check(struct env *e);

#endif
