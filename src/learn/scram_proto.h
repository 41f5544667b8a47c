/* The protocol messages and SCRAM-SHA-256 arithmetic of scram_learn: pure
 * functions (no I/O), each unit-tested.  OpenSSL does every primitive:
 * PBKDF2, HMAC, SHA-256, base64 and the nonce's randomness. */
#ifndef PGBE_SCRAM_PROTO_H
#define PGBE_SCRAM_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define SCRAM_KEY_LEN 32
#define SCRAM_MAX_SALT 64
/* Longest secret secret_scram writes for a salt of SCRAM_MAX_SALT bytes. */
#define SCRAM_SECRET_MAX 256

/* What the server asked for, or why nothing was learned. */
enum learn_status {
	LEARN_SCRAM,     /* secret learned and the server's signature verified */
	LEARN_MD5,       /* the server asked for md5: it stores an md5 hash */
	LEARN_CLEARTEXT, /* the server asked for the cleartext password */
	LEARN_TRUST,     /* the server let us in without asking */
	LEARN_OTHER,     /* GSS, SSPI, or a SASL mechanism other than SCRAM-SHA-256 */
	LEARN_RETRY,     /* not reachable or not ready: try again before the deadline */
	LEARN_REFUSED,   /* the server said no, or proved nothing (bad signature) */
	LEARN_STOPPED,   /* SIGTERM/SIGINT */
	LEARN_NONE,      /* not attempted (no wait, no host) */
};
const char *learn_status_name(enum learn_status s);

struct learn_target {
	const char *host; /* libpq form: "name", "a,b" (tried in order), "/socket/dir" */
	const char *port;
	const char *dbname;
	const char *user;
	const char *password;
	const char *sslmode; /* server_tls_sslmode; NULL = prefer */
	const char *ca_file; /* server_tls_ca_file, for verify-ca/verify-full */
	const char *cert_file;
	const char *key_file;
};

/* Frontend messages, length-framed as the protocol wants. */
void pgmsg_ssl_request(struct buf *out);
bool pgmsg_startup(struct buf *out, const char *user, const char *dbname);
void pgmsg_sasl_initial(struct buf *out, const char *mechanism, const char *data, size_t len);
void pgmsg_sasl_response(struct buf *out, const char *data, size_t len);
void pgmsg_terminate(struct buf *out);

/* One backend message at DATA: returns its total length (type byte
 * included) when complete, 0 when more bytes are needed, -1 when the length
 * field is impossible.  *TYPE, *BODY and *BODYLEN describe it. */
long pgmsg_next(const unsigned char *data, size_t len, char *type, const unsigned char **body,
		size_t *bodylen);

/* An ErrorResponse body: "message (SQLSTATE)" into WHY; LEARN_RETRY for
 * states that pass (starting up, too many clients, connection trouble),
 * LEARN_REFUSED for everything else. */
enum learn_status pgmsg_error(const unsigned char *body, size_t len, struct buf *why);

/* Does a SASL mechanism list (NUL-terminated names, empty name last) offer
 * SCRAM-SHA-256? */
bool pgmsg_sasl_offers_scram(const unsigned char *body, size_t len);

struct scram_state {
	char client_nonce[64];
	char client_first_bare[128];
	char server_first[512];
	char server_nonce[256];
	unsigned char salt[SCRAM_MAX_SALT];
	int saltlen;
	int iterations;
	unsigned char server_signature[SCRAM_KEY_LEN];
};

/* client-first-message "n,,n=<user>,r=<nonce>".  PostgreSQL takes the user
 * name from the startup packet and ignores this one, so USER is "" (as libpq
 * sends it); the RFC 7677 test vector names one.  NONCE: printable, no ','. */
void scram_client_first(struct scram_state *s, const char *user, const char *nonce,
			struct buf *out);
/* A fresh nonce: 18 random bytes, base64. */
bool scram_nonce(char *out, size_t outlen);

/* Parse server-first "r=<nonce>,s=<salt>,i=<iter>": the nonce must extend
 * ours, the salt decode, the count be 1..SCRAM_MAX_ITERATIONS.  False with
 * *WHY set otherwise. */
bool scram_parse_server_first(struct scram_state *s, const char *msg, size_t len, const char **why);

/* client-final "c=biws,r=<nonce>,p=<proof>" and the server signature to
 * expect, from the SASLprep'd password. */
bool scram_client_final(struct scram_state *s, const char *password, struct buf *out);
/* The two halves of scram_client_final: the PBKDF2 (SCRAM_KEY_LEN bytes
 * into OUT), which depends only on the password, salt and count, and the
 * message from it.  A client logging in again with the same salt may keep
 * the first (the load generator of make bench does; libpq does not). */
bool scram_salted_password(const struct scram_state *s, const char *password, unsigned char *out);
bool scram_client_final_salted(struct scram_state *s, const unsigned char *salted, struct buf *out);

/* Does server-final "v=<signature>" carry the signature we expect?  "e=..."
 * and anything else: false with *WHY set. */
bool scram_verify_server_final(const struct scram_state *s, const char *msg, size_t len,
			       const char **why);

/* Is S a well-formed SCRAM-SHA-256 secret as secret_scram writes it: digits,
 * base64 salt (1..SCRAM_MAX_SALT bytes), two base64 keys of 32 bytes?  Used
 * by root on what an unprivileged child learned. */
bool scram_secret_wellformed(const char *s);

#endif
