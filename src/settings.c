#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define I INT_MAX
#define SSLMODES "disable allow prefer require verify-ca verify-full"

/* Sorted by name.  Sources: pgbouncer src/main.c at 1.18.0 ... 1.25.2 (see
 * notes/pgbouncer-facts.md section 4).  our_default is the seed document's
 * staging value where it differs from pgbouncer's. */
const struct setting settings[] = {
	/* name, type, pgbouncer default, ours, since, restart, bare, min, max, values */
	{"admin_users", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"application_name_add_host", ST_BOOL, "0", NULL, 118, false, true, 0, 1, NULL},
	{"auth_dbname", ST_STRING, "", NULL, 119, false, true, 0, 0, NULL},
	{"auth_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"auth_hba_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"auth_ident_file", ST_STRING, "", NULL, 123, false, false, 0, 0, NULL},
	{"auth_ldap_options", ST_STRING, "", NULL, 125, false, false, 0, 0, NULL},
	{"auth_query", ST_STRING, "(see pgbouncer docs)", NULL, 118, false, true, 0, 0, NULL},
	{"auth_type", ST_ENUM, "md5", "scram-sha-256", 118, false, true, 0, 0,
	 "any trust plain md5 cert hba scram-sha-256 pam ldap"},
	{"auth_user", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"autodb_idle_timeout", ST_TIME, "3600", NULL, 118, false, true, 0, 0, NULL},
	{"cancel_wait_timeout", ST_TIME, "10", NULL, 119, false, false, 0, 0, NULL},
	{"client_idle_timeout", ST_TIME, "0", NULL, 118, false, true, 0, 0, NULL},
	{"client_login_timeout", ST_TIME, "60", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls13_ciphers", ST_STRING, "", NULL, 125, false, false, 0, 0, NULL},
	{"client_tls_ca_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls_cert_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls_ciphers", ST_STRING, "default", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls_dheparams", ST_STRING, "auto", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls_ecdhcurve", ST_STRING, "auto", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls_key_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls_protocols", ST_STRING, "secure", NULL, 118, false, true, 0, 0, NULL},
	{"client_tls_sslmode", ST_ENUM, "disable", NULL, 118, false, true, 0, 0, SSLMODES},
	{"default_pool_size", ST_INT, "20", "20", 118, false, true, 0, I, NULL},
	{"disable_pqexec", ST_BOOL, "0", NULL, 118, true, true, 0, 1, NULL},
	{"dns_max_ttl", ST_TIME, "15", NULL, 118, false, true, 0, 0, NULL},
	{"dns_nxdomain_ttl", ST_TIME, "15", NULL, 118, false, true, 0, 0, NULL},
	{"dns_zone_check_period", ST_TIME, "0", NULL, 118, false, false, 0, 0, NULL},
	{"idle_transaction_timeout", ST_TIME, "0", NULL, 118, false, true, 0, 0, NULL},
	{"ignore_startup_parameters", ST_STRING, "", "extra_float_digits", 118, false, true, 0, 0, NULL},
	{"job_name", ST_STRING, "pgbouncer", NULL, 118, true, false, 0, 0, NULL},
	{"listen_addr", ST_STRING, "", "0.0.0.0", 118, true, true, 0, 0, NULL},
	{"listen_backlog", ST_INT, "128", NULL, 118, true, true, 1, I, NULL},
	{"listen_port", ST_INT, "6432", "6432", 118, true, true, 1, 65535, NULL},
	{"log_connections", ST_BOOL, "1", NULL, 118, false, true, 0, 1, NULL},
	{"log_disconnections", ST_BOOL, "1", NULL, 118, false, true, 0, 1, NULL},
	{"log_pooler_errors", ST_BOOL, "1", NULL, 118, false, true, 0, 1, NULL},
	{"log_stats", ST_BOOL, "1", NULL, 118, false, true, 0, 1, NULL},
	{"logfile", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"max_client_conn", ST_INT, "100", "100", 118, false, true, 1, I, NULL},
	{"max_db_client_connections", ST_INT, "0", NULL, 124, false, false, 0, I, NULL},
	{"max_db_connections", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"max_packet_size", ST_INT, "2147483647", NULL, 118, false, true, 0, I, NULL},
	{"max_prepared_statements", ST_INT, "200", NULL, 121, false, true, 0, I, NULL},
	{"max_user_client_connections", ST_INT, "0", NULL, 124, false, false, 0, I, NULL},
	{"max_user_connections", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"min_pool_size", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"peer_id", ST_INT, "0", NULL, 119, false, false, 0, 16383, NULL},
	{"pidfile", ST_STRING, "", NULL, 118, true, false, 0, 0, NULL},
	{"pkt_buf", ST_INT, "4096", NULL, 118, true, true, 512, I, NULL},
	{"pool_mode", ST_ENUM, "session", "transaction", 118, false, true, 0, 0,
	 "session transaction statement"},
	{"query_timeout", ST_TIME, "0", NULL, 118, false, true, 0, 0, NULL},
	{"query_wait_notify", ST_INT, "5", NULL, 125, false, false, 0, I, NULL},
	{"query_wait_timeout", ST_TIME, "120", NULL, 118, false, true, 0, 0, NULL},
	{"reserve_pool_size", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"reserve_pool_timeout", ST_TIME, "5", NULL, 118, false, true, 0, 0, NULL},
	{"resolv_conf", ST_STRING, "", NULL, 118, true, false, 0, 0, NULL},
	{"sbuf_loopcnt", ST_INT, "5", NULL, 118, false, true, 0, I, NULL},
	{"scram_iterations", ST_INT, "4096", NULL, 125, false, false, 1, I, NULL},
	{"server_check_delay", ST_TIME, "30", NULL, 118, false, true, 0, 0, NULL},
	{"server_check_query", ST_STRING, "select 1", NULL, 118, false, true, 0, 0, NULL},
	{"server_connect_timeout", ST_TIME, "15", NULL, 118, false, true, 0, 0, NULL},
	{"server_fast_close", ST_BOOL, "0", NULL, 118, false, false, 0, 1, NULL},
	{"server_idle_timeout", ST_TIME, "600", NULL, 118, false, true, 0, 0, NULL},
	{"server_lifetime", ST_TIME, "3600", NULL, 118, false, true, 0, 0, NULL},
	{"server_login_retry", ST_TIME, "15", NULL, 118, false, true, 0, 0, NULL},
	{"server_reset_query", ST_STRING, "DISCARD ALL", NULL, 118, false, true, 0, 0, NULL},
	{"server_reset_query_always", ST_BOOL, "0", NULL, 118, false, true, 0, 1, NULL},
	{"server_round_robin", ST_BOOL, "0", NULL, 118, false, true, 0, 1, NULL},
	{"server_tls13_ciphers", ST_STRING, "", NULL, 125, false, false, 0, 0, NULL},
	{"server_tls_ca_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"server_tls_cert_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"server_tls_ciphers", ST_STRING, "default", NULL, 118, false, true, 0, 0, NULL},
	{"server_tls_key_file", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"server_tls_protocols", ST_STRING, "secure", NULL, 118, false, true, 0, 0, NULL},
	{"server_tls_sslmode", ST_ENUM, "prefer", "prefer", 118, false, true, 0, 0, SSLMODES},
	{"so_reuseport", ST_BOOL, "0", NULL, 118, true, false, 0, 1, NULL},
	{"stats_period", ST_INT, "60", NULL, 118, false, true, 1, I, NULL},
	{"stats_users", ST_STRING, "", NULL, 118, false, true, 0, 0, NULL},
	{"suspend_timeout", ST_TIME, "10", NULL, 118, false, true, 0, 0, NULL},
	{"syslog", ST_BOOL, "0", NULL, 118, false, false, 0, 1, NULL},
	{"syslog_facility", ST_STRING, "daemon", NULL, 118, false, false, 0, 0, NULL},
	{"syslog_ident", ST_STRING, "pgbouncer", NULL, 118, false, false, 0, 0, NULL},
	{"tcp_defer_accept", ST_INT, "1", NULL, 118, false, true, 0, I, NULL},
	{"tcp_keepalive", ST_BOOL, "1", NULL, 118, false, true, 0, 1, NULL},
	{"tcp_keepcnt", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"tcp_keepidle", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"tcp_keepintvl", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"tcp_socket_buffer", ST_INT, "0", NULL, 118, false, false, 0, I, NULL},
	{"tcp_user_timeout", ST_INT, "0", NULL, 118, false, true, 0, I, NULL},
	{"track_extra_parameters", ST_STRING, "IntervalStyle", NULL, 120, true, false, 0, 0, NULL},
	{"transaction_timeout", ST_TIME, "0", NULL, 125, false, false, 0, 0, NULL},
	{"unix_socket_dir", ST_STRING, "/tmp", NULL, 118, true, true, 0, 0, NULL},
	{"unix_socket_group", ST_STRING, "", NULL, 118, true, false, 0, 0, NULL},
	{"unix_socket_mode", ST_OCTAL, "0777", NULL, 118, true, false, 0, 0777, NULL},
	{"user", ST_STRING, "", NULL, 118, true, false, 0, 0, NULL},
	{"verbose", ST_INT, "0", NULL, 118, false, true, 0, 3, NULL},
};

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
	case ST_STRING: return "string";
	case ST_INT: return "integer";
	case ST_OCTAL: return "octal";
	case ST_BOOL: return "boolean";
	case ST_TIME: return "seconds";
	case ST_ENUM: return "enum";
	}
	return "?";
}

const char *version_text(int v, char out[16])
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
	if (!parse_long(v, 10, &n) || n < s->min || n > s->max ||
	    (v[0] == '0' && v[1] != '\0') || v[0] == '+')
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

bool bool_parse(const char *v, bool *out)
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

bool setting_normalize(const struct setting *s, const char *v, struct buf *out,
		       const char **why)
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
		if (bool_parse(v, &b)) {
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
