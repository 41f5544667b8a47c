/* Quoting round trips (src/model/quote.c).  Input: up to five NUL-separated
 * strings V1 V2 USER PASSWORD ALIAS.
 * - quote_connstr: a [databases] line with password=V1 and host=V2 reads back,
 *   through the ini and connection-string readers, as exactly those two pairs;
 *   a refusal only for an empty value or a line break.
 * - quote_userlist: "USER" "PASSWORD" lines read back as exactly that entry
 *   under pgbouncer's limits whenever quote_userlist_user_ok/quote_userlist_value_ok
 *   accept; they refuse only line breaks and what pgbouncer could not read.
 * - quote_db_alias_ok: an accepted alias is read back as the key, and every name
 *   pgbouncer reads unquoted (except * and pgbouncer) is accepted.
 * - quote_url_encode: only unreserved characters and %XX; libpq decodes a URL built
 *   from it back to the same user, password and database. */
#include <libpq-fe.h>
#include <string.h>

#include "fuzz.h"
#include "model/quote.h"
#include "pgbreader.h"

void fuzz_init(void)
{
}

static bool has_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static void check_connstr(const char *v1, const char *v2)
{
	const char *why = NULL;
	struct buf line;
	struct ini_doc d;
	struct connstr cs;
	bool ok1, ok2;

	buf_init(&line);
	buf_puts(&line, "[databases]\ndb = ");
	ok1 = quote_connstr(&line, "password", v1, &why);
	INVARIANT(ok1 == (*v1 && !has_break(v1)), "quote_connstr(%s) returned %d", esc(v1), ok1);
	INVARIANT(ok1 == quote_connstr_ok(v1, &why), "quote_connstr_ok disagrees on %s", esc(v1));
	ok2 = quote_connstr(&line, "host", v2, &why);
	INVARIANT(ok2 == (*v2 && !has_break(v2)), "quote_connstr(%s) returned %d", esc(v2), ok2);
	buf_puts(&line, "\n[pgbouncer]\nlisten_port = 6432\n");
	ini_read(buf_str(&line), &d);
	INVARIANT(!d.syntax_error && d.includes == 0 && d.nsections == 2 && d.n == 2 &&
			  !strcmp(d.e[0].section, "databases") && !strcmp(d.e[0].key, "db") &&
			  !strcmp(d.e[1].key, "listen_port"),
		  "ini structure changed by values %s %s:\n%s", esc(v1), esc(v2),
		  esc(buf_str(&line)));
	if (ok1 || ok2) {
		bool read = connstr_read(d.e[0].value, &cs);
		size_t want = (size_t)ok1 + (size_t)ok2;
		INVARIANT(read && cs.n == want, "connection string %s: read %d, %zu pairs",
			  esc(d.e[0].value), read, cs.n);
		INVARIANT(!ok1 || (!strcmp(cs.p[0].key, "password") && !strcmp(cs.p[0].value, v1)),
			  "password %s read back as %s", esc(v1), esc(cs.p[0].value));
		INVARIANT(!ok2 || (!strcmp(cs.p[want - 1].key, "host") &&
				   !strcmp(cs.p[want - 1].value, v2)),
			  "host %s read back as %s", esc(v2), esc(cs.p[want - 1].value));
		connstr_free(&cs);
	}
	ini_free(&d);
	buf_free(&line);
}

static size_t escaped_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '"' ? 2 : 1;
	return n;
}

static void check_userlist(const char *user, const char *pw)
{
	const char *why = NULL;
	bool u_ok = quote_userlist_user_ok(user, &why), p_ok = quote_userlist_value_ok(pw, &why);
	bool u_read = !has_break(user) && escaped_len(user) < USERLIST_MAX_USER;
	bool p_read = !has_break(pw) && escaped_len(pw) < USERLIST_MAX_FIELD;
	struct buf text;
	struct ul_doc d;

	INVARIANT(u_ok == u_read, "quote_userlist_user_ok(%s) = %d", esc(user), u_ok);
	INVARIANT(p_ok == p_read, "quote_userlist_value_ok(%s) = %d", esc(pw), p_ok);
	buf_init(&text);
	buf_puts(&text, "; generated\n");
	for (int line = 0; line < 2; line++) {
		bool q1 = quote_userlist(&text, user, &why);
		buf_putc(&text, ' ');
		bool q2 = quote_userlist(&text, pw, &why);
		buf_putc(&text, '\n');
		/* quote_userlist refuses what pgbouncer cannot read back: a line
		 * break, or a field of 2048 escaped bytes or more */
		INVARIANT(q1 == (!has_break(user) && escaped_len(user) < USERLIST_MAX_FIELD) &&
				  q2 == p_read,
			  "quote_userlist refused %s / %s", esc(user), esc(pw));
	}
	if (u_ok && p_ok) {
		ul_read(buf_str(&text), 128, 2048, &d);
		INVARIANT(!d.stopped && d.n == 2, "userlist %s: %zu entries, stopped: %s",
			  esc(buf_str(&text)), d.n, d.why ? d.why : "no");
		for (size_t i = 0; i < d.n; i++)
			INVARIANT(!strcmp(d.e[i].user, user) && !strcmp(d.e[i].password, pw),
				  "entry %s %s read back as %s %s", esc(user), esc(pw),
				  esc(d.e[i].user), esc(d.e[i].password));
		ul_free(&d);
	}
	buf_free(&text);
}

static bool plain_key(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > 63 || !strcmp(a, "pgbouncer"))
		return false;
	for (; *a; a++)
		if (!((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') ||
		      (*a >= '0' && *a <= '9') || strchr("_.-", *a)))
			return false;
	return true;
}

static void check_alias(const char *alias)
{
	const char *why = NULL;
	bool ok = quote_db_alias_ok(alias, &why);
	struct buf text;
	struct ini_doc d;

	INVARIANT(ok == plain_key(alias), "quote_db_alias_ok(%s) = %d", esc(alias), ok);
	if (!ok)
		return;
	buf_init(&text);
	buf_printf(&text, "[databases]\n%s = host='h'\n", alias);
	ini_read(buf_str(&text), &d);
	INVARIANT(!d.syntax_error && d.n == 1 && !strcmp(d.e[0].key, alias),
		  "alias %s not read back", esc(alias));
	ini_free(&d);
	buf_free(&text);
}

static bool percent_decodes_to(const char *enc, const char *orig)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *enc; enc++, orig++) {
		if (*enc != '%') {
			if (!strchr("-._~", *enc) &&
			    !((*enc >= 'a' && *enc <= 'z') || (*enc >= 'A' && *enc <= 'Z') ||
			      (*enc >= '0' && *enc <= '9')))
				return false;
			if (*enc != *orig)
				return false;
			continue;
		}
		const char *h = enc[1] ? strchr(hex, enc[1]) : NULL;
		const char *l = h && enc[2] ? strchr(hex, enc[2]) : NULL;
		if (!h || !l || (unsigned char)*orig != ((h - hex) << 4 | (l - hex)))
			return false;
		enc += 2;
	}
	return *orig == '\0';
}

static void check_url_encode(const char *user, const char *pw, const char *db)
{
	struct buf u, p, d, url;
	PQconninfoOption *opts;
	char *err = NULL;

	buf_init(&u);
	buf_init(&p);
	buf_init(&d);
	buf_init(&url);
	quote_url_encode(&u, user);
	quote_url_encode(&p, pw);
	quote_url_encode(&d, db);
	INVARIANT(percent_decodes_to(buf_str(&u), user), "quote_url_encode(%s) = %s", esc(user),
		  esc(buf_str(&u)));
	if (*user && *pw && *db) {
		buf_printf(&url, "postgresql://%s:%s@h/%s", buf_str(&u), buf_str(&p), buf_str(&d));
		opts = PQconninfoParse(buf_str(&url), &err);
		INVARIANT(opts, "libpq refused %s: %s", esc(buf_str(&url)), err);
		for (PQconninfoOption *o = opts; o->keyword; o++) {
			const char *want = !strcmp(o->keyword, "user")       ? user
					   : !strcmp(o->keyword, "password") ? pw
					   : !strcmp(o->keyword, "dbname")   ? db
									     : NULL;
			INVARIANT(!want || (o->val && !strcmp(o->val, want)),
				  "libpq read %s as %s, want %s", o->keyword, esc(o->val),
				  esc(want));
		}
		PQconninfoFree(opts);
	}
	buf_free(&u);
	buf_free(&p);
	buf_free(&d);
	buf_free(&url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s[5];
	size_t n = pieces_split(data, size, s, 5);
	const char *v1 = n > 0 ? s[0] : "", *v2 = n > 1 ? s[1] : "x";
	const char *user = n > 2 ? s[2] : "u", *pw = n > 3 ? s[3] : "";
	const char *alias = n > 4 ? s[4] : v1;

	check_connstr(v1, v2);
	check_userlist(user, pw);
	check_alias(alias);
	check_url_encode(user, v1, v2);
	pieces_free(s, n);
	return 0;
}
