/* Reading back a pgbouncer.ini (ours or the user's), in pgbouncer's own
 * syntax, for the few values we need: where pgbouncer listens (pg/local.h),
 * a database's forced user (reload) and where a section ends (procs).  The one reader of ini text; the
 * template (template.h) writes ini text and tracks sections as it goes. */
#include "text/ini.h"

#include <ctype.h>
#include <string.h>

#include "base/buf.h"

static const char *skip_spaces(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Does the line at P (spaces skipped) open [SECTION]? */
static bool opens(const char *p, const char *section, size_t slen)
{
	return *p == '[' && !strncmp(p + 1, section, slen) && p[1 + slen] == ']';
}

const char *ini_section_end(const char *text, const char *section)
{
	size_t slen = strlen(section);
	const char *line = text, *end = NULL;
	bool in_section = false;

	while (*line) {
		const char *eol = line + strcspn(line, "\n"), *p = skip_spaces(line, eol);
		if (*p == '[') {
			if (in_section)
				end = line;
			in_section = opens(p, section, slen);
		}
		line = *eol ? eol + 1 : eol;
	}
	return in_section ? line : end;
}

bool ini_get(const char *text, const char *section, const char *key, struct buf *out)
{
	size_t slen = strlen(section), klen = strlen(key);
	bool in_section = false, found = false;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n'), *p;
		if (!end)
			end = line + strlen(line);
		p = skip_spaces(line, end);
		if (*p == '[')
			in_section = opens(p, section, slen);
		else if (in_section && !strncmp(p, key, klen) &&
			 (p[klen] == ' ' || p[klen] == '\t' || p[klen] == '=')) {
			const char *v = skip_spaces(p + klen, end);
			if (v < end && *v == '=') {
				const char *e = end;
				v = skip_spaces(v + 1, end);
				while (e > v && isspace((unsigned char)e[-1]))
					e--;
				out->len = 0;
				buf_add(out, v, (size_t)(e - v));
				buf_puts(out, "");
				found = true;
			}
		}
		line = *end ? end + 1 : NULL;
	}
	return found;
}

/* One connection-string value at P (pgbouncer's syntax: '...' with ''
 * for a quote, else up to a space) into OUT; returns the end of it. */
static const char *conn_value(const char *p, const char *end, struct buf *out)
{
	out->len = 0;
	buf_puts(out, "");
	if (p < end && *p == '\'') {
		for (p++; p < end; p++) {
			if (*p == '\'' && !(p + 1 < end && p[1] == '\''))
				return p + 1;
			if (*p == '\'')
				p++;
			buf_putc(out, *p);
		}
		return p;
	}
	for (; p < end && *p != ' '; p++)
		buf_putc(out, *p);
	return p;
}

/* The user= of one [databases] line P..END into USER ("" when none). */
static void line_user(const char *p, const char *end, struct buf *user)
{
	struct buf v;

	user->len = 0;
	buf_puts(user, "");
	buf_init(&v);
	while ((p = skip_spaces(p, end)) < end) {
		const char *k = p;
		while (p < end && *p != '=' && *p != ' ')
			p++;
		size_t klen = (size_t)(p - k);
		p = skip_spaces(p, end);
		if (p >= end || *p != '=')
			break;
		p = conn_value(skip_spaces(p + 1, end), end, &v);
		if (klen == 4 && !strncmp(k, "user", 4)) {
			user->len = 0;
			buf_puts(user, buf_str(&v));
		}
	}
	buf_free_secret(&v);
}

bool ini_db_user(const char *text, const char *db, struct buf *out)
{
	struct buf connstr;
	bool found;

	buf_init(&connstr);
	found = ini_get(text, "databases", db, &connstr);
	if (found)
		line_user(buf_str(&connstr), buf_str(&connstr) + connstr.len, out);
	buf_free_secret(&connstr);
	return found;
}
