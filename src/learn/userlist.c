#include "learn/userlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "model/quote.h"
#include "text/render.h"
#include "text/secret.h"

/* Why plaintext, when the server's answer decides it. */
static const char *kind_reason(enum server_kind k)
{
	switch (k) {
	case KIND_NONE:
		return "nothing logged in to the upstream to learn its SCRAM secret from "
		       "(render, --wait-timeout 0, or no host)";
	case KIND_SCRAM_DIFFERENT:
		return "its upstreams store different SCRAM secrets (salts), and userlist.txt holds "
		       "one entry per user";
	case KIND_UNSTABLE:
		return "the upstream answers every login with a new salt (a pooler in front of the "
		       "server?), so it has no fixed secret that a client proof could match";
	case KIND_CLEARTEXT:
		return "the server asks for the cleartext password (pg_hba method \"password\")";
	case KIND_TRUST:
		return "the server asks for no password (trust), so there is no secret to learn";
	default:
		return "the server asks for neither SCRAM-SHA-256 nor md5";
	}
}

/* auth_type values under which a client's login gives pgbouncer a SCRAM
 * proof to pass through (md5 switches to SCRAM for a SCRAM secret). */
static bool proves_scram(const char *auth)
{
	return !strcmp(auth, "scram-sha-256") || !strcmp(auth, "md5");
}

static enum form plain(const char *reason, const char **why)
{
	*why = reason;
	return FORM_PLAIN;
}

enum form userlist_choose(const struct form_rules *r, enum server_kind k, const char **why)
{
	const char *auth = r->auth_type ? r->auth_type : "md5";

	*why = "";
	if (r->force_plain)
		return plain("--userlist-plaintext (PGBOUNCER_USERLIST_PLAINTEXT) asks for it",
			     why);
	/* auth_type any reads no auth_file: any form serves; keep the least */
	if (!strcmp(auth, "any"))
		return k == KIND_SCRAM ? FORM_SCRAM
		       : k == KIND_MD5 ? FORM_MD5
				       : plain(kind_reason(k), why);
	if (r->auth_user)
		return plain("it is auth_user: pgbouncer logs in as it for auth_query with no "
			     "client proof",
			     why);
	if (k == KIND_MD5) {
		/* pgbouncer logs in with the hash itself (pass-the-hash) */
		if (strcmp(auth, "scram-sha-256") != 0)
			return FORM_MD5;
		return plain(
			"the server asks for md5, and auth_type scram-sha-256 cannot check "
			"clients against an md5 hash (AUTH_TYPE=md5 lets userlist.txt hold the "
			"md5 hash instead)",
			why);
	}
	if (k != KIND_SCRAM)
		return plain(kind_reason(k), why);
	if (!proves_scram(auth))
		return plain(
			!strcmp(auth, "plain")
				? "auth_type plain: pgbouncer checks the client's cleartext "
				  "password but keeps no SCRAM proof to log in to the server with"
				: "this auth_type gives pgbouncer no client SCRAM proof to log in "
				  "to the server with",
			why);
	if (r->no_passthrough)
		return plain("this pgbouncer (1.25.1) cannot log in to the server again with a "
			     "stored SCRAM secret once its first server connection is gone "
			     "(pgbouncer issue #1501); a newer or older pgbouncer can",
			     why);
	/* min_pool_size needs no plaintext: pgbouncer fills the minimum only while
	 * the pool has clients (janitor.c check_pool_size), whose proofs it keeps,
	 * or a forced user, which only auth_type any writes */
	return FORM_SCRAM;
}

bool userlist_passthrough_broken(int release)
{
	return release == 12501;
}

/* ---- from the model and the login ------------------------------------------ */

static enum server_kind kind_of(enum learn_status st, bool unstable)
{
	switch (st) {
	case LEARN_SCRAM:
		return unstable ? KIND_UNSTABLE : KIND_SCRAM;
	case LEARN_MD5:
		return KIND_MD5;
	case LEARN_CLEARTEXT:
		return KIND_CLEARTEXT;
	case LEARN_TRUST:
		return KIND_TRUST;
	case LEARN_NONE:
		return KIND_NONE;
	default:
		return KIND_OTHER;
	}
}

/* Every upstream of USER together; *SECRET is the common SCRAM secret. */
static enum server_kind user_kind(const struct config *c, const struct learned *l, const char *user,
				  const char **secret)
{
	enum server_kind k = KIND_NONE;
	bool first = true;

	*secret = NULL;
	for (size_t i = 0; i < c->nup; i++) {
		enum server_kind ki = kind_of(l->st[i], l->unstable[i]);
		if (strcmp(c->up[i].user, user) != 0)
			continue;
		if (ki == KIND_NONE)
			return KIND_NONE;
		if (!first && ki != k)
			return KIND_OTHER;
		if (ki == KIND_SCRAM && *secret && strcmp(*secret, l->secret[i]) != 0)
			return KIND_SCRAM_DIFFERENT;
		if (ki == KIND_SCRAM)
			*secret = l->secret[i];
		k = ki;
		first = false;
	}
	return k;
}

static void rules_of(const struct config *c, const char *user, bool force, int release,
		     struct form_rules *r)
{
	const char *au = config_get(c, "auth_user");

	r->auth_type = config_get(c, "auth_type");
	r->auth_user = au && !strcmp(au, user);
	r->force_plain = force;
	r->no_passthrough = userlist_passthrough_broken(release);
}

static const char *form_name(enum form f)
{
	return f == FORM_SCRAM ? "the server's SCRAM secret"
	       : f == FORM_MD5 ? "the md5 hash"
			       : "the plaintext password";
}

/* Each generated entry: its form, and a warning for plaintext. */
static int apply_generated(struct plan *p, const struct config *c, const struct learned *l,
			   bool force, int release)
{
	const char *secret[MAX_UPSTREAMS] = {0};
	struct buf md5[MAX_UPSTREAMS];
	const char *why;

	for (size_t i = 0; i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		struct form_rules r;
		const char *scram;
		enum form f;
		buf_init(&md5[i]);
		if (!config_user_first(c, i))
			continue;
		rules_of(c, u->user, force, release, &r);
		f = userlist_choose(&r, user_kind(c, l, u->user, &scram), &why);
		if (f == FORM_SCRAM)
			secret[i] = scram;
		else if (f == FORM_MD5 && secret_md5(u->user, u->password, &md5[i]))
			secret[i] = buf_str(&md5[i]);
		if (f == FORM_PLAIN)
			log_warn("userlist.txt holds the plaintext password of \"%s\": %s", u->user,
				 why);
		else
			log_info("userlist.txt holds %s of \"%s\", not its password", form_name(f),
				 u->user);
	}
	buf_free_secret(&p->userlist.content);
	buf_init(&p->userlist.content);
	render_userlist_forms(c, secret, &p->userlist.content, false);
	for (size_t i = 0; i < c->nup; i++)
		buf_free_secret(&md5[i]);
	return p->userlist.content.oom ? EX_OSERR : EX_OK;
}

struct supplied_ctx {
	const struct config *c;
	const struct learned *l;
	const char *path;
	int rc;
};

/* A SCRAM secret of the user's own making (another salt) verifies the
 * password, but the server rejects the proof pgbouncer passes through. */
static void check_supplied(const char *user, const char *stored, void *arg)
{
	struct supplied_ctx *x = arg;
	const char *scram;

	if (secret_classify(stored) != SECRET_SCRAM ||
	    user_kind(x->c, x->l, user, &scram) != KIND_SCRAM || !strcmp(scram, stored))
		return;
	log_error("'%s': the SCRAM secret of \"%s\" is not the server's own (another salt or "
		  "iteration count), so pgbouncer's login to the server with a client's proof "
		  "fails; put the plaintext password there, or delete the file and let "
		  "pgbouncer-entrypoint write the server's secret",
		  x->path, user);
	x->rc = EX_CONFIG;
}

int userlist_apply(struct plan *p, const struct config *c, const struct learned *l, bool force,
		   int release)
{
	struct supplied_ctx x = {c, l, p->userlist.path, 0};
	const char *auth = config_get(c, "auth_type");

	if (auth && !strcmp(auth, "any") && p->ini.source && !strcmp(p->ini.source, "generated"))
		log_warn(
			"auth_type any: pgbouncer.ini holds the plaintext password (password= on "
			"each database line), because no client proves anything that pgbouncer could "
			"log in to the server with");

	if (p->userlist.source && !strcmp(p->userlist.source, "generated"))
		return apply_generated(p, c, l, force, release);
	if (p->userlist.source && !strcmp(p->userlist.source, "supplied") &&
	    p->userlist.content.data)
		quote_userlist_parse(p->userlist.content.data, check_supplied, &x);
	return x.rc;
}

void userlist_note_render(const struct plan *p)
{
	if (p->userlist.source && !strcmp(p->userlist.source, "generated"))
		log_info("render does not log in to the upstream: userlist.txt holds the plaintext "
			 "password (run and init write the server's SCRAM secret where it serves)");
}

void userlist_explain(const struct plan *p, const struct config *c, bool force, long timeout,
		      int release)
{
	if (!p->userlist.source || strcmp(p->userlist.source, "generated") != 0)
		return;
	for (size_t i = 0; i < c->nup; i++) {
		const struct upstream *u = &c->up[i];
		struct form_rules r;
		const char *why;
		if (!config_user_first(c, i))
			continue;
		rules_of(c, u->user, force, release, &r);
		if (userlist_choose(&r, timeout && u->host ? KIND_SCRAM : KIND_NONE, &why) ==
		    FORM_SCRAM)
			printf("# run writes for \"%s\": the server's SCRAM secret, learned in its "
			       "login (the md5 hash or the plaintext if the server asks for md5 or "
			       "cleartext)\n",
			       u->user);
		else
			printf("# run writes for \"%s\": the plaintext password, because %s\n",
			       u->user, why);
	}
}
