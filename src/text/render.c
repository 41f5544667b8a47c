#include "text/render.h"

#include <string.h>

#include "base/buf.h"
#include "base/version.h"
#include "files/fileio.h"
#include "model/quote.h"
#include "model/settings.h"

static void header(struct buf *out)
{
	buf_printf(out,
		   "%s %s from the environment; edits here are replaced at the "
		   "next start\n",
		   GENERATED_MARK, PGBE_VERSION);
}

static void put_pair(struct buf *out, const char *key, const char *value)
{
	const char *why;

	/* model_build has checked every value, so this cannot refuse. */
	if (value)
		quote_connstr(out, key, value, &why);
}

static void render_database(const struct config *c, const struct upstream *u, struct buf *out,
			    bool redact)
{
	const char *auth = config_get(c, "auth_type");

	buf_printf(out, "%s = ", u->alias);
	put_pair(out, "host", u->host);
	put_pair(out, "port", u->port);
	/* "*": pgbouncer connects to the database each client names */
	if (!u->all)
		put_pair(out, "dbname", u->dbname);
	/* auth_type=any ignores the client's user name: every database needs a
	 * forced user, and its password for the server login. */
	if (auth && strcmp(auth, "any") == 0) {
		put_pair(out, "user", u->user);
		put_pair(out, "password", redact ? REDACTED : u->password);
	}
	put_pair(out, "application_name", u->application_name);
	put_pair(out, "pool_size", c->pool_size);
	put_pair(out, "client_encoding", c->client_encoding);
	put_pair(out, "timezone", c->timezone);
	/* the space after the last quote is trimmed by the ini parser */
	if (out->len && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
	buf_putc(out, '\n');
}

void render_ini(const struct config *c, struct buf *out, bool redact)
{
	header(out);
	buf_puts(out, "[databases]\n");
	for (size_t i = 0; i < c->nup; i++)
		render_database(c, &c->up[i], out, redact);
	buf_puts(out, "\n[pgbouncer]\n");
	for (size_t i = 0; i < n_settings; i++) {
		const char *v = c->value[i];
		if (!v)
			continue;
		if (*v)
			buf_printf(out, "%s = %s\n", settings[i].name, v);
		else
			buf_printf(out, "%s =\n", settings[i].name);
	}
}

void render_userlist(const struct config *c, struct buf *out, bool redact)
{
	render_userlist_forms(c, NULL, out, redact);
}

void render_userlist_forms(const struct config *c, const char *const *secret, struct buf *out,
			   bool redact)
{
	const char *why;

	header(out);
	for (size_t i = 0; i < c->nup; i++) {
		const char *pw = secret && secret[i] ? secret[i] : c->up[i].password;
		if (!config_user_first(c, i))
			continue;
		quote_userlist(out, c->up[i].user, &why);
		buf_putc(out, ' ');
		quote_userlist(out, redact ? REDACTED : pw, &why);
		buf_putc(out, '\n');
	}
}
