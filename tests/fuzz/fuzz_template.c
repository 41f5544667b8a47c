/* A user's pgbouncer.ini.template or userlist.txt.template (src/text/template.c).
 * Input: one byte ('u': userlist.txt.template, anything else: the ini), then
 * NUL-separated values of DB_HOST, DB_PASSWORD, DB_USER and X (a value that
 * starts with \x01 leaves the variable unset), then the template.
 *
 * The oracle expands the template itself (${NAME}, ${NAME:-default}, $$), but
 * puts a plain token where a variable's value goes; pgbouncer's reader then
 * gives the structure the template author wrote.
 * Invariants:
 * - template_expand accepts exactly the templates the oracle accepts, except
 *   that it refuses a value with white space or a leading quote outside
 *   quotes in a connection string (issue 8, item 10), and only there;
 * - when every reference sits inside a connection-string value in
 *   [databases], [users] or [peers], quoted or not (an unquoted one is
 *   refused when it would split the value), or inside a "..." userlist
 *   field, pgbouncer reads
 *   the expansion as exactly the oracle's structure with each token replaced
 *   by the value, literally: same sections, keys, pairs, entries, nothing
 *   added or cut. */
#include <ctype.h>
#include <string.h>

#include "base/log.h"
#include "fuzz.h"
#include "model/env.h"
#include "model/vars.h"
#include "pgbreader.h"
#include "text/template.h"

#define NVARS 4
#define TOKEN "Zq"

static const char *const names[NVARS] = {"DB_HOST", "DB_PASSWORD", "DB_USER", "X"};

void fuzz_init(void)
{
}

static int no_files(const char *path, struct buf *out)
{
	(void)path;
	(void)out;
	return 2;
}

static void token(char out[16], int i)
{
	snprintf(out, 16, TOKEN "%d" TOKEN, i);
}

/* One ${...} at P; appends to OUT and returns the end, or NULL if the
 * template is refused. */
static const char *oracle_ref(const char *p, const char *const *vals, struct buf *out)
{
	const char *start = p + 2, *q = start, *close, *def = NULL;
	const char *v = NULL;
	char tok[16];
	int var = -1;

	while (isalnum((unsigned char)*q) || *q == '_')
		q++;
	close = strchr(q, '}');
	if (q == start || isdigit((unsigned char)*start) || q - start >= 128 || !close)
		return NULL;
	if (q != close) {
		if (strncmp(q, ":-", 2) != 0)
			return NULL;
		def = q + 2;
	}
	if (memchr(q, '\n', (size_t)(close - q)))
		return NULL;
	for (int i = 0; i < NVARS; i++)
		if (strlen(names[i]) == (size_t)(q - start) && !strncmp(names[i], start, q - start))
			var = i;
	if (var >= 0)
		v = vals[var];
	if ((!v || !*v) && def) {
		buf_add(out, def, (size_t)(close - def));
	} else {
		if (!v || strpbrk(v, "\r\n"))
			return NULL;
		/* an empty value stays empty: pgbouncer has no empty '...' value
		 * (it refuses the line either way) */
		if (*v) {
			token(tok, var);
			buf_puts(out, tok);
		}
	}
	return close + 1;
}

static bool oracle_expand(const char *p, const char *const *vals, struct buf *out)
{
	while (*p) {
		if (p[0] == '$' && p[1] == '$') {
			buf_putc(out, '$');
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			p = oracle_ref(p, vals, out);
			if (!p)
				return false;
		} else {
			buf_putc(out, *p++);
		}
	}
	return true;
}

/* S with every token replaced by its value, in one pass: a value may hold
 * what looks like a token. */
static char *substitute(const char *s, const char *const *vals)
{
	struct buf b;
	char tok[16], *out;

	buf_init(&b);
	while (*s) {
		bool hit = false;
		for (int i = 0; i < NVARS && !hit; i++) {
			token(tok, i);
			if (vals[i] && !strncmp(s, tok, strlen(tok))) {
				buf_puts(&b, vals[i]);
				s += strlen(tok);
				hit = true;
			}
		}
		if (!hit)
			buf_putc(&b, *s++);
	}
	out = strdup(buf_str(&b));
	buf_free(&b);
	return out;
}

static size_t tokens_in(const char *s)
{
	return count_of(s, TOKEN) / 2;
}

static bool connstr_section(const char *section)
{
	return section && (!strcmp(section, "databases") || !strcmp(section, "users") ||
			   !strcmp(section, "peers"));
}

/* Tokens inside connection-string values (quoted or not, never in a key)
 * of the oracle's file. */
static size_t value_tokens_ini(const struct ini_doc *o)
{
	size_t n = 0;
	struct connstr cs;

	for (size_t i = 0; i < o->n; i++) {
		if (!connstr_section(o->e[i].section))
			continue;
		if (connstr_read(o->e[i].value, &cs))
			for (size_t j = 0; j < cs.n; j++)
				n += tokens_in(cs.p[j].value);
		connstr_free(&cs);
	}
	return n;
}

static void compare_pairs(const char *have, const char *oracle, const char *const *vals)
{
	struct connstr a, o;
	bool ra = connstr_read(have, &a), ro = connstr_read(oracle, &o);

	INVARIANT(ra == ro && a.n == o.n, "connection string %s, want the structure of %s",
		  esc(have), esc(oracle));
	for (size_t i = 0; i < a.n; i++) {
		char *want = substitute(o.p[i].value, vals);
		INVARIANT(!strcmp(a.p[i].key, o.p[i].key) && !strcmp(a.p[i].value, want),
			  "pair %s=%s, want %s=%s", esc(a.p[i].key), esc(a.p[i].value),
			  esc(o.p[i].key), esc(want));
		free(want);
	}
	connstr_free(&a);
	connstr_free(&o);
}

static void check_ini(const char *have, const char *oracle, const char *const *vals)
{
	struct ini_doc a, o;

	ini_read(oracle, &o);
	if (value_tokens_ini(&o) != tokens_in(oracle)) {
		ini_free(&o); /* a reference outside any value: not promised literal */
		return;
	}
	ini_read(have, &a);
	INVARIANT(a.syntax_error == o.syntax_error && a.includes == o.includes &&
			  a.nsections == o.nsections && a.n == o.n,
		  "expanded ini %s differs in structure from %s", esc(have), esc(oracle));
	for (size_t i = 0; i < a.nsections; i++)
		INVARIANT(!strcmp(a.sections[i], o.sections[i]), "section %s, want %s",
			  esc(a.sections[i]), esc(o.sections[i]));
	for (size_t i = 0; i < a.n; i++) {
		INVARIANT(!strcmp(a.e[i].key, o.e[i].key), "key %s, want %s", esc(a.e[i].key),
			  esc(o.e[i].key));
		if (connstr_section(o.e[i].section))
			compare_pairs(a.e[i].value, o.e[i].value, vals);
		else
			INVARIANT(!strcmp(a.e[i].value, o.e[i].value), "%s = %s, want %s",
				  esc(a.e[i].key), esc(a.e[i].value), esc(o.e[i].value));
	}
	ini_free(&a);
	ini_free(&o);
}

static void check_userlist(const char *have, const char *oracle, const char *const *vals)
{
	struct ul_doc a, o;
	size_t quoted = 0;

	ul_read(oracle, 0, 0, &o);
	for (size_t i = 0; i < o.n; i++)
		quoted += tokens_in(o.e[i].user) + tokens_in(o.e[i].password);
	if (quoted != tokens_in(oracle)) {
		ul_free(&o);
		return;
	}
	ul_read(have, 0, 0, &a);
	INVARIANT(a.stopped == o.stopped && a.n == o.n, "userlist %s: %zu entries, want %zu of %s",
		  esc(have), a.n, o.n, esc(oracle));
	for (size_t i = 0; i < a.n; i++) {
		char *u = substitute(o.e[i].user, vals), *p = substitute(o.e[i].password, vals);
		INVARIANT(!strcmp(a.e[i].user, u) && !strcmp(a.e[i].password, p),
			  "entry %s %s, want %s %s", esc(a.e[i].user), esc(a.e[i].password), esc(u),
			  esc(p));
		free(u);
		free(p);
	}
	ul_free(&a);
	ul_free(&o);
}

/* template_expand refuses a value with white space or a leading quote where
 * it would split a connection string (issue 8, item 10).  Justified when
 * such a value has a token outside every quoted connection-string value of
 * the oracle's file. */
static bool whitespace_refusal_justified(const char *oracle, const char *const *vals)
{
	struct ini_doc o;
	struct connstr cs;
	char tok[16];
	bool justified = false;

	ini_read(oracle, &o);
	for (int v = 0; v < NVARS && !justified; v++) {
		size_t quoted = 0;
		if (!vals[v] || (!vals[v][strcspn(vals[v], " \t\v\f")] && vals[v][0] != '\''))
			continue;
		token(tok, v);
		for (size_t i = 0; i < o.n; i++) {
			if (!connstr_section(o.e[i].section))
				continue;
			if (connstr_read(o.e[i].value, &cs))
				for (size_t j = 0; j < cs.n; j++)
					quoted += cs.p[j].quoted ? count_of(cs.p[j].value, tok) : 0;
			connstr_free(&cs);
		}
		justified = count_of(oracle, tok) > quoted;
	}
	ini_free(&o);
	return justified;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s[NVARS + 1], *envs[NVARS];
	const char *vals[NVARS] = {0}, *envp[NVARS + 1];
	enum template_kind kind;
	size_t n, ne = 0;
	struct buf out, oracle, log;
	struct env e;
	bool ok;
	int rc;

	if (size < 1)
		return 0;
	kind = data[0] == 'u' ? TEMPLATE_USERLIST : TEMPLATE_INI;
	n = pieces_split(data + 1, size - 1, s, NVARS + 1);
	if (n < NVARS + 1 || strstr(s[NVARS], TOKEN)) {
		pieces_free(s, n);
		return 0;
	}
	for (int i = 0; i < NVARS; i++) {
		if (s[i][0] == '\x01')
			continue;
		vals[i] = s[i];
		envs[ne] = malloc(strlen(names[i]) + strlen(s[i]) + 2);
		sprintf(envs[ne], "%s=%s", names[i], s[i]);
		envp[ne] = envs[ne];
		ne++;
	}
	envp[ne] = NULL;
	buf_init(&out);
	buf_init(&oracle);
	buf_init(&log);
	log_capture(&log);
	env_load(&e, envp, no_files, vars_file_capable);
	rc = template_expand("t", s[NVARS], &e, kind, false, &out);
	ok = oracle_expand(s[NVARS], vals, &oracle);
	if (ok && rc != 0 && kind == TEMPLATE_INI && strstr(buf_str(&log), "contains white space"))
		ok = !whitespace_refusal_justified(buf_str(&oracle), vals);
	INVARIANT((rc == 0) == ok, "template %s: template_expand returned %d, the oracle %s",
		  esc(s[NVARS]), rc, ok ? "accepts it" : "refuses it");
	if (ok && kind == TEMPLATE_INI)
		check_ini(buf_str(&out), buf_str(&oracle), vals);
	else if (ok)
		check_userlist(buf_str(&out), buf_str(&oracle), vals);
	env_free(&e);
	log_capture(NULL);
	buf_free(&log);
	buf_free(&out);
	buf_free(&oracle);
	pieces_free(envs, ne);
	pieces_free(s, n);
	return 0;
}
