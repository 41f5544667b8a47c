/* See pgbreader.h.  pgbouncer never calls setlocale, so its isspace() and
 * isalnum() are the C locale's: the helpers below spell that out instead of
 * depending on the harness's locale. */
#include "pgbreader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool c_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool c_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		abort();
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void *grow(void *p, size_t n, size_t size)
{
	p = realloc(p, (n + 1) * size);
	if (!p)
		abort();
	return p;
}

/* ---- pgbouncer.ini -------------------------------------------------------- */

static const char *to_eol(const char *p)
{
	while (*p && *p != '\n')
		p++;
	return p;
}

static void add_entry(struct ini_doc *d, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct ini_entry *e;

	d->e = grow(d->e, d->n, sizeof(*d->e));
	e = &d->e[d->n++];
	e->section = d->nsections ? dup_n(d->sections[d->nsections - 1],
					  strlen(d->sections[d->nsections - 1]))
				  : NULL;
	e->key = dup_n(key, klen);
	e->value = dup_n(val, vlen);
}

/* "[name]": the header ends at ']'; the rest of the line is read on as if
 * it started a new line (cfparser does not skip it). */
static const char *read_section(struct ini_doc *d, const char *p)
{
	const char *name = ++p;

	while (*p && *p != ']' && *p != '\n')
		p++;
	if (*p != ']') {
		d->syntax_error = true;
		return NULL;
	}
	d->sections = grow(d->sections, d->nsections, sizeof(*d->sections));
	d->sections[d->nsections++] = dup_n(name, (size_t)(p - name));
	return p + 1;
}

/* key = value: key chars [A-Za-z0-9_.*-], blanks around '=', the value runs
 * to the end of the line with trailing white space trimmed. */
static const char *read_pair(struct ini_doc *d, const char *p)
{
	const char *key = p, *val;
	size_t klen, vlen;

	while (*p && (c_alnum(*p) || strchr("_.-*", *p)))
		p++;
	klen = (size_t)(p - key);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '=') {
		d->syntax_error = true;
		return NULL;
	}
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	val = p;
	p = to_eol(p);
	vlen = (size_t)(p - val);
	while (vlen > 0 && c_space(val[vlen - 1]))
		vlen--;
	add_entry(d, key, klen, val, vlen);
	return p;
}

void ini_read(const char *text, struct ini_doc *d)
{
	const char *p = text;

	memset(d, 0, sizeof(*d));
	while (p && *p) {
		while (*p && c_space(*p))
			p++;
		if (strncmp(p, "%include", 8) == 0 && (p[8] == ' ' || p[8] == '\t')) {
			d->includes++;
			p = to_eol(p);
		} else if (*p == '#' || *p == ';') {
			p = to_eol(p);
		} else if (*p == '[') {
			p = read_section(d, p);
		} else if (*p) {
			p = read_pair(d, p);
		}
	}
}

void ini_free(struct ini_doc *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->e[i].section);
		free(d->e[i].key);
		free(d->e[i].value);
	}
	for (size_t i = 0; i < d->nsections; i++)
		free(d->sections[i]);
	free(d->e);
	free(d->sections);
	memset(d, 0, sizeof(*d));
}

/* ---- connection strings --------------------------------------------------- */

/* The only separator is the ASCII space (cstr_skip_ws). */
static const char *skip_sp(const char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

/* '...' with '' for '; returns the position after the closing quote, or
 * NULL when the quote is never closed. */
static const char *unquote(const char *p, char **out)
{
	size_t n = 0;
	char *v = malloc(strlen(p) + 1);

	if (!v)
		abort();
	for (;; p++) {
		if (!*p) {
			free(v);
			return NULL;
		}
		if (*p == '\'') {
			if (p[1] != '\'')
				break;
			p++;
		}
		v[n++] = *p;
	}
	v[n] = '\0';
	*out = v;
	return p + 1;
}

static const char *read_value(const char *p, char **out, bool *quoted)
{
	*quoted = *p == '\'';
	if (*quoted) {
		p = unquote(p + 1, out);
		if (!p)
			return NULL;
	} else {
		const char *v = p;
		while (*p && *p != ' ')
			p++;
		*out = dup_n(v, (size_t)(p - v));
	}
	/* pgbouncer cuts the value by overwriting the next character: after a
	 * closing quote that swallows whatever follows it */
	if (*p)
		p++;
	return p;
}

bool connstr_read(const char *text, struct connstr *cs)
{
	const char *p = skip_sp(text);

	memset(cs, 0, sizeof(*cs));
	while (*p) {
		const char *key = p, *kend;
		char *val;
		bool quoted;
		while (*p && *p != '=' && *p != ' ')
			p++;
		kend = p;
		p = skip_sp(p);
		if (*p != '=' || kend == key)
			return false;
		p = read_value(skip_sp(p + 1), &val, &quoted);
		if (!p)
			return false;
		if (!*val) {
			free(val);
			return false;
		}
		cs->p = grow(cs->p, cs->n, sizeof(*cs->p));
		cs->p[cs->n].key = dup_n(key, (size_t)(kend - key));
		cs->p[cs->n].value = val;
		cs->p[cs->n++].quoted = quoted;
		p = skip_sp(p);
	}
	return true;
}

void connstr_free(struct connstr *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->p[i].key);
		free(cs->p[i].value);
	}
	free(cs->p);
	memset(cs, 0, sizeof(*cs));
}

const char *connstr_get(const struct connstr *cs, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->p[i].key, key) == 0)
			v = cs->p[i].value;
	return v;
}

/* ---- userlist.txt ----------------------------------------------------------- */

/* The next " at or after P; inside a field ("" is one ") a doubled quote is
 * skipped, between fields (GAP) any character, line breaks included, is. */
static const char *find_quote(const char *p, bool gap)
{
	for (;;) {
		while (*p && *p != '"')
			p++;
		if (!gap && p[0] == '"' && p[1] == '"') {
			p += 2;
			continue;
		}
		return p;
	}
}

static char *unquote_field(const char *s, size_t n)
{
	char *d = malloc(n + 1), *o = d;
	const char *end = s + n;

	if (!d)
		abort();
	while (s < end) {
		if (*s == '"')
			s++;
		*o++ = *s++;
	}
	*o = '\0';
	return d;
}

static bool stop(struct ul_doc *d, const char *why)
{
	d->stopped = true;
	d->why = why;
	return false;
}

/* One "user" ... "password" entry at P; false when pgbouncer stops there. */
static bool read_entry(struct ul_doc *d, const char **pp, size_t max_user, size_t max_pw)
{
	const char *p = *pp, *user, *uend, *pw;

	if (*p != '"')
		return stop(d, "broken auth file");
	user = ++p;
	p = find_quote(p, false);
	if (*p != '"')
		return stop(d, "broken auth file");
	if (max_user && (size_t)(p - user) >= max_user)
		return stop(d, "username too long in auth file");
	uend = p++;
	p = find_quote(p, true);
	if (*p != '"')
		return stop(d, "broken auth file");
	pw = ++p;
	p = find_quote(p, false);
	if (*p != '"')
		return stop(d, "broken auth file");
	if (max_pw && (size_t)(p - pw) >= max_pw)
		return stop(d, "password too long in auth file");
	d->e = grow(d->e, d->n, sizeof(*d->e));
	d->e[d->n].user = unquote_field(user, (size_t)(uend - user));
	d->e[d->n].password = unquote_field(pw, (size_t)(p - pw));
	d->e[d->n].raw_user_len = (size_t)(uend - user);
	d->e[d->n++].raw_password_len = (size_t)(p - pw);
	*pp = to_eol(p + 1);
	return true;
}

void ul_read(const char *text, size_t max_user, size_t max_password, struct ul_doc *d)
{
	const char *p = text;

	memset(d, 0, sizeof(*d));
	while (*p) {
		while (*p && c_space(*p))
			p++;
		if (!*p)
			break;
		if (*p == ';') {
			p = to_eol(p);
			continue;
		}
		if (!read_entry(d, &p, max_user, max_password))
			break;
	}
}

void ul_free(struct ul_doc *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->e[i].user);
		free(d->e[i].password);
	}
	free(d->e);
	memset(d, 0, sizeof(*d));
}
