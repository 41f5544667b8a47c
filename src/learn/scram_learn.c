#include "learn/scram_learn.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "learn/pgconn.h"
#include "learn/scram_proto.h"
#include "text/secret.h"

/* ---- the login --------------------------------------------------------------- */

struct exchange {
	struct pgconn *c;
	const struct learn_target *t;
	struct scram_state s;
	bool verified;
	struct buf *secret;
};

static enum learn_status sasl_start(struct exchange *x, const struct pgmsg *m)
{
	char nonce[32];
	struct buf first, out;

	if (!pgmsg_sasl_offers_scram(m->body, m->len)) {
		buf_printf(x->c->why, "the server offers no SCRAM-SHA-256");
		return LEARN_OTHER;
	}
	if (!scram_nonce(nonce, sizeof(nonce)))
		return LEARN_RETRY;
	buf_init(&first);
	buf_init(&out);
	scram_client_first(&x->s, "", nonce, &first);
	pgmsg_sasl_initial(&out, "SCRAM-SHA-256", first.data, first.len);
	buf_free(&first);
	return pgconn_send(x->c, &out);
}

static enum learn_status sasl_continue(struct exchange *x, const struct pgmsg *m)
{
	struct buf final, out;
	const char *why;
	bool ok;

	if (!scram_parse_server_first(&x->s, (const char *)m->body + 4, m->len - 4, &why)) {
		buf_puts(x->c->why, why);
		return LEARN_REFUSED;
	}
	buf_init(&final);
	buf_init(&out);
	ok = scram_client_final(&x->s, x->t->password, &final);
	if (ok)
		pgmsg_sasl_response(&out, final.data, final.len);
	buf_free_secret(&final);
	return ok ? pgconn_send(x->c, &out) : LEARN_RETRY;
}

/* The server proved it knows the password: only now is the secret ours. */
static enum learn_status sasl_final(struct exchange *x, const struct pgmsg *m)
{
	const char *why;

	if (!scram_verify_server_final(&x->s, (const char *)m->body + 4, m->len - 4, &why)) {
		buf_puts(x->c->why, why);
		return LEARN_REFUSED;
	}
	x->verified = true;
	return secret_scram(x->t->password, x->s.salt, x->s.saltlen, x->s.iterations, x->secret)
		       ? LEARN_SCRAM
		       : LEARN_RETRY;
}

static enum learn_status on_auth(struct exchange *x, const struct pgmsg *m, bool *done)
{
	uint32_t code;

	if (m->len < 4)
		return LEARN_REFUSED;
	memcpy(&code, m->body, 4);
	switch (ntohl(code)) {
	case 0: /* AuthenticationOk: wait for ReadyForQuery */
		if (x->s.client_nonce[0] && !x->verified) {
			/* SCRAM began and the server skipped its signature */
			buf_printf(x->c->why, "the server ended the SCRAM exchange without its "
					      "signature: it did not prove it knows the password");
			return LEARN_REFUSED;
		}
		*done = !x->verified;
		return x->verified ? LEARN_SCRAM : LEARN_TRUST;
	case 3:
		*done = true;
		return LEARN_CLEARTEXT;
	case 5:
		*done = true;
		return LEARN_MD5;
	case 10:
		return sasl_start(x, m);
	case 11:
		return x->s.client_nonce[0] ? sasl_continue(x, m) : LEARN_REFUSED;
	case 12:
		return x->s.server_nonce[0] ? sasl_final(x, m) : LEARN_REFUSED;
	default:
		*done = true;
		buf_printf(x->c->why, "the server asked for authentication method %u",
			   (unsigned)ntohl(code));
		return LEARN_OTHER;
	}
}

static enum learn_status login(struct exchange *x)
{
	struct buf out;
	struct pgmsg *m = malloc(sizeof(*m));
	enum learn_status st;
	bool done = false;

	buf_init(&out);
	if (!m || !pgmsg_startup(&out, x->t->user, x->t->dbname)) {
		free(m);
		buf_free(&out);
		return LEARN_RETRY;
	}
	st = pgconn_send(x->c, &out);
	while (st == LEARN_SCRAM && !done && (st = pgconn_next(x->c, m)) == LEARN_SCRAM) {
		if (m->type == 'E')
			st = pgmsg_error(m->body, m->len, x->c->why);
		else if (m->type == 'R')
			st = on_auth(x, m, &done);
		else if (m->type == 'Z' && x->verified)
			done = true;
	}
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	if (st == LEARN_SCRAM && !x->verified)
		st = LEARN_REFUSED; /* ReadyForQuery without our proof: not PostgreSQL */
	return st;
}

static enum learn_status learn_host(const struct learn_target *t, const char *host,
				    long long deadline, struct buf *secret, struct buf *why)
{
	struct pgconn c;
	struct exchange x = {.c = &c, .t = t, .secret = secret};
	enum learn_status st = pgconn_open(&c, t, host, deadline, why);

	if (st == LEARN_SCRAM)
		st = login(&x);
	if (st == LEARN_SCRAM) {
		struct buf bye;
		buf_init(&bye);
		pgmsg_terminate(&bye);
		pgconn_send(&c, &bye);
	}
	OPENSSL_cleanse(&x.s, sizeof(x.s));
	pgconn_close(&c);
	return st;
}

/* sslmode=allow as libpq (the wait) does it: without TLS first, and with
 * TLS (unverified) when the server refuses that. */
static enum learn_status learn_allow(const struct learn_target *t, const char *host,
				     long long deadline, struct buf *secret, struct buf *why)
{
	struct learn_target plain = *t, tls = *t;
	enum learn_status st;

	plain.sslmode = "disable";
	tls.sslmode = "require";
	st = learn_host(&plain, host, deadline, secret, why);
	if (st != LEARN_REFUSED || deadline_stop_signal)
		return st;
	why->len = 0;
	secret->len = 0;
	return learn_host(&tls, host, deadline, secret, why);
}

enum learn_status scram_learn(const struct learn_target *t, long long deadline, struct buf *secret,
			      struct buf *why)
{
	bool allow = t->sslmode && !strcmp(t->sslmode, "allow");
	char *hosts = strdup(t->host), *save = NULL;
	enum learn_status st = LEARN_RETRY;

	if (!hosts)
		return LEARN_RETRY;
	/* a libpq host list: the first that answers, as the wait's login did */
	for (char *h = strtok_r(hosts, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		why->len = 0;
		secret->len = 0;
		st = allow ? learn_allow(t, h, deadline, secret, why)
			   : learn_host(t, h, deadline, secret, why);
		if (st != LEARN_RETRY || deadline_stop_signal)
			break;
	}
	free(hosts);
	return st;
}
