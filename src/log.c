#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "buf.h"

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

void log_msg(enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent writers do not interleave. */
	if (captured)
		buf_printf(captured, "%s: %s\n", level_names[level], line);
	else
		fprintf(stderr, "pgbouncer-entrypoint: %s: %s\n", level_names[level], line);
	errno = saved;
}
