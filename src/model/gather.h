/* The upstream databases from the environment's variables. */
#ifndef PGBE_GATHER_H
#define PGBE_GATHER_H

#include <stdbool.h>
#include <stddef.h>

#include "model/upstream.h"

struct env;

int gather_upstreams(struct upstream *up, size_t *n, struct env *e, bool need,
		     const char *listen_port, const char *listen_addr);

#endif
