/* `metrics`: Prometheus metrics with pgbouncer_exporter's names, read from
 * the admin console over the Unix socket at each scrape (no stats user, no
 * password: pgbouncer lets its own uid in). */
#ifndef PGBE_METRICS_H
#define PGBE_METRICS_H

#include <stdbool.h>

#include "base/buf.h"
#include "model/config.h"

/* PGBOUNCER_METRICS_NAMES: whose metric names a scrape serves, as a
 * pgbouncer_exporter release has them (issue 19).  0.11 moved the SHOW STATS
 * counters to SHOW STATS_TOTALS as pgbouncer_stats_totals_*; 0.12 added
 * pgbouncer_client_connections from SHOW CLIENTS. */
enum metrics_names {
	NAMES_EXPORTER_0_10,
	NAMES_EXPORTER_0_11,
	NAMES_EXPORTER_0_12,
	N_METRICS_NAMES
};
#define METRICS_NAMES_DEFAULT NAMES_EXPORTER_0_12 /* the newest release's */

/* "exporter-0.10", ... */
extern const char *const metrics_names_words[N_METRICS_NAMES];

/* The variable's value, exactly one of those words, into *OUT; false when it
 * names no set. */
bool metrics_names_parse(const char *v, enum metrics_names *out);

/* At most this many label sets of pgbouncer_client_connections keep their
 * labels: application_name is whatever each client sends. */
#define METRICS_CLIENT_SERIES_MAX 100

/* One scrape of the pgbouncer that CONFIG_DIR/pgbouncer.ini (else C)
 * describes, with the names of NAMES, as exposition text into OUT.  Returns
 * pgbouncer_up; when 0, WHY says what failed. */
bool metrics_scrape(const struct config *c, const char *config_dir, enum metrics_names names,
		    struct buf *out, struct buf *why);

/* Append S to OUT as a label value: \, " and newline escaped, invalid UTF-8
 * replaced by U+FFFD. */
void metrics_label_value(struct buf *out, const char *s);

/* The README's metrics table, from the same rows the scrape uses. */
void metrics_doc(void);

#endif
