/* PGBOUNCER_UPSTREAM_AUTH: which ways of logging in the upstream may ask
 * for, and the guard that holds libpq to them.  libpq 16 has require_auth
 * for this; the libpq here is 15 (the newest whose source downloads), which
 * answers whatever the server asks: the password in clear to a server (or
 * anyone on the path) that refuses TLS and asks for it, a PBKDF2 of any
 * iteration count inside PQconnectPoll, AuthenticationOk without the SCRAM
 * signature.  So before libpq reads each message of the login, the guard
 * reads it first (MSG_PEEK, or SSL_peek under TLS) and ends the login when
 * it asks for what is not allowed. */
#ifndef PGBE_UPAUTH_H
#define PGBE_UPAUTH_H

#include <stdbool.h>
#include <stddef.h>

#define UPAUTH_SCRAM 1u    /* SCRAM-SHA-256, the server's signature checked: always */
#define UPAUTH_MD5 2u      /* md5 */
#define UPAUTH_PASSWORD 4u /* the password in clear */
#define UPAUTH_TRUST 8u    /* no password asked */
#define UPAUTH_ANY 0xffu   /* also GSS/SSPI, and SCRAM without the server's signature */
#define UPAUTH_DEFAULT UPAUTH_SCRAM

/* The variable's value ("scram-sha-256", "md5,password", "any", ...) into
 * *OUT.  False when a word is unknown. */
bool upauth_parse(const char *v, unsigned *out);

/* The guard of one libpq login. */
struct upauth_guard {
	unsigned allow;
	int stage;
	unsigned long
		sock;  /* the socket's inode: libpq's next host or sslmode try is a new login */
	char why[256]; /* set when refused */
};

void upauth_guard_init(struct upauth_guard *g, unsigned allow);

enum upauth_verdict {
	UPAUTH_GO,     /* let libpq read: nothing it will answer is refused */
	UPAUTH_MORE,   /* a message is not whole yet: wait for more */
	UPAUTH_REFUSE, /* the server asked for what is not allowed (77) */
};

/* The bytes that have arrived and libpq has not read (P, N; FULL: as many
 * as could be looked at).  Pure: advances G through the login's messages.
 * GO only when every message in P is whole and allowed: libpq reads them
 * all at once and answers each.  What stays open: bytes that come between
 * this look and libpq's read (microseconds; then the next look refuses
 * what is out of order, but libpq has answered it). */
enum upauth_verdict upauth_check(struct upauth_guard *g, const unsigned char *p, size_t n,
				 bool full);

/* The iteration counts a SCRAM login of ours accepts (upauth_* and the
 * learning login, learn/scram_learn.h). */
#define SCRAM_MAX_ITERATIONS 1000000
/* RFC 7677's floor and PostgreSQL's default: fewer make the client proof a
 * cheap start for guessing the password (a server, or something in between,
 * could ask for 1) */
#define SCRAM_MIN_ITERATIONS 4096

#endif
