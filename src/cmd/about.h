#ifndef PGBE_ABOUT_H
#define PGBE_ABOUT_H

#include <stdio.h>

/* --version: this program's version and those of the libraries linked into
 * it, one "name version" per line.  A FROM scratch image has no package
 * database, so this (and the image's SBOM) is how scanners and users learn
 * which OpenSSL, libpq and musl they run. */
void about_versions(FILE *out);

#endif
