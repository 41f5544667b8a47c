/* Password verifiers as PostgreSQL and pgbouncer store them, computed with
 * OpenSSL (and libpgcommon's SASLprep).  Used to check a user-supplied
 * userlist against the password in the environment. */
#ifndef PGBE_SECRET_H
#define PGBE_SECRET_H

#include <stdbool.h>

#include "base/buf.h"

#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_SALT_LEN 16
/* A supplied SCRAM secret with more iterations is refused: checking it would
 * cost seconds of CPU at every start (PostgreSQL's default is 4096). */
#define SCRAM_MAX_ITERATIONS 1000000

/* "md5" + hex(md5(password || user)), lower-case hex. */
bool secret_md5(const char *user, const char *password, struct buf *out);

/* SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey> */
bool secret_scram(const char *password, const unsigned char *salt, int saltlen, int iterations,
		  struct buf *out);
/* The password as SCRAM hashes it: SASLprep'd when it is valid UTF-8 and
 * preparation succeeds, else the raw bytes (as PostgreSQL and libpq do).
 * malloc'ed; wipe and free it.  NULL when out of memory. */
char *secret_saslprep(const char *password);

/* Same, with a fresh random salt and the default iteration count. */
bool secret_scram_random(const char *password, struct buf *out);

enum secret_kind { SECRET_PLAIN, SECRET_MD5, SECRET_SCRAM };
/* How pgbouncer classifies a userlist password (scram.c get_password_type). */
enum secret_kind secret_classify(const char *stored);

/* Does STORED (any kind) verify PASSWORD for USER? */
/* The iteration count of a SCRAM secret, or -1 when it has none. */
long secret_scram_iterations(const char *stored);

bool secret_matches(const char *stored, const char *user, const char *password);

#endif
