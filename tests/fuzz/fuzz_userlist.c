/* quote_userlist_parse (src/model/quote.c) against pgbouncer's own auth_file loader
 * (pgbreader.c ul_read with pgbouncer 1.18-1.24's limits).  Input: the file.
 *
 * Invariant: quote_userlist_parse calls back with exactly the entries pgbouncer
 * loads, in order, and returns -1 exactly when pgbouncer stops reading at a
 * line (it then ignores every later line).  The check of a supplied
 * userlist.txt (the md5 order of B1) is only as good as this agreement. */
#include <string.h>

#include "fuzz.h"
#include "model/quote.h"
#include "pgbreader.h"

struct seen {
	const struct ul_doc *want;
	size_t n;
	const char *text;
};

void fuzz_init(void)
{
}

static void entry(const char *user, const char *secret, void *arg)
{
	struct seen *s = arg;

	INVARIANT(s->n < s->want->n,
		  "quote_userlist_parse returned entry %zu (%s %s) that pgbouncer "
		  "does not load from %s",
		  s->n, esc(user), esc(secret), esc(s->text));
	INVARIANT(!strcmp(s->want->e[s->n].user, user) &&
			  !strcmp(s->want->e[s->n].password, secret),
		  "entry %zu: quote_userlist_parse read %s %s, pgbouncer reads %s %s from %s", s->n,
		  esc(user), esc(secret), esc(s->want->e[s->n].user),
		  esc(s->want->e[s->n].password), esc(s->text));
	s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct ul_doc want;
	struct seen s;
	int n;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ul_read(text, 128, 2048, &want);
	s.want = &want;
	s.n = 0;
	s.text = text;
	n = quote_userlist_parse(text, entry, &s);
	INVARIANT(s.n == want.n, "quote_userlist_parse found %zu entries, pgbouncer loads %zu from %s",
		  s.n, want.n, esc(text));
	INVARIANT((n < 0) == want.stopped && (n < 0 || (size_t)n == want.n),
		  "quote_userlist_parse returned %d; pgbouncer %s after %zu entries: %s", n,
		  want.stopped ? want.why : "reads to the end", want.n, esc(text));
	ul_free(&want);
	free(text);
	return 0;
}
