#include "model/quote.h"

#include <ctype.h>
#include <string.h>

#include "base/buf.h"

static bool has_line_break(const char *v)
{
	return strpbrk(v, "\r\n") != NULL;
}

bool quote_connstr_ok(const char *v, const char **why)
{
	if (!*v) {
		*why = "must not be empty (pgbouncer rejects an empty connection-string value)";
		return false;
	}
	if (has_line_break(v)) {
		*why = "must not contain a line break";
		return false;
	}
	return true;
}

bool quote_connstr(struct buf *out, const char *key, const char *v, const char **why)
{
	if (!quote_connstr_ok(v, why))
		return false;
	buf_puts(out, key);
	buf_puts(out, "='");
	for (; *v; v++) {
		if (*v == '\'')
			buf_putc(out, '\'');
		buf_putc(out, *v);
	}
	buf_puts(out, "' ");
	return true;
}

/* Length of V in userlist.txt, with every " doubled. */
static size_t quoted_len(const char *v)
{
	size_t n = 0;

	for (; *v; v++)
		n += *v == '"' ? 2 : 1;
	return n;
}

bool quote_userlist_value_ok(const char *v, const char **why)
{
	if (has_line_break(v)) {
		*why = "must not contain a line break";
		return false;
	}
	/* pgbouncer 1.18's loader stops reading the file at a password of
	 * 2048 bytes or more (escaped), silently dropping every later user */
	if (quoted_len(v) >= USERLIST_MAX_FIELD) {
		*why = "is too long for userlist.txt (pgbouncer reads at most 2047 bytes, with "
		       "each \" counted twice)";
		return false;
	}
	return true;
}

bool quote_userlist_user_ok(const char *v, const char **why)
{
	if (!quote_userlist_value_ok(v, why))
		return false;
	if (quoted_len(v) >= USERLIST_MAX_USER) {
		*why = "is too long for userlist.txt (pgbouncer reads at most 127 bytes)";
		return false;
	}
	return true;
}

bool quote_userlist(struct buf *out, const char *v, const char **why)
{
	if (!quote_userlist_value_ok(v, why))
		return false;
	buf_putc(out, '"');
	for (; *v; v++) {
		if (*v == '"')
			buf_putc(out, '"');
		buf_putc(out, *v);
	}
	buf_putc(out, '"');
	return true;
}

bool quote_db_alias_ok(const char *a, const char **why)
{
	if (!*a) {
		*why = "must not be empty";
		return false;
	}
	if (strlen(a) > 63) {
		*why = "must be at most 63 bytes (pgbouncer's limit)";
		return false;
	}
	if (strcmp(a, "pgbouncer") == 0) {
		*why = "must not be \"pgbouncer\": that name is pgbouncer's admin console";
		return false;
	}
	for (const char *p = a; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) {
			*why = "may contain only letters, digits, '_', '.' and '-' "
			       "(pgbouncer before 1.25 cannot quote a database name)";
			return false;
		}
	}
	return true;
}

void quote_url_encode(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~", c)) {
			buf_putc(out, (char)c);
		} else {
			buf_putc(out, '%');
			buf_putc(out, hex[c >> 4]);
			buf_putc(out, hex[c & 15]);
		}
	}
}

/* The next " at or after P.  Inside a field "" stands for one " and is
 * skipped; between the two fields pgbouncer skips anything, line breaks
 * included (loader.c find_quote). */
static const char *next_quote(const char *p, bool in_field)
{
	for (;; p += 2) {
		p += strcspn(p, "\"");
		if (!in_field || *p != '"' || p[1] != '"')
			return p;
	}
}

/* The "..." field whose opening quote is at P, unquoted into OUT.  Returns
 * the position after the closing quote, or NULL where pgbouncer stops
 * reading the file: no closing quote, or LIMIT bytes or more as written. */
static const char *field(const char *p, size_t limit, struct buf *out)
{
	const char *start = p + 1, *end;

	if (*p != '"')
		return NULL;
	end = next_quote(start, true);
	if (*end != '"' || (size_t)(end - start) >= limit)
		return NULL;
	for (p = start; p < end; p++) {
		if (*p == '"')
			p++;
		buf_putc(out, *p);
	}
	return end + 1;
}

/* As pgbouncer's load_auth_file reads it: white space (C locale) and ;
 * lines skipped, then "user", anything up to the next quote, "password",
 * and the rest of the line ignored. */
int quote_userlist_parse(const char *text, void (*fn)(const char *, const char *, void *),
			 void *arg)
{
	int n = 0;
	const char *p = text;

	while (*p) {
		struct buf user, secret;
		const char *q;
		p += strspn(p, " \t\n\v\f\r");
		if (!*p)
			break;
		if (*p == ';') {
			p += strcspn(p, "\n");
			continue;
		}
		buf_init(&user);
		buf_init(&secret);
		q = field(p, USERLIST_MAX_USER, &user);
		if (q)
			q = field(next_quote(q, false), USERLIST_MAX_FIELD, &secret);
		if (q && !user.oom && !secret.oom) {
			fn(buf_str(&user), buf_str(&secret), arg);
			n++;
		}
		buf_free_secret(&user);
		buf_free_secret(&secret);
		if (!q)
			return -1;
		p = q + strcspn(q, "\n");
	}
	return n;
}
