/* Learning the server's own SCRAM secret: one login to the upstream that
 * speaks the few protocol messages itself, because libpq has no API for the
 * salt and iteration count the server sends in its server-first message
 * (issue 10).  Knowing the password, StoredKey and ServerKey follow, so the
 * secret is byte-identical to the server's pg_authid.rolpassword, and
 * pgbouncer can pass a client's SCRAM proof through to the server.
 *
 * The message builders and parsers are pure functions (unit-tested); the
 * connection part honours one deadline and the SIGTERM/SIGINT flag of the
 * wait. */
#ifndef PGBE_SCRAM_LEARN_H
#define PGBE_SCRAM_LEARN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define SCRAM_KEY_LEN 32
#define SCRAM_MAX_SALT 64
#define SCRAM_MAX_ITERATIONS 1000000
/* RFC 7677's floor and PostgreSQL's default: fewer make the client proof a
 * cheap start for guessing the password (a server, or something in between,
 * could ask for 1) */
#define SCRAM_MIN_ITERATIONS 4096
/* Longest secret secret_scram writes for a salt of SCRAM_MAX_SALT bytes. */
#define SCRAM_SECRET_MAX 256

/* What the server asked for, or why nothing was learned. */
enum learn_status {
	LEARN_SCRAM,     /* secret learned and the server's signature verified */
	LEARN_MD5,       /* the server asked for md5: it stores an md5 hash */
	LEARN_CLEARTEXT, /* the server asked for the cleartext password */
	LEARN_TRUST,     /* the server let us in without asking */
	LEARN_OTHER,     /* GSS, SSPI, or a SASL mechanism other than SCRAM-SHA-256 */
	LEARN_RETRY,     /* not reachable or not ready: try again before the deadline */
	LEARN_REFUSED,   /* the server said no, or proved nothing (bad signature) */
	LEARN_STOPPED,   /* SIGTERM/SIGINT */
	LEARN_NONE,      /* not attempted (no wait, no host) */
};
const char *learn_status_name(enum learn_status s);

struct learn_target {
	const char *host; /* libpq form: "name", "a,b" (tried in order), "/socket/dir" */
	const char *port;
	const char *dbname;
	const char *user;
	const char *password;
	const char *sslmode; /* server_tls_sslmode; NULL = prefer */
	const char *ca_file; /* server_tls_ca_file, for verify-ca/verify-full */
	const char *cert_file;
	const char *key_file;
};

/* One login.  On LEARN_SCRAM, SECRET holds
 * SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>.  WHY gets a one-line
 * reason for every other status (never the password).  Gives up at DEADLINE
 * (now_ms() clock) with LEARN_RETRY, or at once on wait_stop_signal. */
enum learn_status scram_learn(const struct learn_target *t, long long deadline, struct buf *secret,
			      struct buf *why);

#endif
