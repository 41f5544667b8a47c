#include "httpd.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deadline.h"
#include "exitcodes.h"
#include "http.h"
#include "log.h"

#define MAX_CONNS 16
#define READ_MS 5000   /* the whole request head, from accept */
#define WRITE_MS 10000 /* the whole response */
#define LINGER_MS 1000 /* reading what the client still sends, after ours */

/* ---- listening ---- */

static int bind_one(const struct addrinfo *a)
{
	int one = 1, fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->ai_family == AF_INET6) {
		/* ":9127" means every address, v4 too, on one socket */
		int v6only = 0;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0)
		return fd;
	close(fd);
	return -1;
}

/* A listening socket on HOST (NULL: every address) of FAMILY, or -1. */
static int listen_on(const char *host, const char *port, int family, int *err)
{
	struct addrinfo hints, *res = NULL;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((*err = getaddrinfo(host, port, &hints, &res)))
		return -1;
	for (const struct addrinfo *a = res; a && fd < 0; a = a->ai_next)
		fd = bind_one(a);
	freeaddrinfo(res);
	return fd;
}

int http_listen(const char *spec, const char *from, int *rc)
{
	char host[256], port[8];
	int fd, err;
	bool any;

	if (http_listen_spec(spec, host, sizeof(host), port, sizeof(port))) {
		log_error("%s must be ADDR:PORT, :PORT or [IPV6]:PORT with a port 1-65535 and no "
			  "spaces, got \"%s\"",
			  from, spec);
		*rc = EX_USAGE;
		return -1;
	}
	any = !host[0] || !strcmp(host, "*");
	/* every address: IPv6 with v4 mapped, or IPv4 where the kernel has no IPv6 */
	fd = listen_on(any ? NULL : host, port, any ? AF_INET6 : AF_UNSPEC, &err);
	if (fd < 0 && any)
		fd = listen_on(NULL, port, AF_INET, &err);
	if (fd < 0 && err) {
		log_error("%s: could not resolve \"%s\": %s", from, spec, gai_strerror(err));
		*rc = EX_USAGE;
	} else if (fd < 0) {
		log_error("could not listen on \"%s\" (%s): %s", spec, from, strerror(errno));
		*rc = EX_OSERR;
	}
	return fd;
}

/* ---- serving ---- */

enum conn_state { C_FREE, C_READ, C_WRITE, C_LINGER };

struct conn {
	int fd;
	enum conn_state state;
	long long deadline;
	unsigned long long age; /* accept order: the smaller, the older */
	char in[HTTP_HEAD_MAX];
	size_t len;
	struct buf out;
	size_t sent;
};

static void conn_close(struct conn *c)
{
	close(c->fd);
	buf_free(&c->out);
	c->state = C_FREE;
}

static void start_write(struct conn *c)
{
	if (c->out.oom || !c->out.len) {
		conn_close(c); /* no memory for an answer: the client sees a close */
		return;
	}
	c->state = C_WRITE;
	c->sent = 0;
	c->deadline = now_ms() + WRITE_MS;
}

/* The whole head is in: answer it. */
static void respond(struct conn *c, size_t head_len, http_handler handler, void *arg)
{
	struct http_request r;
	int status = http_parse_head(c->in, head_len, &r);

	if (status)
		http_error_response(&c->out, status, false);
	else
		handler(&r, &c->out, arg);
	start_write(c);
}

static void on_readable(struct conn *c, http_handler handler, void *arg)
{
	ssize_t n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
	size_t end;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c); /* the client went away before asking */
		return;
	}
	c->len += (size_t)n;
	if ((end = http_head_end(c->in, c->len))) {
		respond(c, end, handler, arg);
	} else if (c->len == sizeof(c->in)) {
		/* too long: the request line itself, or the headers after it */
		bool line_done = memchr(c->in, '\n', c->len) != NULL;
		http_error_response(&c->out, line_done ? 431 : 414, false);
		start_write(c);
	}
}

static void on_writable(struct conn *c)
{
	ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == c->out.len) {
		/* Closing with unread request bytes would reset the connection and
		 * could destroy the response in flight: half-close, then read
		 * until the client closes (bounded). */
		shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		c->deadline = now_ms() + LINGER_MS;
	}
}

static void on_linger(struct conn *c)
{
	char sink[4096];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

static void on_deadline(struct conn *c)
{
	if (c->state == C_READ && c->len > 0) {
		http_error_response(&c->out, 408, false);
		start_write(c);
		return;
	}
	conn_close(c);
}

/* A free slot; when all are taken, the slot of the oldest client that has
 * not had its answer yet (a slow or idle client must not lock scrapes out);
 * NULL when every slot is busy answering. */
static struct conn *free_slot(struct conn *conns, bool evict)
{
	struct conn *oldest = NULL;

	for (int i = 0; i < MAX_CONNS; i++) {
		if (conns[i].state == C_FREE)
			return &conns[i];
		if (conns[i].state != C_WRITE && (!oldest || conns[i].age < oldest->age))
			oldest = &conns[i];
	}
	if (oldest && evict)
		conn_close(oldest);
	return oldest;
}

static void on_accept(int lfd, struct conn *conns)
{
	static unsigned long long accepted;
	struct conn *c;
	int fd;

	/* when every slot is answering, new clients wait in the backlog */
	while (free_slot(conns, false) &&
	       (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		c = free_slot(conns, true);
		c->fd = fd;
		c->state = C_READ;
		c->len = 0;
		c->age = ++accepted;
		c->deadline = now_ms() + READ_MS;
		buf_init(&c->out);
	}
}

/* One round of poll(): what each connection waits for, until the nearest
 * deadline. */
static int poll_round(int lfd, struct conn *conns, struct pollfd *pfd, int *idx)
{
	long long now = now_ms(), next = now + 60000;
	int n = 0;

	pfd[n++] = (struct pollfd){lfd, POLLIN, 0};
	for (int i = 0; i < MAX_CONNS; i++) {
		if (conns[i].state == C_FREE)
			continue;
		if (conns[i].deadline < next)
			next = conns[i].deadline;
		idx[n] = i;
		pfd[n++] = (struct pollfd){conns[i].fd,
					   conns[i].state == C_WRITE ? POLLOUT : POLLIN, 0};
	}
	return poll(pfd, (nfds_t)n, next > now ? (int)(next - now) : 0) < 0 ? -1 : n;
}

int http_serve(int lfd, http_handler handler, void *arg)
{
	static struct conn conns[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS + 1];
	int idx[MAX_CONNS + 1], n;

	while (!wait_stop_signal) {
		if ((n = poll_round(lfd, conns, pfd, idx)) < 0)
			continue; /* EINTR: the loop condition sees a signal */
		for (int k = 1; k < n && !wait_stop_signal; k++) {
			struct conn *c = &conns[idx[k]];
			short ev = pfd[k].revents;
			if (ev && c->state == C_READ)
				on_readable(c, handler, arg);
			else if (ev && c->state == C_WRITE)
				on_writable(c);
			else if (ev && c->state == C_LINGER)
				on_linger(c);
			if (c->state != C_FREE && now_ms() >= c->deadline)
				on_deadline(c);
		}
		if (pfd[0].revents && !wait_stop_signal)
			on_accept(lfd, conns);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].state != C_FREE)
			conn_close(&conns[i]);
	close(lfd);
	return EX_OK;
}
