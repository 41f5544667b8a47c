#include "model/settings.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

#define I INT_MAX
#define SSLMODES "disable allow prefer require verify-ca verify-full"

/* Sorted by name (setting_find is a binary search).  Sources: pgbouncer's
 * src/main.c at 1.18.0 ... 1.25.2: the type, default, first version and
 * CF_NO_RELOAD flag of each ConfElem.  our_default is the seed document's
 * staging value where it differs from pgbouncer's; for a setting newer than
 * SETTING_OLDEST it is written only for a pgbouncer that has the setting
 * (config_version_defaults). */
/* One row per setting reads better than rows wrapped by the formatter. */
/* clang-format off */
const struct setting settings[] = {
	{.name = "admin_users", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "application_name_add_host", .type = ST_BOOL, .pgb_default = "0", .since = 118, .flags = SF_BARE},
	{.name = "auth_dbname", .type = ST_STRING, .since = 119, .flags = SF_BARE},
	{.name = "auth_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "auth_hba_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "auth_ident_file", .type = ST_STRING, .since = 123},
	{.name = "auth_ldap_options", .type = ST_STRING, .since = 125},
	{.name = "auth_query", .type = ST_STRING, .pgb_default = "(see pgbouncer docs)", .since = 118, .flags = SF_BARE},
	{.name = "auth_type", .type = ST_ENUM, .pgb_default = "md5", .our_default = "scram-sha-256", .since = 118, .flags = SF_BARE, .values = "any trust plain md5 cert hba scram-sha-256 pam ldap"},
	{.name = "auth_user", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "autodb_idle_timeout", .type = ST_TIME, .pgb_default = "3600", .since = 118, .flags = SF_BARE},
	{.name = "cancel_wait_timeout", .type = ST_TIME, .pgb_default = "10", .since = 119},
	{.name = "client_idle_timeout", .type = ST_TIME, .pgb_default = "0", .since = 118, .flags = SF_BARE},
	{.name = "client_login_timeout", .type = ST_TIME, .pgb_default = "60", .since = 118, .flags = SF_BARE},
	{.name = "client_tls13_ciphers", .type = ST_STRING, .since = 125},
	{.name = "client_tls_ca_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "client_tls_cert_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "client_tls_ciphers", .type = ST_STRING, .pgb_default = "default", .since = 118, .flags = SF_BARE},
	{.name = "client_tls_dheparams", .type = ST_STRING, .pgb_default = "auto", .since = 118, .flags = SF_BARE},
	{.name = "client_tls_ecdhcurve", .type = ST_STRING, .pgb_default = "auto", .since = 118, .flags = SF_BARE},
	{.name = "client_tls_key_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "client_tls_protocols", .type = ST_STRING, .pgb_default = "secure", .since = 118, .flags = SF_BARE},
	{.name = "client_tls_sslmode", .type = ST_ENUM, .pgb_default = "disable", .since = 118, .flags = SF_BARE, .values = SSLMODES},
	{.name = "default_pool_size", .type = ST_INT, .pgb_default = "20", .our_default = "20", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "disable_pqexec", .type = ST_BOOL, .pgb_default = "0", .since = 118, .flags = SF_RESTART | SF_BARE},
	{.name = "dns_max_ttl", .type = ST_TIME, .pgb_default = "15", .since = 118, .flags = SF_BARE},
	{.name = "dns_nxdomain_ttl", .type = ST_TIME, .pgb_default = "15", .since = 118, .flags = SF_BARE},
	{.name = "dns_zone_check_period", .type = ST_TIME, .pgb_default = "0", .since = 118},
	{.name = "idle_transaction_timeout", .type = ST_TIME, .pgb_default = "0", .since = 118, .flags = SF_BARE},
	{.name = "ignore_startup_parameters", .type = ST_STRING, .our_default = "extra_float_digits", .since = 118, .flags = SF_BARE},
	{.name = "job_name", .type = ST_STRING, .pgb_default = "pgbouncer", .since = 118, .flags = SF_RESTART},
	{.name = "listen_addr", .type = ST_STRING, .our_default = "0.0.0.0", .since = 118, .flags = SF_RESTART | SF_BARE, .alias = "PGBOUNCER_LISTEN_ADDRESS"},
	{.name = "listen_backlog", .type = ST_INT, .pgb_default = "128", .since = 118, .flags = SF_RESTART | SF_BARE, .min = 1, .max = I},
	{.name = "listen_port", .type = ST_INT, .pgb_default = "6432", .our_default = "6432", .since = 118, .flags = SF_RESTART | SF_BARE, .alias = "PGBOUNCER_PORT", .min = 1, .max = 65535},
	{.name = "log_connections", .type = ST_BOOL, .pgb_default = "1", .since = 118, .flags = SF_BARE},
	{.name = "log_disconnections", .type = ST_BOOL, .pgb_default = "1", .since = 118, .flags = SF_BARE},
	{.name = "log_pooler_errors", .type = ST_BOOL, .pgb_default = "1", .since = 118, .flags = SF_BARE},
	{.name = "log_stats", .type = ST_BOOL, .pgb_default = "1", .since = 118, .flags = SF_BARE},
	{.name = "logfile", .type = ST_STRING, .since = 118, .flags = SF_BARE, .alias = "PGBOUNCER_LOG_FILE"},
	{.name = "max_client_conn", .type = ST_INT, .pgb_default = "100", .our_default = "100", .since = 118, .flags = SF_BARE, .min = 1, .max = I},
	{.name = "max_db_client_connections", .type = ST_INT, .pgb_default = "0", .since = 124, .min = 0, .max = I},
	{.name = "max_db_connections", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "max_packet_size", .type = ST_INT, .pgb_default = "2147483647", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "max_prepared_statements", .type = ST_INT, .pgb_default = "200", .our_default = "200", .since = 121, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "max_user_client_connections", .type = ST_INT, .pgb_default = "0", .since = 124, .min = 0, .max = I},
	{.name = "max_user_connections", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "min_pool_size", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "peer_id", .type = ST_INT, .pgb_default = "0", .since = 119, .min = 0, .max = 16383},
	{.name = "pidfile", .type = ST_STRING, .since = 118, .flags = SF_RESTART},
	{.name = "pkt_buf", .type = ST_INT, .pgb_default = "4096", .since = 118, .flags = SF_RESTART | SF_BARE, .min = 512, .max = I},
	{.name = "pool_mode", .type = ST_ENUM, .pgb_default = "session", .our_default = "transaction", .since = 118, .flags = SF_BARE, .values = "session transaction statement"},
	{.name = "query_timeout", .type = ST_TIME, .pgb_default = "0", .since = 118, .flags = SF_BARE},
	{.name = "query_wait_notify", .type = ST_INT, .pgb_default = "5", .since = 125, .min = 0, .max = I},
	{.name = "query_wait_timeout", .type = ST_TIME, .pgb_default = "120", .since = 118, .flags = SF_BARE},
	{.name = "reserve_pool_size", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "reserve_pool_timeout", .type = ST_TIME, .pgb_default = "5", .since = 118, .flags = SF_BARE},
	{.name = "resolv_conf", .type = ST_STRING, .since = 118, .flags = SF_RESTART},
	{.name = "sbuf_loopcnt", .type = ST_INT, .pgb_default = "5", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "scram_iterations", .type = ST_INT, .pgb_default = "4096", .since = 125, .min = 1, .max = I},
	{.name = "server_check_delay", .type = ST_TIME, .pgb_default = "30", .since = 118, .flags = SF_BARE},
	{.name = "server_check_query", .type = ST_STRING, .pgb_default = "select 1", .since = 118, .flags = SF_BARE},
	{.name = "server_connect_timeout", .type = ST_TIME, .pgb_default = "15", .since = 118, .flags = SF_BARE},
	{.name = "server_fast_close", .type = ST_BOOL, .pgb_default = "0", .since = 118},
	{.name = "server_idle_timeout", .type = ST_TIME, .pgb_default = "600", .since = 118, .flags = SF_BARE},
	{.name = "server_lifetime", .type = ST_TIME, .pgb_default = "3600", .since = 118, .flags = SF_BARE},
	{.name = "server_login_retry", .type = ST_TIME, .pgb_default = "15", .since = 118, .flags = SF_BARE},
	{.name = "server_reset_query", .type = ST_STRING, .pgb_default = "DISCARD ALL", .since = 118, .flags = SF_BARE},
	{.name = "server_reset_query_always", .type = ST_BOOL, .pgb_default = "0", .since = 118, .flags = SF_BARE},
	{.name = "server_round_robin", .type = ST_BOOL, .pgb_default = "0", .since = 118, .flags = SF_BARE},
	{.name = "server_tls13_ciphers", .type = ST_STRING, .since = 125},
	{.name = "server_tls_ca_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "server_tls_cert_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "server_tls_ciphers", .type = ST_STRING, .pgb_default = "default", .since = 118, .flags = SF_BARE},
	{.name = "server_tls_key_file", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "server_tls_protocols", .type = ST_STRING, .pgb_default = "secure", .since = 118, .flags = SF_BARE},
	{.name = "server_tls_sslmode", .type = ST_ENUM, .pgb_default = "prefer", .our_default = "prefer", .since = 118, .flags = SF_BARE, .values = SSLMODES},
	{.name = "so_reuseport", .type = ST_BOOL, .pgb_default = "0", .since = 118, .flags = SF_RESTART},
	{.name = "stats_period", .type = ST_INT, .pgb_default = "60", .since = 118, .flags = SF_BARE, .min = 1, .max = I},
	{.name = "stats_users", .type = ST_STRING, .since = 118, .flags = SF_BARE},
	{.name = "suspend_timeout", .type = ST_TIME, .pgb_default = "10", .since = 118, .flags = SF_BARE},
	{.name = "syslog", .type = ST_BOOL, .pgb_default = "0", .since = 118},
	{.name = "syslog_facility", .type = ST_STRING, .pgb_default = "daemon", .since = 118},
	{.name = "syslog_ident", .type = ST_STRING, .pgb_default = "pgbouncer", .since = 118},
	{.name = "tcp_defer_accept", .type = ST_INT, .pgb_default = "1", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "tcp_keepalive", .type = ST_BOOL, .pgb_default = "1", .since = 118, .flags = SF_BARE},
	{.name = "tcp_keepcnt", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "tcp_keepidle", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "tcp_keepintvl", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "tcp_socket_buffer", .type = ST_INT, .pgb_default = "0", .since = 118, .min = 0, .max = I},
	{.name = "tcp_user_timeout", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = I},
	{.name = "track_extra_parameters", .type = ST_STRING, .pgb_default = "IntervalStyle", .since = 120, .flags = SF_RESTART},
	{.name = "transaction_timeout", .type = ST_TIME, .pgb_default = "0", .since = 125},
	{.name = "unix_socket_dir", .type = ST_STRING, .pgb_default = "/tmp", .since = 118, .flags = SF_RESTART | SF_BARE, .alias = "PGBOUNCER_SOCKET_DIR"},
	{.name = "unix_socket_group", .type = ST_STRING, .since = 118, .flags = SF_RESTART, .alias = "PGBOUNCER_SOCKET_GROUP"},
	{.name = "unix_socket_mode", .type = ST_OCTAL, .pgb_default = "0777", .since = 118, .flags = SF_RESTART, .alias = "PGBOUNCER_SOCKET_MODE", .min = 0, .max = 0777},
	{.name = "user", .type = ST_STRING, .since = 118, .flags = SF_RESTART},
	{.name = "verbose", .type = ST_INT, .pgb_default = "0", .since = 118, .flags = SF_BARE, .min = 0, .max = 3},
};
/* clang-format on */

const size_t n_settings = sizeof(settings) / sizeof(settings[0]);

static int cmp_setting(const void *key, const void *elem)
{
	return strcmp(key, ((const struct setting *)elem)->name);
}

const struct setting *setting_find(const char *name)
{
	return bsearch(name, settings, n_settings, sizeof(settings[0]), cmp_setting);
}

const char *setting_type_name(enum setting_type t)
{
	switch (t) {
	case ST_STRING:
		return "string";
	case ST_INT:
		return "integer";
	case ST_OCTAL:
		return "octal";
	case ST_BOOL:
		return "boolean";
	case ST_TIME:
		return "seconds";
	case ST_ENUM:
		return "enum";
	}
	return "?";
}

const char *setting_version_text(int v, char out[16])
{
	snprintf(out, 16, "%d.%d", (v / 100) % 1000, v % 100);
	return out;
}

/* Strict whole-number parse: optional sign, digits in BASE, nothing else. */
static bool parse_long(const char *s, int base, long *out)
{
	char *end;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtol(s, &end, base);
	return errno == 0 && *end == '\0' && end != s;
}

static bool normalize_int(const struct setting *s, const char *v, struct buf *out)
{
	long n;

	/* Decimal only: pgbouncer parses with base 0, so "010" would silently
	 * become 8.  Refusing leading zeros keeps what the user meant. */
	if (!parse_long(v, 10, &n) || n < s->min || n > s->max || (v[0] == '0' && v[1] != '\0') ||
	    v[0] == '+')
		return false;
	buf_printf(out, "%ld", n);
	return true;
}

static bool normalize_octal(const struct setting *s, const char *v, struct buf *out)
{
	long n;

	if (!parse_long(v, 8, &n) || n < s->min || n > s->max || v[0] == '-' || v[0] == '+')
		return false;
	buf_printf(out, "0%lo", n);
	return true;
}

bool setting_bool_parse(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*out = strcasecmp(v, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

static bool normalize_time(const char *v, struct buf *out)
{
	const char *p = v;

	/* pgbouncer reads non-negative decimal seconds with no unit. */
	while (isdigit((unsigned char)*p))
		p++;
	if (p == v)
		return false;
	if (*p == '.') {
		const char *frac = ++p;
		while (isdigit((unsigned char)*p))
			p++;
		if (p == frac)
			return false;
	}
	if (*p != '\0' || p - v > 18)
		return false;
	buf_puts(out, v);
	return true;
}

static bool normalize_enum(const struct setting *s, const char *v, struct buf *out)
{
	size_t n = strlen(v);
	const char *p = s->values;

	while (*p) {
		size_t len = strcspn(p, " ");
		if (len == n && strncasecmp(p, v, n) == 0) {
			buf_add(out, p, len);
			return true;
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	return false;
}

/* A [pgbouncer] value has no quoting: it runs to the end of the line and
 * pgbouncer trims trailing white space.  Anything that would not survive
 * that round trip is refused. */
static bool normalize_string(const char *v, struct buf *out, const char **why)
{
	size_t n = strlen(v);

	if (strpbrk(v, "\r\n")) {
		*why = "must not contain a line break";
		return false;
	}
	if (n > 0 && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]))) {
		*why = "must not start or end with white space (pgbouncer would trim it)";
		return false;
	}
	buf_puts(out, v);
	return true;
}

bool setting_normalize(const struct setting *s, const char *v, struct buf *out, const char **why)
{
	static char range[96];
	bool b;

	switch (s->type) {
	case ST_STRING:
		return normalize_string(v, out, why);
	case ST_INT:
		if (normalize_int(s, v, out))
			return true;
		snprintf(range, sizeof(range), "must be a whole number (%ld-%ld)", s->min, s->max);
		*why = range;
		return false;
	case ST_OCTAL:
		if (normalize_octal(s, v, out))
			return true;
		*why = "must be an octal file mode such as 0777";
		return false;
	case ST_BOOL:
		if (setting_bool_parse(v, &b)) {
			buf_puts(out, b ? "1" : "0");
			return true;
		}
		*why = "must be a boolean (0/1, true/false, yes/no, on/off)";
		return false;
	case ST_TIME:
		if (normalize_time(v, out))
			return true;
		*why = "must be a number of seconds such as 30 or 1.5";
		return false;
	case ST_ENUM:
		if (normalize_enum(s, v, out))
			return true;
		snprintf(range, sizeof(range), "must be one of: %s", s->values);
		*why = range;
		return false;
	}
	return false;
}
