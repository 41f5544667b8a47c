/* Cheap questions to the network without libpq: does a port accept a
 * connection, is an address this machine's own. */
#ifndef PGBE_PROBE_H
#define PGBE_PROBE_H

#include <stdbool.h>

/* Does the PostgreSQL socket of DIR and PORT accept a connection? */
bool probe_socket(const char *dir, const char *port);

/* Does numeric ADDR:PORT accept a TCP connection before UNTIL (deadline_now)? */
bool probe_tcp(const char *addr, const char *port, long long until);

/* Is numeric ADDR one of this network namespace's own (bind() succeeds)? */
bool probe_is_own_address(const char *addr);

#endif
