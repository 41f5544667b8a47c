/* Name lookup with a deadline.  musl's getaddrinfo blocks (its own timeout
 * is the resolv.conf one, 5 s per try by default) and a signal does not end
 * it, and libpq would call it inside PQconnectPoll: so names are resolved
 * here, in a child process that can be abandoned, and libpq gets the numeric
 * addresses (hostaddr) next to the name (host, for TLS verification and
 * SNI). */
#ifndef PGBE_RESOLVE_H
#define PGBE_RESOLVE_H

#include <netinet/in.h>

#include "base/buf.h"

#define RESOLVE_MAX 8 /* addresses kept per name */

struct addrs {
	int n;
	char addr[RESOLVE_MAX][INET6_ADDRSTRLEN];
};

/* The TCP addresses of HOST (a name or a numeric address) into OUT.
 * Returns EX_OK; EX_UNAVAILABLE with the reason in WHY (no such name, or no
 * answer before DEADLINE); EX_OSERR; or EX_SIGNAL_BASE + a stop signal. */
int resolve_host(const char *host, long long deadline, struct addrs *out, struct buf *why);

#endif
