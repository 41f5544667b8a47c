#include "pg/target.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "pg/probe.h"
#include "pg/resolve.h"

void target_init(struct target *t, const struct config *c, const struct upstream *u)
{
	const char *mode = config_get(c, "server_tls_sslmode");
	int n = 0;

	memset(t, 0, sizeof(*t));
	t->u = u;
	t->auth = c->upstream_auth;
	buf_init(&t->hosts);
	buf_init(&t->addrs);
#define KV(k, v)                    \
	do {                        \
		t->keys[n] = (k);   \
		t->vals[n++] = (v); \
	} while (0)
	t->host_slot = n;
	KV("host", u->host);
	t->addr_slot = n;
	KV("hostaddr", "");
	KV("port", u->port);
	KV("dbname", u->dbname);
	KV("user", u->user);
	KV("password", u->password);
	KV("sslmode", mode ? mode : "prefer");
	KV("application_name", "pgbouncer-entrypoint");
	/* pgbouncer verifies the server only for verify-ca/verify-full.  libpq
	 * would also verify under "require" if it found a root certificate (in
	 * $HOME/.postgresql), so name one that cannot exist to match pgbouncer. */
	if (mode && !strncmp(mode, "verify-", 7))
		KV("sslrootcert", config_get(c, "server_tls_ca_file"));
	else
		KV("sslrootcert", "/nonexistent/pgbouncer-entrypoint/no-root-cert");
	if (config_get(c, "server_tls_cert_file"))
		KV("sslcert", config_get(c, "server_tls_cert_file"));
	if (config_get(c, "server_tls_key_file"))
		KV("sslkey", config_get(c, "server_tls_key_file"));
#undef KV
	t->keys[n] = NULL;
	t->vals[n] = NULL;
}

void target_free(struct target *t)
{
	buf_free(&t->hosts);
	buf_free(&t->addrs);
}

bool target_is_socket_dir(const char *host)
{
	return host[0] == '/' || host[0] == '@';
}

/* Entry NAME of the host list with address ADDR ("" for a socket dir). */
static void add_host(struct target *t, const char *name, const char *addr)
{
	buf_puts(&t->hosts, t->entries ? "," : "");
	buf_puts(&t->hosts, name);
	buf_puts(&t->addrs, t->entries ? "," : "");
	buf_puts(&t->addrs, addr);
	t->entries++;
	if (*addr && t->n < MAX_HOSTS)
		snprintf(t->probe[t->n++], sizeof(t->probe[0]), "%s", addr);
}

int target_resolve(struct target *t, long long deadline, struct buf *why)
{
	char name[1024];
	struct addrs a;
	int rc = EX_OK;

	t->hosts.len = t->addrs.len = 0;
	t->entries = t->n = 0;
	for (const char *p = t->u->host; *p && rc < EX_SIGNAL_BASE;) {
		size_t len = strcspn(p, ",");
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		p += len + (p[len] == ',');
		if (target_is_socket_dir(name)) {
			add_host(t, name, "");
			continue;
		}
		why->len = 0;
		if ((rc = resolve_host(name, deadline, &a, why)) != EX_OK)
			continue;
		for (int i = 0; i < a.n && t->n < MAX_HOSTS; i++)
			add_host(t, name, a.addr[i]);
	}
	if (rc >= EX_SIGNAL_BASE || !t->entries || t->hosts.oom || t->addrs.oom)
		return rc >= EX_SIGNAL_BASE ? rc : EX_UNAVAILABLE;
	why->len = 0;
	t->vals[t->host_slot] = buf_str(&t->hosts);
	t->vals[t->addr_slot] = t->n ? buf_str(&t->addrs) : "";
	return EX_OK;
}

bool target_accepts(const struct target *t, long long until)
{
	char name[1024];

	for (const char *p = t->u->host; *p;) {
		size_t len = strcspn(p, ",");
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		p += len + (p[len] == ',');
		if (target_is_socket_dir(name) && probe_socket(name, t->u->port))
			return true;
	}
	for (int i = 0; i < t->n; i++)
		if (probe_tcp(t->probe[i], t->u->port, until))
			return true;
	return false;
}
