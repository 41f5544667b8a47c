/*
 * What the binary is made of, for --version.
 */
#include <openssl/crypto.h>

#include "about.h"
#include "libpq-fe.h"
#include "version.h"

#ifndef PGBE_MUSL_VERSION
#define PGBE_MUSL_VERSION ""
#endif

void about_versions(FILE *out)
{
	int pq = PQlibVersion();

	fprintf(out, "pgbouncer-entrypoint %s\n", PGBE_VERSION);
	/* the library's own answer, not the headers': what is really linked */
	fprintf(out, "OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	/* PostgreSQL 10+: major * 10000 + minor */
	fprintf(out, "libpq %d.%d\n", pq / 10000, pq % 10000);
	/* musl has no run-time version call; the Makefile passes the version
	 * of the musl-dev package the binary was linked against (empty for the
	 * glibc sanitizer build) */
	if (PGBE_MUSL_VERSION[0])
		fprintf(out, "musl %s\n", PGBE_MUSL_VERSION);
}
