#include "model/derive.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "model/quote.h"
#include "model/settings.h"
#include "model/vars.h"

#define DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

/* A URL's ?sslmode= becomes server_tls_sslmode: pgbouncer has one for all
 * databases, so URLs and an explicit setting must agree. */
static int derive_sslmode(struct config *c)
{
	const struct setting *s = setting_find("server_tls_sslmode");
	const char *have = NULL, *from = config_set_by(c, "server_tls_sslmode"), *why = "";
	struct buf norm;
	int rc = EX_OK;

	if (from)
		have = config_get(c, "server_tls_sslmode");
	for (size_t i = 0; i < c->nup && !rc; i++) {
		const char *m = c->up[i].sslmode;
		if (!m)
			continue;
		buf_init(&norm);
		if (!setting_normalize(s, m, &norm, &why)) {
			/* a URL is secret: its sslmode is named, never echoed */
			log_error("%s: sslmode %s", c->up[i].origin, why);
			rc = EX_CONFIG;
		} else if (have && strcmp(have, buf_str(&norm)) != 0) {
			log_error("%s asks for sslmode=%s but %s asks for %s; pgbouncer has one "
				  "server_tls_sslmode for all databases",
				  c->up[i].origin, buf_str(&norm), from, have);
			rc = EX_CONFIG;
		} else if (!have) {
			rc = config_set(c, s->name, buf_str(&norm));
			have = config_get(c, s->name);
			from = c->up[i].origin;
		}
		buf_free(&norm);
	}
	return rc;
}

/* pgbouncer sends SNI only under verify-full (src/sbuf.c), and cloud
 * databases that route by SNI refuse without it: the seed's fault B4. */
static void warn_no_sni(const struct config *c)
{
	const char *mode = config_get(c, "server_tls_sslmode");

	if (mode && (!strcmp(mode, "require") || !strcmp(mode, "verify-ca")))
		log_warn("server_tls_sslmode = %s: pgbouncer sends the server name (SNI) only "
			 "with verify-full; a cloud database that needs it (Neon: \"Endpoint ID "
			 "is not specified\") wants SERVER_TLS_SSLMODE=verify-full",
			 mode);
}

/* pgbouncer matches admin_users by searching the list for the name with a
 * comma, white space or an end on each side (util.c strlist_contains): a
 * name with a comma or white space would also let its fragments in, so it
 * is left out, and the user is told. */
static bool admin_listable(const struct upstream *u)
{
	if (!strpbrk(u->user, ", \t\v\f\r\n"))
		return true;
	log_warn("%s \"%s\" is not added to admin_users: pgbouncer splits that list at commas "
		 "and white space, so it would also admit users named after each part; SHOW "
		 "POOLS will not work for it unless you set ADMIN_USERS or STATS_USERS yourself",
		 upstream_from(u, UF_USER), u->user);
	return false;
}

/* The seed document's SHOW POOLS needs the user in admin_users (B13). */
static int derive_admin_users(struct config *c)
{
	struct buf b;
	int rc = EX_OK;

	if (config_set_by(c, "admin_users") || c->nup == 0)
		return EX_OK;
	buf_init(&b);
	for (size_t i = 0; i < c->nup; i++) {
		if (!config_user_first(c, i) || !admin_listable(&c->up[i]))
			continue;
		if (b.len)
			buf_putc(&b, ',');
		buf_puts(&b, c->up[i].user);
	}
	if (b.oom)
		rc = EX_OSERR;
	else if (b.len)
		rc = config_set(c, "admin_users", buf_str(&b));
	buf_free(&b);
	return rc;
}

/* auth_file = <config dir>/userlist.txt: a [pgbouncer] value has no
 * quoting, so a directory with a line break would add lines to
 * pgbouncer.ini (%include included) and leading white space would be lost. */
static int derive_auth_file(struct config *c)
{
	const char *why = "";
	struct buf b, norm;
	int rc;

	buf_init(&b);
	buf_init(&norm);
	buf_printf(&b, "%s/userlist.txt", c->config_dir);
	if (b.oom) {
		rc = EX_OSERR;
	} else if (!setting_normalize(setting_find("auth_file"), buf_str(&b), &norm, &why)) {
		log_error("the config directory (--config-dir or PGBOUNCER_CONFIG_DIR) %s: "
			  "pgbouncer.ini names it in auth_file, which has no quoting",
			  why);
		rc = EX_CONFIG;
	} else {
		rc = config_set(c, "auth_file", buf_str(&norm));
	}
	buf_free(&b);
	buf_free(&norm);
	return rc;
}

static int derive_defaults(struct config *c)
{
	const char *mode = config_get(c, "server_tls_sslmode");
	int rc = EX_OK;

	if (!config_set_by(c, "auth_file"))
		rc = derive_auth_file(c);
	if (!rc)
		rc = derive_admin_users(c);
	/* verify-ca/verify-full need a CA file; the image ships Debian's bundle. */
	if (!rc && mode && !strncmp(mode, "verify-", 7) && !config_get(c, "server_tls_ca_file"))
		rc = config_set(c, "server_tls_ca_file", DEFAULT_CA_FILE);
	return rc;
}

/* edoburu's POOL_SIZE, CLIENT_ENCODING, TIMEZONE: added to every database. */
static int extra(struct env *e, const char *name, const struct setting *as, char **out)
{
	char origin[VAR_NAME_MAX + 8];
	const char *v = env_get(e, name), *why = "";
	struct buf b;
	bool ok;

	if (!v || !*v)
		return EX_OK;
	env_origin(e, name, origin, sizeof(origin));
	buf_init(&b);
	ok = as ? setting_normalize(as, v, &b, &why) : quote_connstr_ok(v, &why);
	if (!ok) {
		vars_refuse(origin, why, v);
		buf_free(&b);
		return EX_CONFIG;
	}
	*out = strdup(as ? buf_str(&b) : v);
	buf_free(&b);
	return *out ? EX_OK : EX_OSERR;
}

static int check_combinations(const struct config *c)
{
	const char *auth = config_get(c, "auth_type");
	const char *ctls = config_get(c, "client_tls_sslmode");

	if (auth && !strcmp(auth, "hba") && !config_get(c, "auth_hba_file")) {
		log_error(
			"AUTH_TYPE=hba needs AUTH_HBA_FILE, the path of a pg_hba.conf-style file");
		return EX_CONFIG;
	}
	/* pgbouncer itself stops at startup otherwise ("auth_type=cert
	 * requires client_tls_sslmode=SSLMODE_VERIFY_FULL") */
	if (auth && !strcmp(auth, "cert") && (!ctls || strcmp(ctls, "verify-full") != 0)) {
		log_error("AUTH_TYPE=cert needs CLIENT_TLS_SSLMODE=verify-full (with "
			  "CLIENT_TLS_CA_FILE, the CA of the client certificates): pgbouncer does "
			  "not start otherwise");
		return EX_CONFIG;
	}
	if (ctls && strcmp(ctls, "disable") != 0 &&
	    (!config_get(c, "client_tls_key_file") || !config_get(c, "client_tls_cert_file"))) {
		log_error(
			"CLIENT_TLS_SSLMODE=%s needs CLIENT_TLS_KEY_FILE and CLIENT_TLS_CERT_FILE",
			ctls);
		return EX_CONFIG;
	}
	if (config_get(c, "pidfile"))
		log_warn("PIDFILE is set: in a container a stale pidfile can stop pgbouncer from "
			 "starting (\"pidfile exists, another instance running?\")");
	return EX_OK;
}

int derive_settings(struct config *c, struct env *e)
{
	int rc;

	if ((rc = derive_sslmode(c)))
		return rc;
	warn_no_sni(c);
	if ((rc = derive_defaults(c)) ||
	    (rc = extra(e, "POOL_SIZE", setting_find("default_pool_size"), &c->pool_size)) ||
	    (rc = extra(e, "CLIENT_ENCODING", NULL, &c->client_encoding)) ||
	    (rc = extra(e, "TIMEZONE", NULL, &c->timezone)))
		return rc;
	return check_combinations(c);
}
