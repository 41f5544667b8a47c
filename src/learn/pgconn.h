/* The connection of scram_learn: TCP or a Unix socket, the SSLRequest and
 * TLS as server_tls_sslmode asks (the CA file and name check of the wait and
 * pgbouncer), and whole backend messages, every step bounded by one
 * deadline and ended by the wait's SIGTERM/SIGINT flag. */
#ifndef PGBE_PGCONN_H
#define PGBE_PGCONN_H

#include <stddef.h>

#include "base/buf.h"
#include "learn/scram_proto.h"

/* "so far so good": a step succeeded and the login goes on */
#define PGCONN_OK LEARN_SCRAM

struct ssl_st;
struct ssl_ctx_st;

struct pgconn {
	int fd;
	struct ssl_ctx_st *ctx;
	struct ssl_st *ssl;
	long long deadline;
	struct buf in;   /* received, not yet consumed */
	struct buf *why; /* the reason of a failure, one line */
};

/* One backend message; bodies longer than BODY are skipped (type '?'):
 * nothing the login parses is that long. */
struct pgmsg {
	char type;
	unsigned char body[8192];
	size_t len;
};

/* Connect to HOST (a name, an address or a socket directory) and port of T,
 * then TLS as T's sslmode asks.  PGCONN_OK means "connected"; any other
 * status is why not, with WHY set.  pgconn_close in every case. */
enum learn_status pgconn_open(struct pgconn *c, const struct learn_target *t, const char *host,
			      long long deadline, struct buf *why);

/* Send B whole, then wipe and free it. */
enum learn_status pgconn_send(struct pgconn *c, struct buf *b);

/* The next whole backend message. */
enum learn_status pgconn_next(struct pgconn *c, struct pgmsg *m);

void pgconn_close(struct pgconn *c);

#endif
