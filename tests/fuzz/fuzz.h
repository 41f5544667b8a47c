/* Shared by the libFuzzer targets in tests/fuzz: the entry points, an
 * invariant check that aborts (libFuzzer then saves the input), and input
 * splitting.  Each target checks what pgbouncer would read back, not only
 * that nothing crashed. */
#ifndef PGBE_FUZZ_H
#define PGBE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: say which, and abort so libFuzzer keeps the input. */
#define INVARIANT(cond, ...)                                                    \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "INVARIANT FAILED %s:%d: %s\n  ", __FILE__, \
				__LINE__, #cond);                               \
			fprintf(stderr, __VA_ARGS__);                           \
			fprintf(stderr, "\n");                                  \
			abort();                                                \
		}                                                               \
	} while (0)

/* The input split at NUL bytes into at most MAX strings (the last piece
 * takes the rest, NULs included up to its own end).  Returns the count;
 * free with pieces_free. */
size_t pieces_split(const uint8_t *data, size_t size, char **out, size_t max);
void pieces_free(char **p, size_t n);

/* Occurrences of NEEDLE in HAY. */
size_t count_of(const char *hay, const char *needle);
/* HAY with every NEEDLE replaced by WITH (malloc'ed). */
char *replace_all(const char *hay, const char *needle, const char *with);

/* "..." with C escapes, for the message of a failed invariant (malloc'ed
 * and never freed: the process aborts right after). */
char *esc(const char *s);

/* Per target, run once before fuzzing (optional). */
void fuzz_init(void);

#endif
