/* DATABASE_URL and DATABASE_URLS (src/model/url.c).  Input: NUL-separated
 * strings; the first is given to url_parse and url_split_list, the others
 * (up to 8) become the URLs of a DATABASE_URLS list.
 *
 * Invariants:
 * - url_parse keeps what libpq read: host, dbname, user, password, sslmode
 *   and application_name as PQconninfoParse gives them, and the port that
 *   every host names (a host without one means 5432); nothing else accepted.
 * - What url_parse accepted, written back as a canonical URL (every part
 *   percent-encoded), parses to the same upstream.
 * - url_split_list loses and invents nothing but separators: the text is
 *   its URLs in order with only commas and white space around them.
 * - A list of URLs joined by ", " or a line break splits back into exactly
 *   those URLs, whatever they hold, unless a URL itself holds a separator
 *   followed by a scheme (that is where a new URL starts). */
#include <ctype.h>
#include <libpq-fe.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "fuzz.h"
#include "model/quote.h"
#include "model/url.h"

#define MAX_URLS 8

void fuzz_init(void)
{
}

static const char *const schemes[] = {"postgres://", "postgresql://", "pgsql://", "postgis://",
				      "timescale://"};

static size_t scheme_len(const char *s)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(s, schemes[i], strlen(schemes[i])) == 0)
			return strlen(schemes[i]);
	return 0;
}

static bool is_sep(char c)
{
	return c == ',' || isspace((unsigned char)c);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The port url_parse must keep from libpq's port list: NULL when no host
 * names one, the common port otherwise; *CONFLICT when hosts disagree. */
static char *expected_port(const char *ports, bool *conflict)
{
	char *want = NULL;
	bool any = false;

	*conflict = false;
	for (const char *p = ports; p && *p;) {
		size_t len = strcspn(p, ",");
		char *one = len ? strndup(p, len) : strdup("5432");
		any |= len > 0;
		if (want && strcmp(want, one) != 0)
			*conflict = true;
		if (!want)
			want = one;
		else
			free(one);
		p += len + (p[len] == ',');
	}
	if (!any) {
		free(want);
		want = NULL;
	}
	return want;
}

static void check_against_libpq(const char *text, const struct upstream *u)
{
	struct buf fixed;
	PQconninfoOption *opts;
	char *err = NULL;
	size_t sl = scheme_len(text);

	buf_init(&fixed);
	if (sl && strncasecmp(text, "postgres", 8) != 0) {
		buf_puts(&fixed, "postgresql://");
		buf_puts(&fixed, text + sl);
	} else {
		buf_puts(&fixed, text);
	}
	opts = PQconninfoParse(buf_str(&fixed), &err);
	INVARIANT(opts, "url_parse accepted %s, libpq refuses it", esc(text));
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = o->val && *o->val ? o->val : NULL, *k = o->keyword;
		if (!strcmp(k, "port")) {
			bool conflict;
			char *want = expected_port(o->val, &conflict);
			INVARIANT(!conflict && same(u->port, want),
				  "%s: port list %s kept as %s, want %s", esc(text), esc(o->val),
				  esc(u->port), esc(want));
			free(want);
		} else if (!strcmp(k, "password")) {
			INVARIANT(same(u->password, o->val), "%s: password %s, libpq %s", esc(text),
				  esc(u->password), esc(o->val));
		} else {
			const char *have = !strcmp(k, "host")               ? u->host
					   : !strcmp(k, "dbname")           ? u->dbname
					   : !strcmp(k, "user")             ? u->user
					   : !strcmp(k, "sslmode")          ? u->sslmode
					   : !strcmp(k, "application_name") ? u->application_name
									    : v;
			INVARIANT(same(have, v), "%s: %s kept as %s, libpq read %s", esc(text), k,
				  esc(have), esc(v));
		}
	}
	PQconninfoFree(opts);
	buf_free(&fixed);
}

/* U written as a URL with every part percent-encoded. */
static void canonical(const struct upstream *u, struct buf *out)
{
	buf_puts(out, "postgresql://");
	if (u->user || u->password) {
		quote_url_encode(out, u->user ? u->user : "");
		if (u->password) {
			buf_putc(out, ':');
			quote_url_encode(out, u->password);
		}
		buf_putc(out, '@');
	}
	for (const char *h = u->host ? u->host : ""; h;) {
		const char *comma = strchr(h, ',');
		char *one = comma ? strndup(h, (size_t)(comma - h)) : strdup(h);
		quote_url_encode(out, one);
		free(one);
		if (u->port)
			buf_printf(out, ":%s", u->port);
		if (comma)
			buf_putc(out, ',');
		h = comma ? comma + 1 : NULL;
	}
	buf_putc(out, '/');
	if (u->dbname)
		quote_url_encode(out, u->dbname);
	if (u->sslmode) {
		buf_puts(out, "?sslmode=");
		quote_url_encode(out, u->sslmode);
	}
	if (u->application_name) {
		buf_puts(out, u->sslmode ? "&application_name=" : "?application_name=");
		quote_url_encode(out, u->application_name);
	}
}

static void check_round_trip(const struct upstream *u)
{
	struct upstream v;
	struct buf url;

	if (u->port && strspn(u->port, "0123456789") != strlen(u->port))
		return; /* refused later (port_ok); a URL has no quoting for it */
	if (u->password && !*u->password)
		return; /* refused later; a URL cannot tell an empty one from none */

	buf_init(&url);
	canonical(u, &url);
	memset(&v, 0, sizeof(v));
	INVARIANT(url_parse(url.data, &v, "DATABASE_URL") == 0, "canonical URL %s refused",
		  esc(url.data));
	INVARIANT(same(u->host, v.host) && same(u->port, v.port) && same(u->dbname, v.dbname) &&
			  same(u->user, v.user) && same(u->password, v.password) &&
			  same(u->sslmode, v.sslmode) &&
			  same(u->application_name, v.application_name),
		  "canonical URL %s reads back differently: host %s/%s port %s/%s dbname %s/%s "
		  "user %s/%s",
		  esc(url.data), esc(u->host), esc(v.host), esc(u->port), esc(v.port),
		  esc(u->dbname), esc(v.dbname), esc(u->user), esc(v.user));
	upstream_free(&v);
	buf_free(&url);
}

static void check_parse(const char *text)
{
	struct upstream u;

	memset(&u, 0, sizeof(u));
	if (url_parse(text, &u, "DATABASE_URL") == 0) {
		check_against_libpq(text, &u);
		check_round_trip(&u);
	}
	upstream_free(&u);
}

/* ---- DATABASE_URLS --------------------------------------------------------- */

static void check_split(const char *text)
{
	char *out[64];
	int n = url_split_list(text, out, 64);
	const char *p = text;

	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		const char *start = p;
		while (is_sep(*p))
			p++;
		INVARIANT(*out[i] && !is_sep(out[i][0]) && (i == 0 || p > start),
			  "URL %d of %s is %s", i, esc(text), esc(out[i]));
		INVARIANT(!strncmp(p, out[i], strlen(out[i])), "URL %d %s is not next in %s", i,
			  esc(out[i]), esc(text));
		p += strlen(out[i]);
	}
	while (is_sep(*p))
		p++;
	INVARIANT(!*p, "%s: %s left after %d URLs", esc(text), esc(p), n);
	pieces_free(out, (size_t)n);
}

/* Would a list reader see a new URL start inside U? */
static bool holds_a_start(const char *u)
{
	for (const char *p = u; *p; p++) {
		if (!is_sep(*p))
			continue;
		const char *q = p;
		while (is_sep(*q))
			q++;
		if (!*q || scheme_len(q))
			return true;
	}
	return false;
}

static void check_list(char **pieces, size_t n)
{
	char *urls[MAX_URLS], *out[64];
	struct buf list;
	int got;

	buf_init(&list);
	for (size_t i = 0; i < n; i++) {
		struct buf one;
		buf_init(&one);
		buf_printf(&one, "%s%s", i % 2 ? "postgres://" : "postgresql://", pieces[i]);
		urls[i] = strdup(buf_str(&one));
		buf_free(&one);
		if (holds_a_start(urls[i])) {
			pieces_free(urls, i + 1);
			buf_free(&list);
			return;
		}
		buf_puts(&list, i == 0 ? "" : i % 2 ? ", " : "\n");
		buf_puts(&list, urls[i]);
	}
	got = url_split_list(buf_str(&list), out, 64);
	INVARIANT(got == (int)n, "%s split into %d URLs, want %zu", esc(buf_str(&list)), got, n);
	for (size_t i = 0; i < n; i++)
		INVARIANT(!strcmp(out[i], urls[i]), "URL %zu of %s is %s, want %s", i,
			  esc(buf_str(&list)), esc(out[i]), esc(urls[i]));
	pieces_free(out, n);
	pieces_free(urls, n);
	buf_free(&list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s[1 + MAX_URLS];
	size_t n = pieces_split(data, size, s, 1 + MAX_URLS);
	struct buf log;

	buf_init(&log);
	log_capture(&log);
	if (n > 0) {
		check_parse(s[0]);
		check_split(s[0]);
	}
	if (n > 1)
		check_list(s + 1, n - 1);
	log_capture(NULL);
	buf_free(&log);
	pieces_free(s, n);
	return 0;
}
