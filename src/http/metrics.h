/* `metrics`: Prometheus metrics with pgbouncer_exporter's names, read from
 * the admin console over the Unix socket at each scrape (no stats user, no
 * password: pgbouncer lets its own uid in). */
#ifndef PGBE_METRICS_H
#define PGBE_METRICS_H

#include <stdbool.h>

#include "base/buf.h"
#include "model/config.h"

/* One scrape of the pgbouncer that CONFIG_DIR/pgbouncer.ini (else C)
 * describes, as exposition text into OUT.  Returns pgbouncer_up; when 0,
 * WHY says what failed. */
bool metrics_scrape(const struct config *c, const char *config_dir, struct buf *out,
		    struct buf *why);

/* Append S to OUT as a label value: \, " and newline escaped, invalid UTF-8
 * replaced by U+FFFD. */
void metrics_label_value(struct buf *out, const char *s);

/* The README's metrics table, from the same rows the scrape uses. */
void metrics_doc(void);

#endif
