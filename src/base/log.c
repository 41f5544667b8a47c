#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"

static struct buf *captured;

void log_capture(struct buf *b)
{
	captured = b;
}

static const char *const level_names[] = {
	[LOG_INFO] = "INFO",
	[LOG_WARNING] = "WARNING",
	[LOG_ERROR] = "ERROR",
};

/* The one place where values echoed in a message are made harmless: a
 * control character (a line break, ESC) becomes \xHH, so no value can
 * start a line of its own or forge one (issue 8, item 10).  Trailing line
 * breaks (libpq's messages end in one) are dropped. */
static void escape_line(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in), o = 0;

	while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	char raw[4096], line[4 * sizeof(raw)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	escape_line(raw, line, sizeof(line));
	/* One fprintf per line so concurrent writers do not interleave. */
	if (captured)
		buf_printf(captured, "%s: %s\n", level_names[level], line);
	else
		fprintf(stderr, "pgbouncer-entrypoint: %s: %s\n", level_names[level], line);
	errno = saved;
}
