#include "pg/upauth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the login is: what the next authentication request may be. */
enum stage {
	ST_START, /* nothing yet */
	ST_SASL,  /* SASL offered, our first message goes out next */
	ST_PROOF, /* server-first seen, our proof goes out next */
	ST_FINAL, /* the server's signature seen (libpq checks it): Ok next */
	ST_ASKED, /* md5, the password or GSS answered: Ok next */
	ST_DONE,  /* AuthenticationOk: what follows is not ours to look at */
};

bool upauth_parse(const char *v, unsigned *out)
{
	static const struct {
		const char *word;
		unsigned bits;
	} words[] = {{"scram-sha-256", UPAUTH_SCRAM},
		     {"md5", UPAUTH_MD5},
		     {"password", UPAUTH_PASSWORD},
		     {"trust", UPAUTH_TRUST},
		     {"any", UPAUTH_ANY}};
	const char *p = v;

	*out = UPAUTH_SCRAM;
	while (*p) {
		size_t len = strcspn(p, ","), i;
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strlen(words[i].word) == len && !strncmp(p, words[i].word, len))
				break;
		if (i == sizeof(words) / sizeof(words[0]))
			return false;
		*out |= words[i].bits;
		p += len;
		if (*p == ',' && !*++p)
			return false; /* a trailing comma: a word left out by mistake */
	}
	return p != v;
}

void upauth_guard_init(struct upauth_guard *g, unsigned allow)
{
	memset(g, 0, sizeof(*g));
	g->allow = allow;
	g->stage = ST_START;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum upauth_verdict refuse(struct upauth_guard *g, const char *what, const char *allow)
{
	if (allow)
		snprintf(g->why, sizeof(g->why),
			 "the server asked for %s, which PGBOUNCER_UPSTREAM_AUTH does not allow "
			 "(it is scram-sha-256 unless set; add %s to allow it, with TLS verified "
			 "by server_tls_sslmode=verify-full)",
			 what, allow);
	else
		snprintf(g->why, sizeof(g->why), "%s", what);
	return UPAUTH_REFUSE;
}

/* Does the message end where libpq stops reading it?  libpq goes on to
 * the next message from where its handler stopped, not from the declared
 * end, so bytes past that are a second request read in the same go,
 * which the guard would never see: Ok and the cleartext request have no
 * body, md5 a 4-byte salt, SASL a list of names ended by an empty one. */
static bool read_whole(uint32_t code, const unsigned char *p, size_t n)
{
	size_t at = 0;

	switch (code) {
	case 0:
	case 3:
		return n == 0;
	case 5:
		return n == 4;
	case 10:
		while (at < n) {
			size_t len = strnlen((const char *)p + at, n - at);
			if (len == n - at)
				return false; /* a name without its NUL */
			if (len == 0)
				return at + 1 ==
				       n; /* the empty name ends the list, and the message */
			at += len + 1;
		}
		return false;
	default: /* SASLContinue, SASLFinal, GSS: libpq reads the whole body */
		return true;
	}
}

/* Does the SASL offer (NUL-terminated names, then an empty one) name
 * SCRAM-SHA-256, with or without channel binding? */
static bool offers_scram(const unsigned char *p, size_t n)
{
	const char *s = (const char *)p, *end = s + n;

	while (s < end && *s) {
		size_t len = strnlen(s, (size_t)(end - s));
		/* the whole name: "SCRAM" alone is no offer of SCRAM-SHA-256 */
		if ((len == 13 && !memcmp(s, "SCRAM-SHA-256", 13)) ||
		    (len == 18 && !memcmp(s, "SCRAM-SHA-256-PLUS", 18)))
			return true;
		s += len + 1;
	}
	return false;
}

/* The i= of a server-first message (r=...,s=...,i=N), or 0 if none. */
static unsigned long long iterations(const unsigned char *p, size_t n)
{
	char msg[1024], *save = NULL;

	if (n >= sizeof(msg))
		return 0;
	memcpy(msg, p, n);
	msg[n] = '\0';
	for (char *a = strtok_r(msg, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		char *end;
		if (a[0] != 'i' || a[1] != '=' || a[2] < '0' || a[2] > '9')
			continue;
		unsigned long long i = strtoull(a + 2, &end, 10);
		return *end ? 0 : i;
	}
	return 0;
}

/* One authentication request (CODE, then BODY of LEN bytes). */
static enum upauth_verdict request(struct upauth_guard *g, uint32_t code, const unsigned char *body,
				   size_t len)
{
	unsigned long long n;

	if (!read_whole(code, body, len))
		return refuse(
			g,
			"the server sent an authentication request with bytes past what libpq "
			"reads of it (a second request hidden inside it): not PostgreSQL, or "
			"something in between",
			NULL);
	switch (code) {
	case 0: /* AuthenticationOk */
		if (g->stage == ST_START && !(g->allow & UPAUTH_TRUST))
			return refuse(g, "no password at all (trust)", "trust");
		if ((g->stage == ST_SASL || g->stage == ST_PROOF) && g->allow != UPAUTH_ANY)
			return refuse(
				g,
				"the server ended the SCRAM exchange without its signature: it "
				"did not prove it knows the password (not PostgreSQL, or "
				"something in between)",
				NULL);
		g->stage = ST_DONE;
		return UPAUTH_GO;
	case 3: /* the password in clear */
	case 5: /* md5 */
		if (g->stage != ST_START)
			break;
		if (code == 3 && !(g->allow & UPAUTH_PASSWORD))
			return refuse(g, "the password in clear", "password");
		if (code == 5 && !(g->allow & UPAUTH_MD5))
			return refuse(g, "md5", "md5");
		g->stage = ST_ASKED;
		return UPAUTH_GO;
	case 10: /* SASL */
		if (g->stage != ST_START)
			break;
		if (!offers_scram(body, len) && g->allow != UPAUTH_ANY)
			return refuse(g, "a SASL mechanism other than SCRAM-SHA-256", "any");
		g->stage = ST_SASL;
		return UPAUTH_GO;
	case 11: /* SASLContinue: the server-first message */
		if (g->stage != ST_SASL)
			break;
		n = iterations(body, len);
		if (n > SCRAM_MAX_ITERATIONS ||
		    (n < SCRAM_MIN_ITERATIONS && !(n && g->allow == UPAUTH_ANY))) {
			snprintf(
				g->why, sizeof(g->why),
				"the server's SCRAM iteration count (%s%llu) is not between %d and "
				"%d: refused before computing it (more could take minutes; fewer make "
				"the proof cheap to guess the password from)",
				n ? "" : "missing or ", n, SCRAM_MIN_ITERATIONS,
				SCRAM_MAX_ITERATIONS);
			return UPAUTH_REFUSE;
		}
		g->stage = ST_PROOF;
		return UPAUTH_GO;
	case 12: /* SASLFinal: libpq checks the signature */
		if (g->stage != ST_PROOF)
			break;
		g->stage = ST_FINAL;
		return UPAUTH_GO;
	default: /* Kerberos, GSS, SSPI and what comes after them */
		if (g->allow != UPAUTH_ANY)
			return refuse(g,
				      "an authentication method other than SCRAM, md5 or the "
				      "password",
				      "any");
		g->stage = ST_ASKED;
		return UPAUTH_GO;
	}
	snprintf(g->why, sizeof(g->why),
		 "the server sent authentication request %u out of order: not PostgreSQL, or "
		 "something in between",
		 (unsigned)code);
	return UPAUTH_REFUSE;
}

enum upauth_verdict upauth_check(struct upauth_guard *g, const unsigned char *p, size_t n,
				 bool full)
{
	size_t off = 0;
	bool asked = false; /* a request in this batch that libpq will answer */

	while (g->stage != ST_DONE && off < n) {
		uint32_t len;
		if (n - off < 5)
			return UPAUTH_MORE;
		len = be32(p + off + 1);
		if (len < 4 || len > 65536)
			return refuse(g, "the server sent a malformed message during the login",
				      NULL);
		if (n - off - 1 < len)
			return full ? refuse(g,
					     "the server sent an overlong message during the login",
					     NULL)
				    : UPAUTH_MORE;
		if (p[off] == 'R') {
			enum upauth_verdict v;
			/* a request before libpq answered the last one: libpq would
			 * read both in one go and answer the second unseen */
			if (asked || len < 8)
				return refuse(g,
					      "the server sent a second authentication request "
					      "without waiting for the answer to the first",
					      NULL);
			uint32_t code = be32(p + off + 5);
			v = request(g, code, p + off + 9, len - 8);
			if (v != UPAUTH_GO)
				return v;
			/* SASLFinal needs no answer: Ok comes with it */
			asked = code != 0 && code != 12;
		}
		off += 1 + len;
	}
	return UPAUTH_GO;
}
