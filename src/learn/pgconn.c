#include "learn/pgconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "learn/scram_proto.h"
#include "pg/resolve.h"

/* 1: FD is ready for EV; 0: deadline; -1: stopped by a signal. */
static int ready(int fd, short ev, long long deadline)
{
	struct pollfd p = {fd, ev, 0};

	switch (deadline_poll(&p, 1, deadline)) {
	case DEADLINE_READY:
		return 1;
	case DEADLINE_PASSED:
		return 0;
	default:
		return -1;
	}
}

static enum learn_status timed_out(struct pgconn *c, int r, const char *doing)
{
	if (r < 0)
		return LEARN_STOPPED;
	buf_printf(c->why, "timeout expired while %s", doing);
	return LEARN_RETRY;
}

/* ---- TCP or Unix socket ----------------------------------------------------- */

static enum learn_status connect_addr(struct pgconn *c, const struct sockaddr *sa, socklen_t len)
{
	int err = 0, r;
	socklen_t elen = sizeof(err);

	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		buf_printf(c->why, "could not create a socket: %s", strerror(errno));
		return LEARN_RETRY;
	}
	if (connect(c->fd, sa, len) == 0)
		return PGCONN_OK; /* "connected": the caller continues */
	if (errno != EINPROGRESS && errno != EAGAIN)
		err = errno;
	else if ((r = ready(c->fd, POLLOUT, c->deadline)) <= 0)
		return timed_out(c, r, "connecting");
	else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
		err = errno;
	if (!err)
		return PGCONN_OK;
	buf_printf(c->why, "could not connect: %s", strerror(err));
	close(c->fd);
	c->fd = -1;
	return LEARN_RETRY;
}

static enum learn_status connect_unix(struct pgconn *c, const char *dir, const char *port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%s", dir, port) >=
	    sizeof(sa.sun_path)) {
		buf_printf(c->why, "socket path too long");
		return LEARN_REFUSED;
	}
	return connect_addr(c, (struct sockaddr *)&sa, sizeof(sa));
}

/* The name through resolve.c (a child that a deadline or a signal can
 * abandon: musl's getaddrinfo can block for seconds), then each address. */
static enum learn_status connect_tcp(struct pgconn *c, const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	enum learn_status st = LEARN_RETRY;
	struct addrs a;
	int rc = resolve_host(host, c->deadline, &a, c->why);

	if (rc != EX_OK)
		return rc >= EX_SIGNAL_BASE ? LEARN_STOPPED : LEARN_RETRY;
	for (int i = 0; i < a.n; i++) {
		struct addrinfo *res = NULL;
		c->why->len = 0;
		if (getaddrinfo(a.addr[i], port, &hints, &res) != 0 || !res) {
			buf_printf(c->why, "invalid port \"%s\"", port);
			return LEARN_REFUSED;
		}
		st = connect_addr(c, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
		if (st != LEARN_RETRY || c->fd >= 0)
			break;
	}
	return st;
}

/* ---- bytes in and out ------------------------------------------------------- */

/* SSL_ERROR_WANT_* as the poll event to wait for; 0 for a real error. */
static short ssl_wants(SSL *ssl, int r)
{
	int e = SSL_get_error(ssl, r);

	return e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
}

static enum learn_status send_all(struct pgconn *c, const struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		short ev = POLLOUT;
		ssize_t n = c->ssl ? SSL_write(c->ssl, b->data + off, (int)(b->len - off))
				   : send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (c->ssl ? !(ev = ssl_wants(c->ssl, (int)n))
			   : (errno != EAGAIN && errno != EINTR)) {
			buf_printf(c->why, "could not send data to the server");
			return LEARN_RETRY;
		}
		int r = ready(c->fd, ev, c->deadline);
		if (r <= 0)
			return timed_out(c, r, "sending");
	}
	return PGCONN_OK;
}

/* Append whatever arrives next to C->in (at most CAP bytes at once). */
static enum learn_status receive(struct pgconn *c, size_t cap)
{
	char chunk[4096];

	for (;;) {
		short ev = POLLIN;
		size_t want = cap < sizeof(chunk) ? cap : sizeof(chunk);
		ssize_t n =
			c->ssl ? SSL_read(c->ssl, chunk, (int)want) : recv(c->fd, chunk, want, 0);
		if (n > 0) {
			buf_add(&c->in, chunk, (size_t)n);
			OPENSSL_cleanse(chunk, sizeof(chunk));
			return c->in.oom ? LEARN_RETRY : PGCONN_OK;
		}
		if (n == 0 || (c->ssl ? !(ev = ssl_wants(c->ssl, (int)n))
				      : (errno != EAGAIN && errno != EINTR))) {
			buf_printf(c->why, "server closed the connection unexpectedly");
			return LEARN_RETRY;
		}
		int r = ready(c->fd, ev, c->deadline);
		if (r <= 0)
			return timed_out(c, r, "waiting for the server");
	}
}

/* The next backend message, whole.  Longer bodies than M->body are skipped
 * (ParameterStatus values may be long; nothing we parse is). */
enum learn_status pgconn_next(struct pgconn *c, struct pgmsg *m)
{
	for (;;) {
		const unsigned char *body;
		long n = pgmsg_next((const unsigned char *)c->in.data, c->in.len, &m->type, &body,
				    &m->len);
		enum learn_status st;
		if (n < 0) {
			buf_printf(c->why, "the server sent something that is not PostgreSQL's "
					   "protocol");
			return LEARN_REFUSED;
		}
		if (n > 0) {
			if (m->len > sizeof(m->body))
				m->len = 0, m->type = '?';
			memcpy(m->body, body, m->len);
			memmove(c->in.data, c->in.data + n, c->in.len - (size_t)n);
			c->in.len -= (size_t)n;
			return PGCONN_OK;
		}
		if ((st = receive(c, sizeof(m->body))) != PGCONN_OK)
			return st;
	}
}

/* ---- TLS -------------------------------------------------------------------- */

static bool is_ip_literal(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

static void tls_error(struct pgconn *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	long v = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;

	buf_printf(c->why, "SSL error: %s: %s", what,
		   v != X509_V_OK ? "certificate verify failed"
		   : e            ? ERR_reason_error_string(e)
				  : "handshake failed");
	if (v != X509_V_OK)
		buf_printf(c->why, " (%s)", X509_verify_cert_error_string(v));
	ERR_clear_error();
}

/* The same rules as the wait (libpq) and pgbouncer: the CA file only for
 * verify-ca/verify-full, the name check only for verify-full; SNI for any
 * host name, as libpq sends it (sslsni=1). */
static bool tls_setup(struct pgconn *c, const struct learn_target *t, const char *host,
		      const char *mode)
{
	bool verify = !strncmp(mode, "verify-", 7), full = !strcmp(mode, "verify-full");

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx || !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION))
		return false;
	if (verify &&
	    (!t->ca_file || SSL_CTX_load_verify_locations(c->ctx, t->ca_file, NULL) != 1)) {
		buf_printf(c->why, "could not read root certificate file \"%s\"",
			   t->ca_file ? t->ca_file : "(none)");
		return false;
	}
	SSL_CTX_set_verify(c->ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (t->cert_file &&
	    (SSL_CTX_use_certificate_chain_file(c->ctx, t->cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(c->ctx, t->key_file ? t->key_file : t->cert_file,
					 SSL_FILETYPE_PEM) != 1))
		return false;
	if (!(c->ssl = SSL_new(c->ctx)) || !SSL_set_fd(c->ssl, c->fd))
		return false;
	if (!is_ip_literal(host) && !SSL_set_tlsext_host_name(c->ssl, host))
		return false;
	if (full &&
	    !(is_ip_literal(host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host)
				  : SSL_set1_host(c->ssl, host)))
		return false;
	return true;
}

static enum learn_status tls_handshake(struct pgconn *c, const struct learn_target *t,
				       const char *host, const char *mode)
{
	if (!tls_setup(c, t, host, mode)) {
		if (!c->why->len)
			tls_error(c, "could not set up TLS");
		return LEARN_REFUSED;
	}
	for (;;) {
		int r = SSL_connect(c->ssl);
		short ev;
		if (r == 1)
			return PGCONN_OK;
		if (!(ev = ssl_wants(c->ssl, r))) {
			tls_error(c, "handshake");
			return LEARN_REFUSED;
		}
		if ((r = ready(c->fd, ev, c->deadline)) <= 0)
			return timed_out(c, r, "in the TLS handshake");
	}
}

/* SSLRequest and its one-byte answer, read alone: bytes after it would be
 * plaintext injected ahead of the handshake (CVE-2021-23222). */
static enum learn_status negotiate_tls(struct pgconn *c, const struct learn_target *t,
				       const char *host, const char *mode)
{
	struct buf req;
	enum learn_status st;
	char answer;
	ssize_t n;

	buf_init(&req);
	pgmsg_ssl_request(&req);
	st = send_all(c, &req);
	buf_free(&req);
	while (st == PGCONN_OK && (n = recv(c->fd, &answer, 1, 0)) != 1) {
		int r;
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			buf_printf(c->why, "server closed the connection unexpectedly");
			return LEARN_RETRY;
		}
		if ((r = ready(c->fd, POLLIN, c->deadline)) <= 0)
			return timed_out(c, r, "waiting for the SSL answer");
	}
	if (st != PGCONN_OK)
		return st;
	if (answer == 'S')
		return tls_handshake(c, t, host, mode);
	if (answer == 'N' && !strcmp(mode, "prefer"))
		return PGCONN_OK;
	buf_printf(c->why, answer == 'N' ? "server does not support SSL, but SSL was required"
					 : "the server did not answer the SSL request");
	return answer == 'N' ? LEARN_REFUSED : LEARN_RETRY;
}

enum learn_status pgconn_open(struct pgconn *c, const struct learn_target *t, const char *host,
			      long long deadline, struct buf *why)
{
	const char *mode = t->sslmode ? t->sslmode : "prefer";
	bool sock = host[0] == '/';
	enum learn_status st;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->deadline = deadline;
	c->why = why;
	buf_init(&c->in);
	st = sock ? connect_unix(c, host, t->port) : connect_tcp(c, host, t->port);
	if (st == PGCONN_OK && !sock && strcmp(mode, "disable") != 0)
		st = negotiate_tls(c, t, host, mode);
	return st;
}

enum learn_status pgconn_send(struct pgconn *c, struct buf *b)
{
	enum learn_status st = b->oom ? LEARN_RETRY : send_all(c, b);

	buf_free_secret(b);
	return st;
}

void pgconn_close(struct pgconn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	buf_free_secret(&c->in);
}
