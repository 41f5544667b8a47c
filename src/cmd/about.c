/*
 * What the binary is made of, for --version.
 */
#include <openssl/crypto.h>

#include "base/version.h"
#include "cmd/about.h"
#include "libpq-fe.h"

#ifndef PGBE_MUSL_VERSION
#define PGBE_MUSL_VERSION ""
#endif
/* How the static libraries were built (Debian revision, patches applied),
 * from the dependency build's record (scripts/deps-about.sh) */
#ifndef PGBE_OPENSSL_BUILD
#define PGBE_OPENSSL_BUILD ""
#endif
#ifndef PGBE_LIBPQ_BUILD
#define PGBE_LIBPQ_BUILD ""
#endif
#ifndef PGBE_MUSL_BUILD
#define PGBE_MUSL_BUILD ""
#endif

/* " (HOW)" after a library's version, or nothing */
static void built(FILE *out, const char *how)
{
	if (how[0])
		fprintf(out, " (%s)", how);
	fputc('\n', out);
}

void about_versions(FILE *out)
{
	int pq = PQlibVersion();

	fprintf(out, "pgbouncer-entrypoint %s\n", PGBE_VERSION);
	/* the library's own answer, not the headers': what is really linked */
	fprintf(out, "OpenSSL %s", OpenSSL_version(OPENSSL_VERSION_STRING));
	built(out, PGBE_OPENSSL_BUILD);
	/* PostgreSQL 10+: major * 10000 + minor */
	fprintf(out, "libpq %d.%d", pq / 10000, pq % 10000);
	built(out, PGBE_LIBPQ_BUILD);
	/* musl has no run-time version call; the Makefile passes the version
	 * of the musl the dependency build made (empty for the glibc
	 * sanitizer build) */
	if (PGBE_MUSL_VERSION[0]) {
		fprintf(out, "musl %s", PGBE_MUSL_VERSION);
		built(out, PGBE_MUSL_BUILD);
	}
}
