/* make bench's lean client (bench/processes.py): CLIENTS threads, each with
 * one blocking connection, sending pgbench -S's select over the simple
 * protocol, either on one login each (persistent, TLS with -s) or on a new
 * login per transaction (-C).
 *
 * Why not only pgbench: on a machine of two cores the load generator and
 * PostgreSQL share the CPUs with the pool, so a second pgbouncer can only
 * show what the others leave it.  pgbench -C spends far more CPU per login
 * than pgbouncer does (libpq runs the client's PBKDF2, 4096 HMAC rounds, at
 * every login).  This client does that PBKDF2 once per thread and keeps the
 * salted password, as a client may: the salt and count are the server's and
 * do not change between logins.  The SCRAM messages are the entrypoint's own
 * (learn/scram_proto).  Prints what it did and the CPU it used.
 *
 *   loadgen -h HOST -p PORT -U USER -d DB -c CLIENTS -T SECONDS [-C] [-s]
 *
 * The password comes from PGPASSWORD.  Exit 0, or 1 with a message. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "learn/scram_proto.h"

#define MAX_CLIENTS 256
#define ACCOUNTS 100000 /* pgbench -i -s 1 */

static struct {
	const char *user, *db, *password;
	int clients, seconds;
	bool per_login, tls;
	struct addrinfo *addr;
	SSL_CTX *ctx;
	struct timespec end;
	pthread_barrier_t ready;
} opt;

struct conn {
	int fd;
	SSL *ssl;
	unsigned char in[16384];
	size_t have, off;
};

struct client {
	pthread_t thread;
	unsigned int seed;
	long done;
	bool salted_kept;
	unsigned char salted[SCRAM_KEY_LEN];
	unsigned char salt[SCRAM_MAX_SALT];
	int saltlen, iterations;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	/* one message from the first thread to fail; the others wait here
	 * until _exit ends them (exit's handlers would free what they use) */
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
	va_list ap;

	pthread_mutex_lock(&once);
	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bool time_up(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec > opt.end.tv_sec ||
	       (t.tv_sec == opt.end.tv_sec && t.tv_nsec >= opt.end.tv_nsec);
}

static void put(struct conn *c, const struct buf *b)
{
	size_t off = 0;

	if (b->oom)
		die("out of memory");
	while (off < b->len) {
		ssize_t n = c->ssl ? SSL_write(c->ssl, b->data + off, (int)(b->len - off))
				   : send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);

		if (n <= 0 && !c->ssl && errno == EINTR)
			continue;
		if (n <= 0)
			die("write: %s", c->ssl ? "TLS error" : strerror(errno));
		off += (size_t)n;
	}
}

/* The next backend message; its body stays valid until the next call. */
static char next(struct conn *c, const unsigned char **body, size_t *len)
{
	for (;;) {
		char type;
		long n = pgmsg_next(c->in + c->off, c->have - c->off, &type, body, len);
		ssize_t got;

		if (n < 0)
			die("the server sent a message of impossible length");
		if (n > 0) {
			c->off += (size_t)n;
			return type;
		}
		memmove(c->in, c->in + c->off, c->have - c->off);
		c->have -= c->off;
		c->off = 0;
		if (c->have == sizeof(c->in))
			die("a backend message longer than %zu bytes", sizeof(c->in));
		got = c->ssl ? SSL_read(c->ssl, c->in + c->have, (int)(sizeof(c->in) - c->have))
			     : recv(c->fd, c->in + c->have, sizeof(c->in) - c->have, 0);
		if (got < 0 && !c->ssl && errno == EINTR)
			continue;
		if (got <= 0)
			die("the server closed the connection");
		c->have += (size_t)got;
	}
}

static void server_error(const unsigned char *body, size_t len)
{
	for (size_t i = 0; i < len && body[i];) {
		const char *field = (const char *)body + i + 1;

		if (body[i] == 'M')
			die("the server said: %.*s", (int)strnlen(field, len - i - 1), field);
		i += 2 + strnlen(field, len - i - 1);
	}
	die("the server sent an error without a message");
}

static void tls_start(struct conn *c)
{
	struct buf b;
	char answer;

	buf_init(&b);
	pgmsg_ssl_request(&b);
	put(c, &b);
	buf_free(&b);
	if (recv(c->fd, &answer, 1, 0) != 1 || answer != 'S')
		die("the server does not do TLS");
	c->ssl = SSL_new(opt.ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
		die("TLS handshake failed: %s", ERR_peek_error()
							? ERR_reason_error_string(ERR_get_error())
							: "the connection ended");
}

/* SASLContinue: the client-final message, from the kept salted password
 * when the server's salt and count are the ones it was made with. */
static void sasl_continue(struct conn *c, struct client *cl, struct scram_state *s,
			  const unsigned char *body, size_t len)
{
	struct buf final, b;
	const char *why;

	if (!scram_parse_server_first(s, (const char *)body + 4, len - 4, &why))
		die("%s", why);
	if (!cl->salted_kept || cl->saltlen != s->saltlen || cl->iterations != s->iterations ||
	    memcmp(cl->salt, s->salt, (size_t)s->saltlen) != 0) {
		if (!scram_salted_password(s, opt.password, cl->salted))
			die("PBKDF2 failed");
		memcpy(cl->salt, s->salt, (size_t)s->saltlen);
		cl->saltlen = s->saltlen;
		cl->iterations = s->iterations;
		cl->salted_kept = true;
	}
	buf_init(&final);
	buf_init(&b);
	if (!scram_client_final_salted(s, cl->salted, &final))
		die("SCRAM client-final failed");
	pgmsg_sasl_response(&b, final.data, final.len);
	put(c, &b);
	buf_free(&final);
	buf_free(&b);
}

static void login(struct conn *c, struct client *cl)
{
	struct scram_state s;
	struct buf b;
	const unsigned char *body;
	size_t len;
	char nonce[32];
	const char *why;

	memset(&s, 0, sizeof(s));
	buf_init(&b);
	if (!pgmsg_startup(&b, opt.user, opt.db))
		die("bad user or database name");
	put(c, &b);
	for (;;) {
		char type = next(c, &body, &len);
		uint32_t code;

		if (type == 'E')
			server_error(body, len);
		if (type == 'Z')
			break;
		if (type != 'R')
			continue; /* ParameterStatus, BackendKeyData, notices */
		if (len < 4)
			die("a short authentication request");
		memcpy(&code, body, 4);
		switch (ntohl(code)) {
		case 0: /* AuthenticationOk */
			break;
		case 10: /* SASL */
			if (!pgmsg_sasl_offers_scram(body, len))
				die("the server offers no SCRAM-SHA-256");
			if (!scram_nonce(nonce, sizeof(nonce)))
				die("no random bytes for the SCRAM nonce");
			b.len = 0;
			{
				struct buf first;

				buf_init(&first);
				scram_client_first(&s, "", nonce, &first);
				pgmsg_sasl_initial(&b, "SCRAM-SHA-256", first.data, first.len);
				buf_free(&first);
			}
			put(c, &b);
			break;
		case 11: /* SASLContinue */
			sasl_continue(c, cl, &s, body, len);
			break;
		case 12: /* SASLFinal */
			if (!scram_verify_server_final(&s, (const char *)body + 4, len - 4, &why))
				die("%s", why);
			break;
		default:
			die("authentication request %u: only SCRAM-SHA-256 is done here",
			    ntohl(code));
		}
	}
	buf_free(&b);
}

static void open_conn(struct conn *c, struct client *cl)
{
	int one = 1;

	c->have = c->off = 0;
	c->ssl = NULL;
	c->fd = socket(opt.addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, opt.addr->ai_addr, opt.addr->ai_addrlen) != 0)
		die("connect: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* as libpq */
	if (opt.tls)
		tls_start(c);
	login(c, cl);
}

static void close_conn(struct conn *c)
{
	struct buf b;

	buf_init(&b);
	pgmsg_terminate(&b);
	put(c, &b);
	buf_free(&b);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
}

static void query(struct conn *c, struct client *cl)
{
	char sql[96];
	struct buf b;
	const unsigned char *body;
	size_t len;
	char type;
	int n = snprintf(sql, sizeof(sql), "SELECT abalance FROM pgbench_accounts WHERE aid = %d",
			 1 + (int)(rand_r(&cl->seed) % ACCOUNTS));
	uint32_t be = htonl((uint32_t)(4 + n + 1));

	buf_init(&b);
	buf_putc(&b, 'Q');
	buf_add(&b, (const char *)&be, 4);
	buf_add(&b, sql, (size_t)n + 1);
	put(c, &b);
	buf_free(&b);
	while ((type = next(c, &body, &len)) != 'Z')
		if (type == 'E')
			server_error(body, len);
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct conn *c = malloc(sizeof(*c));

	if (!c)
		die("out of memory");
	/* the first login, untimed: it connects (persistent) or keeps the
	 * salted password (-C) */
	open_conn(c, cl);
	if (opt.per_login)
		close_conn(c);
	pthread_barrier_wait(&opt.ready);
	pthread_barrier_wait(&opt.ready); /* main has set the end */
	while (!time_up()) {
		if (opt.per_login)
			open_conn(c, cl);
		query(c, cl);
		if (opt.per_login)
			close_conn(c);
		cl->done++;
	}
	if (!opt.per_login)
		close_conn(c);
	free(c);
	return NULL;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int number(const char *s, const char *what, int max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > max)
		die("%s: a number from 1 to %d, not %s", what, max, s);
	return (int)v;
}

int main(int argc, char **argv)
{
	static struct client cl[MAX_CLIENTS];
	const char *host = "127.0.0.1", *port = "5432";
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	double start, elapsed, cpu;
	long done = 0;
	int ch, err;

	opt.clients = 8;
	opt.seconds = 6;
	while ((ch = getopt(argc, argv, "h:p:U:d:c:T:Cs")) != -1) {
		switch (ch) {
		case 'h':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'U':
			opt.user = optarg;
			break;
		case 'd':
			opt.db = optarg;
			break;
		case 'c':
			opt.clients = number(optarg, "-c", MAX_CLIENTS);
			break;
		case 'T':
			opt.seconds = number(optarg, "-T", 3600);
			break;
		case 'C':
			opt.per_login = true;
			break;
		case 's':
			opt.tls = true;
			break;
		default:
			die("usage: loadgen -h HOST -p PORT -U USER -d DB -c CLIENTS -T SECONDS "
			    "[-C] [-s]");
		}
	}
	opt.password = getenv("PGPASSWORD");
	if (!opt.user || !opt.db || !opt.password)
		die("-U, -d and PGPASSWORD are needed");
	if ((err = getaddrinfo(host, port, &hints, &opt.addr)) != 0)
		die("%s:%s: %s", host, port, gai_strerror(err));
	signal(SIGPIPE, SIG_IGN);
	if (opt.tls) {
		opt.ctx = SSL_CTX_new(TLS_client_method());
		if (!opt.ctx)
			die("no TLS context");
		SSL_CTX_set_verify(opt.ctx, SSL_VERIFY_NONE, NULL); /* sslmode=require */
	}
	pthread_barrier_init(&opt.ready, NULL, (unsigned)opt.clients + 1);
	for (int i = 0; i < opt.clients; i++) {
		cl[i].seed = (unsigned)i * 2654435761u + 1;
		if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0)
			die("no thread");
	}
	pthread_barrier_wait(&opt.ready);
	cpu = cpu_seconds();
	start = now();
	clock_gettime(CLOCK_MONOTONIC, &opt.end);
	opt.end.tv_sec += opt.seconds;
	pthread_barrier_wait(&opt.ready);
	for (int i = 0; i < opt.clients; i++) {
		pthread_join(cl[i].thread, NULL);
		done += cl[i].done;
		OPENSSL_cleanse(cl[i].salted, sizeof(cl[i].salted));
	}
	elapsed = now() - start;
	cpu = cpu_seconds() - cpu;
	printf("transactions %ld\nseconds %.3f\ntps %.1f\ncpu_us_per_transaction %.1f\n", done,
	       elapsed, (double)done / elapsed, done ? cpu * 1e6 / (double)done : 0.0);
	return 0;
}
