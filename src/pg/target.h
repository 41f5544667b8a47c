/* What one upstream's login connects to: libpq's keywords, with every name
 * of the host list resolved (with the deadline) into hostaddr, so libpq
 * never looks a name up itself (that would block). */
#ifndef PGBE_TARGET_H
#define PGBE_TARGET_H

#include <netinet/in.h>
#include <stdbool.h>

#include "base/buf.h"
#include "model/config.h"

#define MAX_HOSTS 16 /* host list entries times addresses, per login */

struct target {
	const char *keys[16];
	const char *vals[16];
	int host_slot, addr_slot; /* where "host" and "hostaddr" are in keys */
	const struct upstream *u;
	bool userlist_md5;       /* a supplied userlist holds an md5 hash for u->user */
	unsigned auth;           /* what the server may ask for (upauth.h) */
	struct buf hosts, addrs; /* this login's libpq host and hostaddr lists */
	int entries;             /* in each list */
	int n;
	char probe[MAX_HOSTS][INET6_ADDRSTRLEN]; /* TCP addresses for pause probes */
	bool closed; /* the last login found the port closed (connection refused) */
};

void target_init(struct target *t, const struct config *c, const struct upstream *u);
void target_free(struct target *t);

/* Resolve every name of the host list before DEADLINE into "host" and
 * "hostaddr" lists of the same length.  Returns EX_OK; EX_UNAVAILABLE with
 * the lookup error in WHY when no entry is left; EX_SIGNAL_BASE + signal. */
int target_resolve(struct target *t, long long deadline, struct buf *why);

/* Does any entry of T's host list (as last resolved) accept a connection
 * before UNTIL? */
bool target_accepts(const struct target *t, long long until);

/* A Unix socket directory, not a host name or address. */
bool target_is_socket_dir(const char *host);

#endif
