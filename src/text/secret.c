#include "text/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* libpgcommon (PostgreSQL src/common/saslprep.c); the header needs the
 * server's c.h, so the two declarations are repeated here. */
typedef enum {
	SASLPREP_SUCCESS = 0,
	SASLPREP_OOM = -1,
	SASLPREP_INVALID_UTF8 = -2,
	SASLPREP_PROHIBITED = -3,
} pg_saslprep_rc;
pg_saslprep_rc pg_saslprep(const char *input, char **output);

bool secret_md5(const char *user, const char *password, struct buf *out)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) &&
		  EVP_DigestUpdate(ctx, password, strlen(password)) &&
		  EVP_DigestUpdate(ctx, user, strlen(user)) &&
		  EVP_DigestFinal_ex(ctx, digest, &len);

	EVP_MD_CTX_free(ctx);
	if (!ok)
		return false;
	buf_puts(out, "md5");
	for (unsigned int i = 0; i < len; i++)
		buf_printf(out, "%02x", digest[i]);
	return !out->oom;
}

static void put_b64(struct buf *out, const unsigned char *data, int len)
{
	unsigned char enc[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];

	EVP_EncodeBlock(enc, data, len);
	buf_puts(out, (const char *)enc);
}

/* PostgreSQL and libpq SASLprep the password when it is valid UTF-8 and
 * preparation succeeds, and use the raw bytes otherwise. */
char *secret_saslprep(const char *password)
{
	char *out = NULL;

	if (pg_saslprep(password, &out) == SASLPREP_SUCCESS && out)
		return out;
	free(out);
	return strdup(password);
}

bool secret_scram(const char *password, const unsigned char *salt, int saltlen, int iterations,
		  struct buf *out)
{
	unsigned char salted[SHA256_DIGEST_LENGTH], client[SHA256_DIGEST_LENGTH];
	unsigned char stored[SHA256_DIGEST_LENGTH], server[SHA256_DIGEST_LENGTH];
	unsigned int len;
	char *pw = secret_saslprep(password);
	bool ok = pw != NULL &&
		  PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, saltlen, iterations, EVP_sha256(),
				    sizeof(salted), salted) == 1 &&
		  HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Client Key",
		       10, client, &len) != NULL &&
		  SHA256(client, sizeof(client), stored) != NULL &&
		  HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Server Key",
		       10, server, &len) != NULL;

	if (pw) {
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client, sizeof(client));
	if (!ok)
		return false;
	buf_printf(out, "SCRAM-SHA-256$%d:", iterations);
	put_b64(out, salt, saltlen);
	buf_putc(out, '$');
	put_b64(out, stored, sizeof(stored));
	buf_putc(out, ':');
	put_b64(out, server, sizeof(server));
	return !out->oom;
}

bool secret_scram_random(const char *password, struct buf *out)
{
	unsigned char salt[SCRAM_SALT_LEN];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return false;
	return secret_scram(password, salt, sizeof(salt), SCRAM_DEFAULT_ITERATIONS, out);
}

enum secret_kind secret_classify(const char *s)
{
	if (strncmp(s, "md5", 3) == 0 && strlen(s) == 35 && strspn(s + 3, "0123456789abcdef") == 32)
		return SECRET_MD5;
	if (strncmp(s, "SCRAM-SHA-256$", 14) == 0 && strchr(s + 14, ':') && strchr(s + 14, '$'))
		return SECRET_SCRAM;
	return SECRET_PLAIN;
}

long secret_scram_iterations(const char *stored)
{
	char *end;
	long iter;

	if (secret_classify(stored) != SECRET_SCRAM || !isdigit((unsigned char)stored[14]))
		return -1;
	errno = 0;
	iter = strtol(stored + 14, &end, 10);
	return errno || *end != ':' ? -1 : iter;
}

/* Recompute a SCRAM secret with STORED's own salt and iteration count. */
static bool scram_matches(const char *stored, const char *password)
{
	const char *p = stored + 14, *colon = strchr(p, ':'), *dollar;
	unsigned char salt[128];
	char b64[192];
	long iter = secret_scram_iterations(stored);
	struct buf mine;
	bool ok;

	if (iter < 1 || iter > SCRAM_MAX_ITERATIONS)
		return false;
	dollar = strchr(colon + 1, '$');
	if (!dollar || (size_t)(dollar - colon - 1) >= sizeof(b64))
		return false;
	memcpy(b64, colon + 1, (size_t)(dollar - colon - 1));
	b64[dollar - colon - 1] = '\0';
	int n = EVP_DecodeBlock(salt, (const unsigned char *)b64, (int)strlen(b64));
	if (n < 0)
		return false;
	/* EVP_DecodeBlock counts the padding bytes as data */
	for (size_t i = strlen(b64); i > 0 && b64[i - 1] == '='; i--)
		n--;
	buf_init(&mine);
	ok = secret_scram(password, salt, n, (int)iter, &mine) &&
	     strcmp(buf_str(&mine), stored) == 0;
	buf_free(&mine);
	return ok;
}

bool secret_matches(const char *stored, const char *user, const char *password)
{
	struct buf mine;
	bool ok;

	switch (secret_classify(stored)) {
	case SECRET_MD5:
		buf_init(&mine);
		ok = secret_md5(user, password, &mine) && strcmp(buf_str(&mine), stored) == 0;
		buf_free(&mine);
		return ok;
	case SECRET_SCRAM:
		return scram_matches(stored, password);
	case SECRET_PLAIN:
		return strcmp(stored, password) == 0;
	}
	return false;
}
