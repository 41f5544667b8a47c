#include "text/template.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "model/vars.h"
#include "text/render.h"

/* Past a '...' value that starts at P (after the opening quote): '' is
 * one quote; pgbouncer swallows the character after the closing quote.
 * NULL when the value is still open at END. */
static const char *skip_quoted(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p != '\'')
			continue;
		if (p + 1 < end && p[1] == '\'') {
			p++;
			continue;
		}
		return p + 1 < end ? p + 2 : p + 1;
	}
	return NULL;
}

/* Read P..END as pgbouncer reads a connection string (cstr_get_pair: pairs
 * separated by spaces, key=value, the value '...' or up to the next space).
 * 1: END is inside a quoted value; 0: it is not; -1: no connection string. */
static int connstr_state(const char *p, const char *end)
{
	while (p < end) {
		const char *key = p;
		while (p < end && *p == ' ')
			key = ++p;
		while (p < end && *p != '=' && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			return 0;
		if (*p != '=' || p == key)
			return -1;
		for (p++; p < end && *p == ' '; p++)
			;
		if (p < end && *p == '\'') {
			if (!(p = skip_quoted(p + 1, end)))
				return 1;
		} else {
			while (p < end && *p != ' ')
				p++;
		}
	}
	return 0;
}

/* Inside '...' on the current line?  A [databases] or [users] line is read
 * after its first = as pgbouncer reads it, so a quote in an unquoted value
 * does not count; any other line (a [pgbouncer] value such as auth_query)
 * counts the quotes, so an SQL string literal gets '' too. */
static bool in_single_quotes(const struct buf *out)
{
	const char *end, *line, *eq;
	bool in = false;
	int state;

	if (!out->len)
		return false;
	end = out->data + out->len;
	line = end;
	while (line > out->data && line[-1] != '\n')
		line--;
	eq = memchr(line, '=', (size_t)(end - line));
	if (eq && (state = connstr_state(eq + 1, end)) >= 0)
		return state == 1;
	for (const char *p = line; p < end; p++)
		if (*p == '\'')
			in = !in;
	return in;
}

static void put_value(struct buf *out, const char *v, enum template_kind kind)
{
	char q = kind == TEMPLATE_USERLIST ? '"' : in_single_quotes(out) ? '\'' : 0;

	for (; *v; v++) {
		if (q && *v == q)
			buf_putc(out, q);
		buf_putc(out, *v);
	}
}

static int line_of(const char *text, const char *at)
{
	int n = 1;

	for (; text < at; text++)
		n += *text == '\n';
	return n;
}

/* Which section the output is in: kept up to date as the output grows, so
 * the whole expansion stays linear in the template's size. */
struct section {
	size_t scanned;
	bool connstr;    /* [databases], [peers], [users]: values are key=value lists */
	bool line_start; /* only white space so far on the current line */
	bool in_header;  /* between a header's [ and its ] */
};

/* pgbouncer skips white space before a [section] header (cfparser), so an
 * indented header counts too; after the ']' it reads on as if a line began
 * there, so "[x][databases]" opens [databases]. */
static void track_section(struct section *s, const struct buf *out)
{
	static const char *const lists[] = {"[databases]", "[peers]", "[users]"};

	for (; s->scanned < out->len; s->scanned++) {
		size_t i = s->scanned;
		char c = out->data[i];
		bool header = s->line_start && c == '[' && !s->in_header;
		if (s->in_header) {
			s->in_header = c != ']' && c != '\n';
			s->line_start = !s->in_header;
			continue;
		}
		if (c == '\n')
			s->line_start = true;
		else if (!isspace((unsigned char)c))
			s->line_start = false;
		if (!header)
			continue;
		s->in_header = true;
		s->connstr = false;
		for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
			if (out->len - i >= strlen(lists[k]) &&
			    strncasecmp(out->data + i, lists[k], strlen(lists[k])) == 0)
				s->connstr = true;
	}
}

/* Right of the '=' on the current line of a key=value list section, and
 * not inside '...': white space in a value there starts another key
 * (host=${DB_HOST} with "x user=admin" would add user=), and a leading
 * quote opens a quoted value whose end, and the character pgbouncer
 * swallows after it, the value chooses ("'x'_user=admin" adds user=). */
static bool splits_connstr(const struct buf *out, const struct section *s, const char *v)
{
	bool after_eq = false;

	if (!s->connstr || in_single_quotes(out))
		return false;
	for (size_t i = out->len; i > 0 && out->data[i - 1] != '\n'; i--)
		after_eq |= out->data[i - 1] == '=';
	if (!after_eq)
		return false;
	if (*v == '\'')
		return true;
	for (; *v; v++)
		if (isspace((unsigned char)*v))
			return true;
	return false;
}

/* Expand the reference starting at P ("${"); returns the end, or NULL. */
static const char *expand_one(const char *name, const char *text, const char *p, struct env *e,
			      enum template_kind kind, bool redact, struct section *sec,
			      struct buf *out)
{
	const char *start = p + 2, *q = start, *close, *def = NULL;
	char var[128];

	while (isalnum((unsigned char)*q) || *q == '_')
		q++;
	close = strchr(q, '}');
	if (q == start || isdigit((unsigned char)*start) || q - start >= (long)sizeof(var) ||
	    !close || (q != close && strncmp(q, ":-", 2) != 0) ||
	    memchr(q, '\n', (size_t)(close - q))) {
		log_error("%s line %d: malformed reference; write ${NAME} or ${NAME:-default} "
			  "(and $$ for a literal $)",
			  name, line_of(text, p));
		return NULL;
	}
	memcpy(var, start, (size_t)(q - start));
	var[q - start] = '\0';
	if (q != close)
		def = q + 2;
	const char *v = env_get(e, var);
	if ((!v || !*v) && def) {
		buf_add(out, def, (size_t)(close - def));
		return close + 1;
	}
	if (!v) {
		log_error("%s line %d: %s is not set and has no default (write ${%s:-default})",
			  name, line_of(text, p), var, var);
		return NULL;
	}
	if (strpbrk(v, "\r\n")) {
		log_error("%s line %d: %s contains a line break, which would add lines to the file",
			  name, line_of(text, p), var);
		return NULL;
	}
	if (kind == TEMPLATE_INI && (track_section(sec, out), splits_connstr(out, sec, v))) {
		log_error("%s line %d: %s contains white space or starts with a quote, which "
			  "would add keys to the connection string; put the reference in single "
			  "quotes: key='${%s}'",
			  name, line_of(text, p), var, var);
		return NULL;
	}
	put_value(out, redact && vars_is_secret(var) ? REDACTED : v, kind);
	return close + 1;
}

int template_expand(const char *name, const char *text, struct env *e, enum template_kind kind,
		    bool redact, struct buf *out)
{
	struct section sec = {out->len, false, !out->len || out->data[out->len - 1] == '\n', false};
	const char *p = text;

	while (*p) {
		const char *dollar = strchr(p, '$');
		if (!dollar) {
			buf_puts(out, p);
			break;
		}
		buf_add(out, p, (size_t)(dollar - p));
		if (dollar[1] == '$') {
			buf_putc(out, '$');
			p = dollar + 2;
		} else if (dollar[1] == '{') {
			p = expand_one(name, text, dollar, e, kind, redact, &sec, out);
			if (!p)
				return EX_CONFIG;
		} else {
			buf_putc(out, '$');
			p = dollar + 1;
		}
	}
	return out->oom ? EX_OSERR : EX_OK;
}
