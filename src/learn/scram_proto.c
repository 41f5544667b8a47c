#include "learn/scram_proto.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "pg/upauth.h"
#include "text/secret.h"

const char *learn_status_name(enum learn_status s)
{
	static const char *const names[] = {"scram", "md5",     "cleartext", "trust", "other",
					    "retry", "refused", "stopped",   "none"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

#define PROTOCOL_3_0 196608
#define SSL_REQUEST_CODE 80877103
#define B64 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/* ---- frontend messages ----------------------------------------------------- */

static void put_int32(struct buf *out, uint32_t v)
{
	uint32_t n = htonl(v);

	buf_add(out, (const char *)&n, 4);
}

/* Patch the length field that starts at offset AT (it counts itself). */
static void set_len(struct buf *out, size_t at)
{
	uint32_t n = htonl((uint32_t)(out->len - at));

	if (!out->oom)
		memcpy(out->data + at, &n, 4);
}

void pgmsg_ssl_request(struct buf *out)
{
	put_int32(out, 8);
	put_int32(out, SSL_REQUEST_CODE);
}

static void put_cstr(struct buf *out, const char *s)
{
	buf_add(out, s, strlen(s) + 1);
}

bool pgmsg_startup(struct buf *out, const char *user, const char *dbname)
{
	size_t at = out->len;

	if (!*user)
		return false;
	put_int32(out, 0);
	put_int32(out, PROTOCOL_3_0);
	put_cstr(out, "user");
	put_cstr(out, user);
	put_cstr(out, "database");
	put_cstr(out, dbname);
	put_cstr(out, "application_name");
	put_cstr(out, "pgbouncer-entrypoint");
	buf_add(out, "", 1);
	set_len(out, at);
	return !out->oom;
}

void pgmsg_sasl_initial(struct buf *out, const char *mechanism, const char *data, size_t len)
{
	size_t at;

	buf_putc(out, 'p');
	at = out->len;
	put_int32(out, 0);
	put_cstr(out, mechanism);
	put_int32(out, (uint32_t)len);
	buf_add(out, data, len);
	set_len(out, at);
}

void pgmsg_sasl_response(struct buf *out, const char *data, size_t len)
{
	buf_putc(out, 'p');
	put_int32(out, (uint32_t)len + 4);
	buf_add(out, data, len);
}

void pgmsg_terminate(struct buf *out)
{
	buf_putc(out, 'X');
	put_int32(out, 4);
}

/* ---- backend messages ------------------------------------------------------ */

/* Authentication exchanges are small; anything near this is not PostgreSQL. */
#define MAX_BACKEND_MSG (1 << 20)

long pgmsg_next(const unsigned char *data, size_t len, char *type, const unsigned char **body,
		size_t *bodylen)
{
	uint32_t n;

	if (len < 5)
		return 0;
	memcpy(&n, data + 1, 4);
	n = ntohl(n);
	if (n < 4 || n > MAX_BACKEND_MSG)
		return -1;
	if (len < (size_t)n + 1)
		return 0;
	*type = (char)data[0];
	*body = data + 5;
	*bodylen = n - 4;
	return (long)n + 1;
}

/* Field CODE of an ErrorResponse body, or NULL. */
static const char *error_field(const unsigned char *body, size_t len, char code)
{
	size_t i = 0;

	while (i < len && body[i]) {
		const char *v = (const char *)body + i + 1;
		size_t vlen = strnlen(v, len - i - 1);
		if (i + 1 + vlen >= len)
			return NULL; /* unterminated */
		if ((char)body[i] == code)
			return v;
		i += vlen + 2;
	}
	return NULL;
}

/* States in which the server will take the login a little later. */
static bool state_passes(const char *st)
{
	return !strncmp(st, "08", 2) || !strncmp(st, "53", 2) || !strcmp(st, "57P03") ||
	       !strcmp(st, "57P01") || !strcmp(st, "57P02");
}

enum learn_status pgmsg_error(const unsigned char *body, size_t len, struct buf *why)
{
	const char *msg = error_field(body, len, 'M'), *st = error_field(body, len, 'C');
	const char *sev = error_field(body, len, 'V');

	if (!sev)
		sev = error_field(body, len, 'S');
	buf_printf(why, "%s%s%s (SQLSTATE %s)", sev ? sev : "", sev ? ":  " : "",
		   msg ? msg : "error without a message", st ? st : "none");
	return st && state_passes(st) ? LEARN_RETRY : LEARN_REFUSED;
}

bool pgmsg_sasl_offers_scram(const unsigned char *body, size_t len)
{
	size_t i = 4; /* after the int32 request code */

	while (i < len && body[i]) {
		size_t n = strnlen((const char *)body + i, len - i);
		if (i + n >= len)
			return false;
		if (!strcmp((const char *)body + i, "SCRAM-SHA-256"))
			return true;
		i += n + 1;
	}
	return false;
}

/* ---- SCRAM-SHA-256 (RFC 5802, RFC 7677) ------------------------------------ */

bool scram_nonce(char *out, size_t outlen)
{
	unsigned char raw[18];

	if (outlen < 25 || RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw)); /* 24 chars, no '=' */
	return true;
}

void scram_client_first(struct scram_state *s, const char *user, const char *nonce, struct buf *out)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->client_nonce, sizeof(s->client_nonce), "%s", nonce);
	snprintf(s->client_first_bare, sizeof(s->client_first_bare), "n=%s,r=%s", user,
		 s->client_nonce);
	/* "n": this client does no channel binding (pgbouncer does none either) */
	buf_printf(out, "n,,%s", s->client_first_bare);
}

/* Strict base64 (standard alphabet, '=' padding, length a multiple of 4)
 * into OUT; the decoded length, or -1. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
	size_t pad = 0;
	int n;

	if (len == 0 || len % 4 || len / 4 * 3 > outcap)
		return -1;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!in[i] || !strchr(B64, in[i]))
			return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	return n < 0 ? -1 : n - (int)pad;
}

/* The value of attribute NAME ("r", "s", "i") at the start of *P: copies it
 * to OUT (size CAP) and advances *P past the following comma. */
static bool attr(const char **p, const char *end, char name, char *out, size_t cap)
{
	const char *v = *p, *comma;
	size_t n;

	if (end - v < 2 || v[0] != name || v[1] != '=')
		return false;
	v += 2;
	comma = memchr(v, ',', (size_t)(end - v));
	n = (size_t)((comma ? comma : end) - v);
	if (n == 0 || n >= cap || memchr(v, '\0', n))
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	*p = comma ? comma + 1 : end;
	return true;
}

static bool parse_iterations(const char *v, int *out)
{
	char *end;
	long n;

	if (!*v || strspn(v, "0123456789") != strlen(v))
		return false;
	n = strtol(v, &end, 10);
	if (*end || n < SCRAM_MIN_ITERATIONS || n > SCRAM_MAX_ITERATIONS)
		return false;
	*out = (int)n;
	return true;
}

bool scram_parse_server_first(struct scram_state *s, const char *msg, size_t len, const char **why)
{
	const char *p = msg, *end = msg + len;
	char salt[4 * SCRAM_MAX_SALT], iter[16];
	size_t cn = strlen(s->client_nonce);

	*why = "the server's SCRAM message is malformed";
	if (len >= sizeof(s->server_first) ||
	    !attr(&p, end, 'r', s->server_nonce, sizeof(s->server_nonce)) ||
	    !attr(&p, end, 's', salt, sizeof(salt)) || !attr(&p, end, 'i', iter, sizeof(iter)))
		return false;
	if (strncmp(s->server_nonce, s->client_nonce, cn) != 0 || strlen(s->server_nonce) == cn ||
	    strchr(s->server_nonce, ',')) {
		*why = "the server's SCRAM nonce does not extend ours";
		return false;
	}
	if (!parse_iterations(iter, &s->iterations)) {
		*why = "the server's SCRAM iteration count is not between 4096 and 1000000";
		return false;
	}
	s->saltlen = b64_decode(salt, strlen(salt), s->salt, sizeof(s->salt));
	if (s->saltlen < 1) {
		*why = "the server's SCRAM salt is not base64";
		return false;
	}
	memcpy(s->server_first, msg, len);
	s->server_first[len] = '\0';
	return true;
}

static bool hmac(const unsigned char *key, const void *data, size_t len, unsigned char *out)
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), key, SCRAM_KEY_LEN, data, len, out, &n) && n == SCRAM_KEY_LEN;
}

/* SaltedPassword = Hi(SASLprep(password), salt, i) = PBKDF2-HMAC-SHA-256 */
bool scram_salted_password(const struct scram_state *s, const char *password, unsigned char *out)
{
	char *pw = secret_saslprep(password);
	bool ok = pw && PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), s->salt, s->saltlen, s->iterations,
					  EVP_sha256(), SCRAM_KEY_LEN, out) == 1;

	if (pw) {
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	return ok;
}

/* ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage);
 * ServerSignature = HMAC(HMAC(SaltedPassword, "Server Key"), AuthMessage) */
static bool proofs(struct scram_state *s, const unsigned char *salted, const struct buf *auth,
		   unsigned char *proof)
{
	unsigned char ck[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN],
		sig[SCRAM_KEY_LEN];
	bool ok = hmac(salted, "Client Key", 10, ck) && SHA256(ck, sizeof(ck), stored) &&
		  hmac(stored, auth->data, auth->len, sig) && hmac(salted, "Server Key", 10, sk) &&
		  hmac(sk, auth->data, auth->len, s->server_signature);

	for (int i = 0; ok && i < SCRAM_KEY_LEN; i++)
		proof[i] = ck[i] ^ sig[i];
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	OPENSSL_cleanse(sig, sizeof(sig));
	return ok;
}

bool scram_client_final_salted(struct scram_state *s, const unsigned char *salted, struct buf *out)
{
	unsigned char proof[SCRAM_KEY_LEN];
	unsigned char enc[4 * ((SCRAM_KEY_LEN + 2) / 3) + 1];
	struct buf auth, bare;
	bool ok;

	buf_init(&bare);
	buf_printf(&bare, "c=biws,r=%s", s->server_nonce); /* biws = base64("n,,") */
	buf_init(&auth);
	buf_printf(&auth, "%s,%s,%s", s->client_first_bare, s->server_first, buf_str(&bare));
	ok = !auth.oom && !bare.oom && proofs(s, salted, &auth, proof);
	if (ok) {
		EVP_EncodeBlock(enc, proof, sizeof(proof));
		buf_printf(out, "%s,p=%s", buf_str(&bare), enc);
	}
	OPENSSL_cleanse(proof, sizeof(proof));
	buf_free(&auth);
	buf_free(&bare);
	return ok && !out->oom;
}

bool scram_client_final(struct scram_state *s, const char *password, struct buf *out)
{
	unsigned char salted[SCRAM_KEY_LEN];
	bool ok = scram_salted_password(s, password, salted) &&
		  scram_client_final_salted(s, salted, out);

	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

bool scram_verify_server_final(const struct scram_state *s, const char *msg, size_t len,
			       const char **why)
{
	unsigned char sig[SCRAM_KEY_LEN + 3];
	const char *end;

	if (len >= 2 && !strncmp(msg, "e=", 2)) {
		*why = "the server ended the SCRAM exchange with an error";
		return false;
	}
	*why = "the server's SCRAM signature does not verify: the server does not know this "
	       "password, or something between us answers in its place";
	if (len < 2 || strncmp(msg, "v=", 2) != 0)
		return false;
	end = memchr(msg, ',', len); /* extensions may follow */
	if (b64_decode(msg + 2, (size_t)((end ? end : msg + len) - msg - 2), sig, sizeof(sig)) !=
	    SCRAM_KEY_LEN)
		return false;
	return CRYPTO_memcmp(sig, s->server_signature, SCRAM_KEY_LEN) == 0;
}

/* ---- the secret as root accepts it ----------------------------------------- */

static bool b64_part(const char *p, size_t n, int min, int max)
{
	unsigned char out[SCRAM_MAX_SALT + 3];
	int got = n < 4 * sizeof(out) / 3 ? b64_decode(p, n, out, sizeof(out)) : -1;

	return got >= min && got <= max;
}

bool scram_secret_wellformed(const char *s)
{
	const char *p, *colon, *dollar, *colon2;
	int iter;
	char num[16];

	if (!s || strlen(s) >= SCRAM_SECRET_MAX || strncmp(s, "SCRAM-SHA-256$", 14) != 0)
		return false;
	p = s + 14;
	colon = strchr(p, ':');
	if (!colon || colon == p || (size_t)(colon - p) >= sizeof(num))
		return false;
	memcpy(num, p, (size_t)(colon - p));
	num[colon - p] = '\0';
	dollar = strchr(colon, '$');
	colon2 = dollar ? strchr(dollar, ':') : NULL;
	return parse_iterations(num, &iter) && colon2 &&
	       b64_part(colon + 1, (size_t)(dollar - colon - 1), 1, SCRAM_MAX_SALT) &&
	       b64_part(dollar + 1, (size_t)(colon2 - dollar - 1), SCRAM_KEY_LEN, SCRAM_KEY_LEN) &&
	       b64_part(colon2 + 1, strlen(colon2 + 1), SCRAM_KEY_LEN, SCRAM_KEY_LEN);
}
