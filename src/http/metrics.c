#include "http/metrics.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/deadline.h"
#include "base/log.h"
#include "pg/local.h"
#include "pg/pgio.h"

/* Within Prometheus's default scrape_timeout (10 s), with room to answer. */
#define SCRAPE_MS 3000

/* What each SHOW gives.  Row-keyed ones (LISTS, CONFIG) have one value per
 * row, named by KEY; the others have one series per row, labelled. */
enum source {
	SRC_NONE,
	SRC_VERSION,
	SRC_LISTS,
	SRC_CONFIG,
	SRC_DATABASES,
	SRC_POOLS,
	SRC_STATS,
	N_SOURCES
};

static const struct {
	const char *sql;
	const char *labels[7]; /* label = column of the same name */
	const char *key, *value;
} sources[N_SOURCES] = {
	[SRC_VERSION] = {"SHOW VERSION", {"version"}, NULL, NULL},
	[SRC_LISTS] = {"SHOW LISTS", {NULL}, "list", "items"},
	[SRC_CONFIG] = {"SHOW CONFIG", {NULL}, "key", "value"},
	[SRC_DATABASES] = {"SHOW DATABASES",
			   {"name", "host", "port", "database", "force_user", "pool_mode"},
			   NULL,
			   NULL},
	[SRC_POOLS] = {"SHOW POOLS", {"database", "user"}, NULL, NULL},
	[SRC_STATS] = {"SHOW STATS", {"database"}, NULL, NULL},
};

enum mtype { GAUGE, COUNTER };
enum scale { ONE, MICRO }; /* MICRO: microseconds, exposed as seconds */

/* The one mapping: names, types, units and labels of prometheus-community's
 * pgbouncer_exporter (its SHOW STATS names, pgbouncer_stats_*, which the
 * common dashboards use).  Columns are found by name in each answer, so a
 * column that a pgbouncer version lacks just gives no series (1.18 has no
 * prepared-statement or assignment counters, 1.24 has); ALT is the same column's name in another
 * version; PLUS_US is a column of microseconds added to the value. */
static const struct metric {
	enum source src;
	const char *column; /* NULL: the value is 1 (an info metric) */
	const char *alt;
	const char *plus_us;
	const char *name;
	enum mtype type;
	enum scale scale;
	const char *help;
} metrics[] = {
	{SRC_NONE, NULL, NULL, NULL, "pgbouncer_up", GAUGE, ONE,
	 "1 when this scrape read every SHOW from pgbouncer, 0 when it could not"},
	{SRC_VERSION, NULL, NULL, NULL, "pgbouncer_version_info", GAUGE, ONE,
	 "pgbouncer's version string as a label"},
	{SRC_LISTS, "databases", NULL, NULL, "pgbouncer_databases", GAUGE, ONE, "Databases"},
	{SRC_LISTS, "users", NULL, NULL, "pgbouncer_users", GAUGE, ONE, "Users"},
	{SRC_LISTS, "pools", NULL, NULL, "pgbouncer_pools", GAUGE, ONE, "Pools"},
	{SRC_LISTS, "free_clients", NULL, NULL, "pgbouncer_free_clients", GAUGE, ONE,
	 "Client connection slots allocated and unused"},
	{SRC_LISTS, "used_clients", NULL, NULL, "pgbouncer_used_clients", GAUGE, ONE,
	 "Client connections in use"},
	{SRC_LISTS, "login_clients", NULL, NULL, "pgbouncer_login_clients", GAUGE, ONE,
	 "Client connections still logging in"},
	{SRC_LISTS, "free_servers", NULL, NULL, "pgbouncer_free_servers", GAUGE, ONE,
	 "Server connection slots allocated and unused"},
	{SRC_LISTS, "used_servers", NULL, NULL, "pgbouncer_used_servers", GAUGE, ONE,
	 "Server connections in use"},
	{SRC_LISTS, "dns_names", NULL, NULL, "pgbouncer_cached_dns_names", GAUGE, ONE,
	 "Host names in the DNS cache"},
	{SRC_LISTS, "dns_zones", NULL, NULL, "pgbouncer_cached_dns_zones", GAUGE, ONE,
	 "DNS zones in the cache"},
	{SRC_LISTS, "dns_queries", NULL, NULL, "pgbouncer_in_flight_dns_queries", GAUGE, ONE,
	 "DNS queries in flight"},
	{SRC_CONFIG, "max_client_conn", NULL, NULL, "pgbouncer_config_max_client_connections",
	 GAUGE, ONE, "Setting max_client_conn: most client connections allowed"},
	{SRC_CONFIG, "max_user_connections", NULL, NULL, "pgbouncer_config_max_user_connections",
	 GAUGE, ONE,
	 "Setting max_user_connections: most server connections per user (0: no limit)"},
	{SRC_DATABASES, "pool_size", NULL, NULL, "pgbouncer_databases_pool_size", GAUGE, ONE,
	 "Most server connections of the database's pools"},
	{SRC_DATABASES, "reserve_pool", "reserve_pool_size", NULL,
	 "pgbouncer_databases_reserve_pool", GAUGE, ONE,
	 "Extra server connections allowed when clients wait too long"},
	{SRC_DATABASES, "max_connections", NULL, NULL, "pgbouncer_databases_max_connections", GAUGE,
	 ONE, "Most server connections to the database (0: no limit)"},
	{SRC_DATABASES, "current_connections", NULL, NULL,
	 "pgbouncer_databases_current_connections", GAUGE, ONE,
	 "Server connections to the database now"},
	{SRC_DATABASES, "paused", NULL, NULL, "pgbouncer_databases_paused", GAUGE, ONE,
	 "1 while the database is paused (PAUSE)"},
	{SRC_DATABASES, "disabled", NULL, NULL, "pgbouncer_databases_disabled", GAUGE, ONE,
	 "1 while the database is disabled (DISABLE)"},
	{SRC_POOLS, "cl_active", NULL, NULL, "pgbouncer_pools_client_active_connections", GAUGE,
	 ONE, "Client connections paired with a server connection or idle"},
	{SRC_POOLS, "cl_waiting", NULL, NULL, "pgbouncer_pools_client_waiting_connections", GAUGE,
	 ONE, "Client connections waiting for a server connection"},
	{SRC_POOLS, "cl_active_cancel_req", NULL, NULL,
	 "pgbouncer_pools_client_active_cancel_connections", GAUGE, ONE,
	 "Client connections whose cancel request went to the server"},
	{SRC_POOLS, "cl_waiting_cancel_req", NULL, NULL,
	 "pgbouncer_pools_client_waiting_cancel_connections", GAUGE, ONE,
	 "Client connections whose cancel request waits to be sent"},
	{SRC_POOLS, "sv_active", NULL, NULL, "pgbouncer_pools_server_active_connections", GAUGE,
	 ONE, "Server connections paired with a client"},
	{SRC_POOLS, "sv_active_cancel", NULL, NULL,
	 "pgbouncer_pools_server_active_cancel_connections", GAUGE, ONE,
	 "Server connections forwarding a cancel request"},
	{SRC_POOLS, "sv_being_canceled", NULL, NULL,
	 "pgbouncer_pools_server_being_canceled_connections", GAUGE, ONE,
	 "Server connections waiting for their cancel requests to finish"},
	{SRC_POOLS, "sv_idle", NULL, NULL, "pgbouncer_pools_server_idle_connections", GAUGE, ONE,
	 "Server connections idle and ready"},
	{SRC_POOLS, "sv_used", NULL, NULL, "pgbouncer_pools_server_used_connections", GAUGE, ONE,
	 "Server connections idle long enough to need server_check_query"},
	{SRC_POOLS, "sv_tested", NULL, NULL, "pgbouncer_pools_server_testing_connections", GAUGE,
	 ONE, "Server connections running server_reset_query or server_check_query"},
	{SRC_POOLS, "sv_login", NULL, NULL, "pgbouncer_pools_server_login_connections", GAUGE, ONE,
	 "Server connections logging in"},
	{SRC_POOLS, "maxwait", NULL, "maxwait_us", "pgbouncer_pools_client_maxwait_seconds", GAUGE,
	 ONE, "How long the oldest waiting client has waited"},
	{SRC_STATS, "total_query_count", NULL, NULL, "pgbouncer_stats_queries_pooled_total",
	 COUNTER, ONE, "SQL queries pooled"},
	{SRC_STATS, "total_query_time", NULL, NULL,
	 "pgbouncer_stats_queries_duration_seconds_total", COUNTER, MICRO,
	 "Time connected to PostgreSQL running queries"},
	{SRC_STATS, "total_received", NULL, NULL, "pgbouncer_stats_received_bytes_total", COUNTER,
	 ONE, "Bytes received from clients"},
	{SRC_STATS, "total_sent", NULL, NULL, "pgbouncer_stats_sent_bytes_total", COUNTER, ONE,
	 "Bytes sent to clients"},
	{SRC_STATS, "total_wait_time", NULL, NULL, "pgbouncer_stats_client_wait_seconds_total",
	 COUNTER, MICRO, "Time clients spent waiting for a server connection"},
	{SRC_STATS, "total_xact_count", NULL, NULL, "pgbouncer_stats_sql_transactions_pooled_total",
	 COUNTER, ONE, "SQL transactions pooled"},
	{SRC_STATS, "total_xact_time", NULL, NULL,
	 "pgbouncer_stats_server_in_transaction_seconds_total", COUNTER, MICRO,
	 "Time connected to PostgreSQL in a transaction, running or idle"},
	{SRC_STATS, "total_server_assignment_count", NULL, NULL,
	 "pgbouncer_stats_server_assignments_total", COUNTER, ONE,
	 "Times a server connection was assigned to a client"},
	{SRC_STATS, "total_client_parse_count", NULL, NULL, "pgbouncer_stats_client_parses_total",
	 COUNTER, ONE, "Prepared-statement Parse messages from clients"},
	{SRC_STATS, "total_server_parse_count", NULL, NULL, "pgbouncer_stats_server_parses_total",
	 COUNTER, ONE, "Prepared-statement Parse messages sent to PostgreSQL"},
	{SRC_STATS, "total_bind_count", NULL, NULL, "pgbouncer_stats_binds_total", COUNTER, ONE,
	 "Prepared statements readied for execution with Bind"},
};
#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

/* ---- exposition text ---- */

/* Length of the valid UTF-8 sequence at S, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80             ? 1
		   : (s[0] & 0xE0) == 0xC0 ? 2
		   : (s[0] & 0xF0) == 0xE0 ? 3
		   : (s[0] & 0xF8) == 0xF0 ? 4
					   : 0;

	if (n == 0 || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	/* overlong three-byte forms, UTF-16 surrogates, overlong four-byte forms */
	if ((n == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (n == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
	    (n == 4 && s[0] == 0xF0 && s[1] < 0x90) || (n == 4 && s[0] == 0xF4 && s[1] >= 0x90))
		return 0;
	return n;
}

void metrics_label_value(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;

	/* plain runs are copied whole; a scrape writes thousands of labels */
	while (*p) {
		size_t n = utf8_len(p);
		const char *esc = n == 0       ? "\xEF\xBF\xBD" /* the exposition format is UTF-8 */
				  : *p == '\\' ? "\\\\"
				  : *p == '"'  ? "\\\""
				  : *p == '\n' ? "\\n"
					       : NULL;
		if (!esc) {
			p += n;
			continue;
		}
		buf_add(out, (const char *)run, (size_t)(p - run));
		buf_puts(out, esc);
		p += n ? n : 1;
		run = p;
	}
	buf_add(out, (const char *)run, (size_t)(p - run));
}

/* A whole decimal integer, or false (NULL, empty, text). */
static bool parse_int(const char *s, long long *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return !errno && !*end;
}

/* The value of M in row ROW of R, as exposition text; false when absent. */
static bool value_text(const PGresult *r, int row, int col, int plus_col, const struct metric *m,
		       char *out, size_t size)
{
	long long v, us;

	if (col < 0 || PQgetisnull(r, row, col) || !parse_int(PQgetvalue(r, row, col), &v))
		return false;
	if (plus_col >= 0) {
		if (!parse_int(PQgetvalue(r, row, plus_col), &us))
			return false;
		v = v * 1000000 + us;
	}
	if (m->scale == MICRO || plus_col >= 0)
		snprintf(out, size, "%s%lld.%06lld", v < 0 ? "-" : "", llabs(v) / 1000000,
			 llabs(v) % 1000000);
	else
		snprintf(out, size, "%lld", v);
	return true;
}

static void family_header(struct buf *out, const struct metric *m)
{
	buf_printf(out, "# HELP %s %s.\n# TYPE %s %s\n", m->name, m->help, m->name,
		   m->type == COUNTER ? "counter" : "gauge");
}

static void labels_of(struct buf *out, const PGresult *r, int row, enum source s)
{
	const char *const *l = sources[s].labels;

	if (!l[0])
		return;
	/* buf_puts, not buf_printf: this runs for every label of every series */
	buf_putc(out, '{');
	for (int i = 0; l[i]; i++) {
		int col = PQfnumber(r, l[i]);
		if (i)
			buf_putc(out, ',');
		buf_puts(out, l[i]);
		buf_puts(out, "=\"");
		if (col >= 0 && !PQgetisnull(r, row, col))
			metrics_label_value(out, PQgetvalue(r, row, col));
		buf_putc(out, '"');
	}
	buf_putc(out, '}');
}

/* LISTS and CONFIG: the row whose key column is M's column. */
static void emit_keyed(struct buf *out, const PGresult *r, const struct metric *m)
{
	int kc = PQfnumber(r, sources[m->src].key), vc = PQfnumber(r, sources[m->src].value);
	char v[64];

	for (int row = 0; kc >= 0 && row < PQntuples(r); row++) {
		if (strcmp(PQgetvalue(r, row, kc), m->column) != 0)
			continue;
		if (value_text(r, row, vc, -1, m, v, sizeof(v))) {
			family_header(out, m);
			buf_printf(out, "%s %s\n", m->name, v);
		}
		return;
	}
}

/* One series per row, labelled by the source's label columns. */
static void emit_rows(struct buf *out, const PGresult *r, const struct metric *m)
{
	int col = -1, plus = m->plus_us ? PQfnumber(r, m->plus_us) : -1;
	bool header = false;
	char v[64];

	if (m->column && (col = PQfnumber(r, m->column)) < 0 && m->alt)
		col = PQfnumber(r, m->alt);
	if (m->column && col < 0)
		return; /* not in this pgbouncer version */
	for (int row = 0; row < PQntuples(r); row++) {
		if (!m->column)
			snprintf(v, sizeof(v), "1");
		else if (!value_text(r, row, col, plus, m, v, sizeof(v)))
			continue;
		if (!header)
			family_header(out, m);
		header = true;
		buf_puts(out, m->name);
		labels_of(out, r, row, m->src);
		buf_putc(out, ' ');
		buf_puts(out, v);
		buf_putc(out, '\n');
	}
}

static void render(struct buf *out, PGresult *const *res, bool up)
{
	for (size_t i = 0; i < N_METRICS; i++) {
		const struct metric *m = &metrics[i];
		if (m->src == SRC_NONE) {
			family_header(out, m);
			buf_printf(out, "%s %d\n", m->name, up ? 1 : 0);
		} else if (res[m->src] && sources[m->src].key) {
			emit_keyed(out, res[m->src], m);
		} else if (res[m->src]) {
			emit_rows(out, res[m->src], m);
		}
	}
}

bool metrics_scrape(const struct config *c, const char *dir, struct buf *out, struct buf *why)
{
	long long deadline = deadline_now() + SCRAPE_MS;
	PGresult *res[N_SOURCES] = {NULL};
	struct local l;
	PGconn *conn;
	bool up = true;

	local_find(c, dir, &l);
	conn = local_admin_login(&l, "pgbouncer-entrypoint-metrics", deadline, why);
	up = conn != NULL;
	/* One connection, one SHOW after another; the first failure ends the
	 * scrape (a timed-out connection is in no state for more). */
	for (int s = SRC_VERSION; up && s < N_SOURCES; s++)
		up = (res[s] = local_query(conn, sources[s].sql, deadline, why)) != NULL;
	pgio_finish(conn);
	render(out, res, up);
	for (int s = 0; s < N_SOURCES; s++)
		PQclear(res[s]);
	return up;
}

/* ---- documentation ---- */

static void doc_labels(const struct metric *m)
{
	const char *const *l = sources[m->src].labels;

	if (m->src == SRC_NONE || !l[0])
		printf("-");
	for (int i = 0; m->src != SRC_NONE && l[i]; i++)
		printf("%s`%s`", i ? ", " : "", l[i]);
}

static void doc_source(const struct metric *m)
{
	if (m->src == SRC_NONE)
		printf("the scrape");
	else if (sources[m->src].key)
		printf("`%s`, row `%s`", sources[m->src].sql, m->column);
	else
		printf("`%s`", sources[m->src].sql);
	if (m->src != SRC_NONE && !sources[m->src].key && m->column)
		printf(", `%s`", m->column);
	if (m->alt)
		printf(" (or `%s`)", m->alt);
	if (m->plus_us)
		printf(" + `%s` (µs)", m->plus_us);
}

void metrics_doc(void)
{
	printf("| metric | type | labels | from | meaning |\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < N_METRICS; i++) {
		const struct metric *m = &metrics[i];
		printf("| `%s` | %s | ", m->name, m->type == COUNTER ? "counter" : "gauge");
		doc_labels(m);
		printf(" | ");
		doc_source(m);
		printf("%s | %s |\n", m->scale == MICRO ? " (µs, as seconds)" : "", m->help);
	}
}
