#include "http/metrics.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/deadline.h"
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
	SRC_STATS_TOTALS,
	SRC_CLIENTS,
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
	[SRC_STATS_TOTALS] = {"SHOW STATS_TOTALS", {"database"}, NULL, NULL},
	[SRC_CLIENTS] = {"SHOW CLIENTS",
			 {"database", "user", "application_name", "state"},
			 NULL,
			 NULL},
};

enum mtype { GAUGE, COUNTER };
enum scale { ONE, MICRO }; /* MICRO: microseconds, exposed as seconds */

const char *const metrics_names_words[N_METRICS_NAMES] = {
	[NAMES_EXPORTER_0_10] = "exporter-0.10",
	[NAMES_EXPORTER_0_11] = "exporter-0.11",
	[NAMES_EXPORTER_0_12] = "exporter-0.12",
};

/* Which names sets serve a row */
#define E10 (1u << NAMES_EXPORTER_0_10)
#define E11 (1u << NAMES_EXPORTER_0_11)
#define E12 (1u << NAMES_EXPORTER_0_12)
#define NEW (E11 | E12)
#define ALL (E10 | E11 | E12)

/* The one mapping: names, types, units and labels of prometheus-community's
 * pgbouncer_exporter, each row served in the names sets of the exporter
 * releases that have that name with that type and those labels (checked
 * against their collector.go: v0.10.2, v0.11.1, v0.12.1).  Columns are found
 * by name in each answer, so a column that a pgbouncer version lacks just
 * gives no series (1.18 has no prepared-statement or assignment counters,
 * 1.24 has); ALT is the same column's name in another version; PLUS_US is a
 * column of microseconds added to the value. */
static const struct metric {
	unsigned sets; /* the names sets that serve it: 1u << enum metrics_names */
	enum source src;
	const char *column; /* NULL: the value is 1 (an info metric) */
	const char *alt;
	const char *plus_us;
	const char *name;
	enum mtype type;
	enum scale scale;
	const char *help;
} metrics[] = {
	{ALL, SRC_NONE, NULL, NULL, NULL, "pgbouncer_up", GAUGE, ONE,
	 "1 when this scrape read every SHOW from pgbouncer, 0 when it could not"},
	{ALL, SRC_VERSION, NULL, NULL, NULL, "pgbouncer_version_info", GAUGE, ONE,
	 "pgbouncer's version string as a label"},
	{ALL, SRC_LISTS, "databases", NULL, NULL, "pgbouncer_databases", GAUGE, ONE, "Databases"},
	{ALL, SRC_LISTS, "users", NULL, NULL, "pgbouncer_users", GAUGE, ONE, "Users"},
	{ALL, SRC_LISTS, "pools", NULL, NULL, "pgbouncer_pools", GAUGE, ONE, "Pools"},
	{ALL, SRC_LISTS, "free_clients", NULL, NULL, "pgbouncer_free_clients", GAUGE, ONE,
	 "Client connection slots allocated and unused"},
	{ALL, SRC_LISTS, "used_clients", NULL, NULL, "pgbouncer_used_clients", GAUGE, ONE,
	 "Client connections in use"},
	{ALL, SRC_LISTS, "login_clients", NULL, NULL, "pgbouncer_login_clients", GAUGE, ONE,
	 "Client connections still logging in"},
	{ALL, SRC_LISTS, "free_servers", NULL, NULL, "pgbouncer_free_servers", GAUGE, ONE,
	 "Server connection slots allocated and unused"},
	{ALL, SRC_LISTS, "used_servers", NULL, NULL, "pgbouncer_used_servers", GAUGE, ONE,
	 "Server connections in use"},
	{ALL, SRC_LISTS, "dns_names", NULL, NULL, "pgbouncer_cached_dns_names", GAUGE, ONE,
	 "Host names in the DNS cache"},
	{ALL, SRC_LISTS, "dns_zones", NULL, NULL, "pgbouncer_cached_dns_zones", GAUGE, ONE,
	 "DNS zones in the cache"},
	{ALL, SRC_LISTS, "dns_queries", NULL, NULL, "pgbouncer_in_flight_dns_queries", GAUGE, ONE,
	 "DNS queries in flight"},
	{ALL, SRC_CONFIG, "max_client_conn", NULL, NULL, "pgbouncer_config_max_client_connections",
	 GAUGE, ONE, "Setting max_client_conn: most client connections allowed"},
	{ALL, SRC_CONFIG, "max_user_connections", NULL, NULL,
	 "pgbouncer_config_max_user_connections", GAUGE, ONE,
	 "Setting max_user_connections: most server connections per user (0: no limit)"},
	{ALL, SRC_DATABASES, "pool_size", NULL, NULL, "pgbouncer_databases_pool_size", GAUGE, ONE,
	 "Most server connections of the database's pools"},
	{ALL, SRC_DATABASES, "reserve_pool", "reserve_pool_size", NULL,
	 "pgbouncer_databases_reserve_pool", GAUGE, ONE,
	 "Extra server connections allowed when clients wait too long"},
	{ALL, SRC_DATABASES, "max_connections", NULL, NULL, "pgbouncer_databases_max_connections",
	 GAUGE, ONE, "Most server connections to the database (0: no limit)"},
	{ALL, SRC_DATABASES, "current_connections", NULL, NULL,
	 "pgbouncer_databases_current_connections", GAUGE, ONE,
	 "Server connections to the database now"},
	{ALL, SRC_DATABASES, "paused", NULL, NULL, "pgbouncer_databases_paused", GAUGE, ONE,
	 "1 while the database is paused (PAUSE)"},
	{ALL, SRC_DATABASES, "disabled", NULL, NULL, "pgbouncer_databases_disabled", GAUGE, ONE,
	 "1 while the database is disabled (DISABLE)"},
	{ALL, SRC_POOLS, "cl_active", NULL, NULL, "pgbouncer_pools_client_active_connections",
	 GAUGE, ONE, "Client connections paired with a server connection or idle"},
	{ALL, SRC_POOLS, "cl_waiting", NULL, NULL, "pgbouncer_pools_client_waiting_connections",
	 GAUGE, ONE, "Client connections waiting for a server connection"},
	{ALL, SRC_POOLS, "cl_active_cancel_req", NULL, NULL,
	 "pgbouncer_pools_client_active_cancel_connections", GAUGE, ONE,
	 "Client connections whose cancel request went to the server"},
	{ALL, SRC_POOLS, "cl_waiting_cancel_req", NULL, NULL,
	 "pgbouncer_pools_client_waiting_cancel_connections", GAUGE, ONE,
	 "Client connections whose cancel request waits to be sent"},
	{ALL, SRC_POOLS, "sv_active", NULL, NULL, "pgbouncer_pools_server_active_connections",
	 GAUGE, ONE, "Server connections paired with a client"},
	{ALL, SRC_POOLS, "sv_active_cancel", NULL, NULL,
	 "pgbouncer_pools_server_active_cancel_connections", GAUGE, ONE,
	 "Server connections forwarding a cancel request"},
	{ALL, SRC_POOLS, "sv_being_canceled", NULL, NULL,
	 "pgbouncer_pools_server_being_canceled_connections", GAUGE, ONE,
	 "Server connections waiting for their cancel requests to finish"},
	{ALL, SRC_POOLS, "sv_idle", NULL, NULL, "pgbouncer_pools_server_idle_connections", GAUGE,
	 ONE, "Server connections idle and ready"},
	{ALL, SRC_POOLS, "sv_used", NULL, NULL, "pgbouncer_pools_server_used_connections", GAUGE,
	 ONE, "Server connections idle long enough to need server_check_query"},
	{ALL, SRC_POOLS, "sv_tested", NULL, NULL, "pgbouncer_pools_server_testing_connections",
	 GAUGE, ONE, "Server connections running server_reset_query or server_check_query"},
	{ALL, SRC_POOLS, "sv_login", NULL, NULL, "pgbouncer_pools_server_login_connections", GAUGE,
	 ONE, "Server connections logging in"},
	{ALL, SRC_POOLS, "maxwait", NULL, "maxwait_us", "pgbouncer_pools_client_maxwait_seconds",
	 GAUGE, ONE, "How long the oldest waiting client has waited"},
	/* SHOW STATS, pgbouncer_stats_*: exporter 0.10 and before, and the
	 * common dashboards.  (Its pgbouncer_stats_queries_total read
	 * total_requests, which pgbouncer 1.8 removed: not served.) */
	{E10, SRC_STATS, "total_query_count", NULL, NULL, "pgbouncer_stats_queries_pooled_total",
	 COUNTER, ONE, "SQL queries pooled"},
	{E10, SRC_STATS, "total_query_time", NULL, NULL,
	 "pgbouncer_stats_queries_duration_seconds_total", COUNTER, MICRO,
	 "Time connected to PostgreSQL running queries"},
	{E10, SRC_STATS, "total_received", NULL, NULL, "pgbouncer_stats_received_bytes_total",
	 COUNTER, ONE, "Bytes received from clients"},
	{E10, SRC_STATS, "total_sent", NULL, NULL, "pgbouncer_stats_sent_bytes_total", COUNTER, ONE,
	 "Bytes sent to clients"},
	{E10, SRC_STATS, "total_wait_time", NULL, NULL, "pgbouncer_stats_client_wait_seconds_total",
	 COUNTER, MICRO, "Time clients spent waiting for a server connection"},
	{E10, SRC_STATS, "total_xact_count", NULL, NULL,
	 "pgbouncer_stats_sql_transactions_pooled_total", COUNTER, ONE, "SQL transactions pooled"},
	{E10, SRC_STATS, "total_xact_time", NULL, NULL,
	 "pgbouncer_stats_server_in_transaction_seconds_total", COUNTER, MICRO,
	 "Time connected to PostgreSQL in a transaction, running or idle"},
	/* SHOW STATS_TOTALS, pgbouncer_stats_totals_*: exporter 0.11 on
	 * (pgbouncer_exporter PR #194), the same counters with the
	 * prepared-statement and assignment ones, which no release served as
	 * pgbouncer_stats_* */
	{NEW, SRC_STATS_TOTALS, "query_count", NULL, NULL,
	 "pgbouncer_stats_totals_queries_pooled_total", COUNTER, ONE, "SQL queries pooled"},
	{NEW, SRC_STATS_TOTALS, "query_time", NULL, NULL,
	 "pgbouncer_stats_totals_queries_duration_seconds_total", COUNTER, MICRO,
	 "Time connected to PostgreSQL running queries"},
	{NEW, SRC_STATS_TOTALS, "bytes_received", NULL, NULL,
	 "pgbouncer_stats_totals_received_bytes_total", COUNTER, ONE,
	 "Bytes received from clients"},
	{NEW, SRC_STATS_TOTALS, "bytes_sent", NULL, NULL, "pgbouncer_stats_totals_sent_bytes_total",
	 COUNTER, ONE, "Bytes sent to clients"},
	{NEW, SRC_STATS_TOTALS, "wait_time", NULL, NULL,
	 "pgbouncer_stats_totals_client_wait_seconds_total", COUNTER, MICRO,
	 "Time clients spent waiting for a server connection"},
	{NEW, SRC_STATS_TOTALS, "xact_count", NULL, NULL,
	 "pgbouncer_stats_totals_sql_transactions_pooled_total", COUNTER, ONE,
	 "SQL transactions pooled"},
	{NEW, SRC_STATS_TOTALS, "xact_time", NULL, NULL,
	 "pgbouncer_stats_totals_server_in_transaction_seconds_total", COUNTER, MICRO,
	 "Time connected to PostgreSQL in a transaction, running or idle"},
	{NEW, SRC_STATS_TOTALS, "server_assignment_count", NULL, NULL,
	 "pgbouncer_stats_totals_server_assignments_total", COUNTER, ONE,
	 "Times a server connection was assigned to a client"},
	{NEW, SRC_STATS_TOTALS, "client_parse_count", NULL, NULL,
	 "pgbouncer_stats_totals_client_parses_total", COUNTER, ONE,
	 "Prepared-statement Parse messages from clients"},
	{NEW, SRC_STATS_TOTALS, "server_parse_count", NULL, NULL,
	 "pgbouncer_stats_totals_server_parses_total", COUNTER, ONE,
	 "Prepared-statement Parse messages sent to PostgreSQL"},
	{NEW, SRC_STATS_TOTALS, "bind_count", NULL, NULL, "pgbouncer_stats_totals_binds_total",
	 COUNTER, ONE, "Prepared statements readied for execution with Bind"},
	/* SHOW CLIENTS, counted: exporter 0.12 on (PR #250) */
	{E12, SRC_CLIENTS, NULL, NULL, NULL, "pgbouncer_client_connections", GAUGE, ONE,
	 "Client connections by database, user, application_name and state"},
};
#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

bool metrics_names_parse(const char *v, enum metrics_names *out)
{
	for (int i = 0; i < N_METRICS_NAMES; i++)
		if (!strcmp(v, metrics_names_words[i])) {
			*out = (enum metrics_names)i;
			return true;
		}
	return false;
}

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

/* Several pgbouncers (PGBOUNCER_PROCESSES): the series of process I carry
 * process="I", and a family's header comes once, before the first
 * process's series.  A scrape renders one family at a time, in one thread. */
static int series_process; /* 0: one pgbouncer, no such label */
static bool family_started;

static void family_header(struct buf *out, const struct metric *m)
{
	if (family_started)
		return;
	family_started = true;
	buf_printf(out, "# HELP %s %s.\n# TYPE %s %s\n", m->name, m->help, m->name,
		   m->type == COUNTER ? "counter" : "gauge");
}

/* The I-th label NAME="VALUE" of a series */
static void label(struct buf *out, int i, const char *name, const char *value)
{
	/* buf_puts, not buf_printf: this runs for every label of every series */
	buf_putc(out, i ? ',' : '{');
	buf_puts(out, name);
	buf_puts(out, "=\"");
	metrics_label_value(out, value);
	buf_putc(out, '"');
}

/* process="I" as the I-th label, then the closing brace when there are
 * labels at all. */
static void labels_end(struct buf *out, int i)
{
	char n[16];

	if (series_process) {
		snprintf(n, sizeof(n), "%d", series_process);
		label(out, i++, "process", n);
	}
	if (i)
		buf_putc(out, '}');
}

static void labels_of(struct buf *out, const PGresult *r, int row, enum source s)
{
	const char *const *l = sources[s].labels;
	int i;

	for (i = 0; l[i]; i++) {
		int col = PQfnumber(r, l[i]);
		label(out, i, l[i], col >= 0 ? PQgetvalue(r, row, col) : "");
	}
	labels_end(out, i);
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
			buf_puts(out, m->name);
			labels_end(out, 0);
			buf_printf(out, " %s\n", v);
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

/* ---- pgbouncer_client_connections ---- */

/* The clients of one label set of SHOW CLIENTS */
struct group {
	const char *v[4]; /* database, user, application_name, state */
	long long n;
};

static int by_labels(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	for (int i = 0; i < 4; i++) {
		int c = strcmp(x->v[i], y->v[i]);
		if (c)
			return c;
	}
	return 0;
}

/* most clients first; equal counts by labels, so a steady pool keeps its series */
static int by_size(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	return x->n != y->n ? (x->n < y->n ? 1 : -1) : by_labels(a, b);
}

/* Sort G by labels and add up equal ones; returns how many are left. */
static size_t merge(struct group *g, size_t n)
{
	size_t k = 0;

	qsort(g, n, sizeof(*g), by_labels);
	for (size_t i = 0; i < n; i++) {
		if (k && !by_labels(&g[k - 1], &g[i]))
			g[k - 1].n += g[i].n;
		else
			g[k++] = g[i];
	}
	return k;
}

/* Past METRICS_CLIENT_SERIES_MAX label sets, the smallest ones are counted
 * together, per state (so sum by (state) stays exact), as database="",
 * user="", application_name="other".  A real set with those labels is
 * added in, never repeated: a duplicate series would fail the scrape. */
static size_t cap(struct group *g, size_t n)
{
	if (n <= METRICS_CLIENT_SERIES_MAX)
		return n;
	qsort(g, n, sizeof(*g), by_size);
	for (size_t i = METRICS_CLIENT_SERIES_MAX; i < n; i++) {
		g[i].v[0] = g[i].v[1] = "";
		g[i].v[2] = "other";
	}
	return merge(g, n);
}

/* One series per label set, its value the number of clients in it.  A
 * pgbouncer without application_name in SHOW CLIENTS gives "" for it. */
static void emit_clients(struct buf *out, const PGresult *r, const struct metric *m)
{
	const char *const *l = sources[SRC_CLIENTS].labels;
	size_t rows = (size_t)PQntuples(r), n;
	struct group *g;
	int col[4];

	for (int i = 0; i < 4; i++)
		col[i] = PQfnumber(r, l[i]);
	if (col[0] < 0 || col[1] < 0 || col[3] < 0 || rows == 0)
		return;
	if (!(g = calloc(rows, sizeof(*g)))) {
		out->oom = true; /* answered 500, as any scrape out of memory */
		return;
	}
	for (size_t row = 0; row < rows; row++) {
		for (int i = 0; i < 4; i++)
			g[row].v[i] = col[i] >= 0 ? PQgetvalue(r, (int)row, col[i]) : "";
		g[row].n = 1;
	}
	n = cap(g, merge(g, rows));
	family_header(out, m);
	for (size_t i = 0; i < n; i++) {
		buf_puts(out, m->name);
		for (int j = 0; j < 4; j++)
			label(out, j, l[j], g[i].v[j]);
		labels_end(out, 4);
		buf_printf(out, " %lld\n", g[i].n);
	}
	free(g);
}

/* One family of process P's answers RES. */
static void render_one(struct buf *out, PGresult *const *res, const struct metric *m)
{
	if (!res[m->src])
		return;
	if (m->src == SRC_CLIENTS)
		emit_clients(out, res[m->src], m);
	else if (sources[m->src].key)
		emit_keyed(out, res[m->src], m);
	else
		emit_rows(out, res[m->src], m);
}

/* RES[P]: process P's answers, of N.  pgbouncer_up has no process label:
 * 1 only when every process answered. */
static void render(struct buf *out, PGresult *(*res)[N_SOURCES], int n, enum metrics_names names,
		   bool up)
{
	for (size_t i = 0; i < N_METRICS; i++) {
		const struct metric *m = &metrics[i];
		if (!(m->sets & (1u << names)))
			continue;
		family_started = false;
		series_process = 0;
		if (m->src == SRC_NONE) {
			family_header(out, m);
			buf_printf(out, "%s %d\n", m->name, up ? 1 : 0);
			continue;
		}
		for (int p = 0; p < n; p++) {
			series_process = n > 1 ? p + 1 : 0;
			render_one(out, res[p], m);
		}
	}
	series_process = 0;
}

/* Whether NAMES has a row from source S: only those SHOWs are sent. */
static bool needed(enum metrics_names names, enum source s)
{
	for (size_t i = 0; i < N_METRICS; i++)
		if (metrics[i].src == s && metrics[i].sets & (1u << names))
			return true;
	return false;
}

bool metrics_scrape(const struct config *c, const char *dir, enum metrics_names names,
		    struct buf *out, struct buf *why)
{
	long long deadline = deadline_now() + SCRAPE_MS;
	PGresult *res[LOCAL_MAX_PROCESSES][N_SOURCES];
	struct local l, one;
	bool up = true;
	int n;

	local_find(c, dir, &l);
	n = local_processes(&l);
	memset(res, 0, sizeof(res));
	/* One connection per pgbouncer, one SHOW after another; the first
	 * failure ends the scrape (a timed-out connection is in no state for
	 * more, and the deadline is the whole scrape's). */
	for (int p = 0; p < n && up; p++) {
		PGconn *conn;
		local_process(&l, n, p + 1, &one);
		conn = local_admin_login(&one, "pgbouncer-entrypoint-metrics", deadline, why);
		up = conn != NULL;
		for (int s = SRC_VERSION; up && s < N_SOURCES; s++)
			if (needed(names, (enum source)s))
				up = (res[p][s] = local_query(conn, sources[s].sql, deadline,
							      why)) != NULL;
		pgio_finish(conn);
		if (!up && n > 1)
			buf_printf(why, " (pgbouncer %d of %d, PGBOUNCER_PROCESSES)", p + 1, n);
	}
	render(out, res, n, names, up);
	for (int p = 0; p < n; p++)
		for (int s = 0; s < N_SOURCES; s++)
			PQclear(res[p][s]);
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
	if (m->src == SRC_CLIENTS)
		printf(", clients counted (at most %d label sets, the rest as "
		       "`application_name=\"other\"`)",
		       METRICS_CLIENT_SERIES_MAX);
	if (m->alt)
		printf(" (or `%s`)", m->alt);
	if (m->plus_us)
		printf(" + `%s` (µs)", m->plus_us);
}

/* The PGBOUNCER_METRICS_NAMES values that serve M */
static void doc_sets(const struct metric *m)
{
	const char *sep = "";

	for (int i = 0; i < N_METRICS_NAMES; i++)
		if (m->sets & (1u << i)) {
			printf("%s%s", sep, metrics_names_words[i] + strlen("exporter-"));
			sep = ", ";
		}
}

void metrics_doc(void)
{
	printf("| metric | type | names sets | labels | from | meaning |\n"
	       "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < N_METRICS; i++) {
		const struct metric *m = &metrics[i];
		printf("| `%s` | %s | ", m->name, m->type == COUNTER ? "counter" : "gauge");
		doc_sets(m);
		printf(" | ");
		doc_labels(m);
		printf(" | ");
		doc_source(m);
		printf("%s | %s |\n", m->scale == MICRO ? " (µs, as seconds)" : "", m->help);
	}
}
