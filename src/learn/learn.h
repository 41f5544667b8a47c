/* The login phase of run and init: the wait (a libpq login per upstream),
 * then one SCRAM exchange of our own per upstream that learns the server's
 * secret, all before one deadline.  Started as root, the network part runs
 * in a child that has dropped to the run user; root reads back only a
 * fixed-size record and checks every secret's form before using it. */
#ifndef PGBE_LEARN_H
#define PGBE_LEARN_H

#include <stdbool.h>

#include "base/runas.h"
#include "learn/scram_proto.h"
#include "model/config.h"

struct learned {
	enum learn_status st[MAX_UPSTREAMS];
	char secret[MAX_UPSTREAMS][SCRAM_SECRET_MAX]; /* for LEARN_SCRAM */
	bool unstable[MAX_UPSTREAMS];                 /* two logins, two salts: no fixed secret */
};

/* Every status LEARN_NONE. */
void learned_init(struct learned *l);

/* Not pointed at itself, then the wait (USERLIST_MD5 as wait_upstreams
 * takes it), then, when LEARN, the learning, bounded by TIMEOUT seconds in
 * all (0: none of it).  Fills OUT.  Returns a status after logging.
 * --userlist-plaintext passes LEARN false: the escape hatch skips our own
 * SCRAM exchange altogether, for a server it cannot talk to. */
int learn_phase(const struct config *c, const bool *userlist_md5, long timeout, bool learn,
		const struct runas *ra, struct learned *out);

/* Root's check of what the child sent: statuses in range, secrets
 * terminated and well formed.  Pure. */
bool learned_valid(const struct learned *l);

#endif
