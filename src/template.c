#include "template.h"

#include <ctype.h>
#include <string.h>

#include "exitcodes.h"
#include "log.h"
#include "render.h"
#include "vars.h"

/* Inside '...' on the current [databases]-style line?  Counts the quotes
 * written since the last newline; '' pairs leave the count even. */
static bool in_single_quotes(const struct buf *out)
{
	bool in = false;

	for (size_t i = out->len; i > 0 && out->data[i - 1] != '\n'; i--)
		if (out->data[i - 1] == '\'')
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

/* Expand the reference starting at P ("${"); returns the end, or NULL. */
static const char *expand_one(const char *name, const char *text, const char *p,
			      struct env *e, enum template_kind kind, bool redact,
			      struct buf *out)
{
	const char *start = p + 2, *q = start, *close, *def = NULL;
	char var[128];

	while (isalnum((unsigned char)*q) || *q == '_')
		q++;
	close = strchr(q, '}');
	if (q == start || isdigit((unsigned char)*start) || q - start >= (long)sizeof(var) ||
	    !close || (q != close && strncmp(q, ":-", 2) != 0) || memchr(q, '\n', (size_t)(close - q))) {
		log_error("%s line %d: malformed reference; write ${NAME} or ${NAME:-default} "
			  "(and $$ for a literal $)", name, line_of(text, p));
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
	put_value(out, redact && vars_is_secret(var) ? REDACTED : v, kind);
	return close + 1;
}

int template_expand(const char *name, const char *text, struct env *e,
		    enum template_kind kind, bool redact, struct buf *out)
{
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
			p = expand_one(name, text, dollar, e, kind, redact, out);
			if (!p)
				return EX_CONFIG;
		} else {
			buf_putc(out, '$');
			p = dollar + 1;
		}
	}
	return out->oom ? EX_OSERR : EX_OK;
}
