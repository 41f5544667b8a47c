#include "http/httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "http/http.h"

#define READ_MS 5000   /* the whole request head, from accept */
#define WRITE_MS 10000 /* the whole response */
#define LINGER_MS 1000 /* reading what the client still sends, after ours */
/* After accept() failed for want of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM) the listener stays readable: polling it again at once
 * would spin (issue 16), so it rests this long while connections end. */
#define PAUSE_MS 250
#define WARN_EVERY_MS 60000
/* stdin, stdout, stderr, the listener, the end of a new pipe that a worker
 * keeps, one to spare; then a socket and a worker's pipe per connection */
#define FDS_RESERVED 6
#define FDS_PER_CONN 2

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

int httpd_listen(const char *spec, const char *from, int *rc)
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

enum conn_state { C_FREE, C_READ, C_WORK, C_WRITE, C_LINGER };

struct conn {
	int fd;
	enum conn_state state;
	long long deadline;
	unsigned long long age; /* accept order: the smaller, the older */
	char in[HTTP_HEAD_MAX];
	size_t len;
	struct http_request req; /* parsed; C_WORK: what the worker answers */
	pid_t pid;               /* C_WORK: the worker */
	int pipe;                /* C_WORK: its answer comes through here */
	struct buf out;
	size_t sent;
};

struct server {
	int lfd;
	const struct http_service *svc;
	int max;                /* connection slots: HTTPD_MAX_CONNS or fewer */
	long long paused_until; /* accept() rests until then */
	long long next_warning;
	unsigned long long accepted;
	struct conn conns[HTTPD_MAX_CONNS];
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
	c->deadline = deadline_now() + WRITE_MS;
}

/* In the worker: first close everything of the server's (a client's socket
 * held here would keep that client from seeing its connection close), then
 * WORK's answer down the pipe, whole. */
static void worker(struct server *s, struct conn *c, int wfd)
{
	struct buf out;
	size_t off = 0;

	close(s->lfd);
	for (int i = 0; i < s->max; i++) {
		if (s->conns[i].state != C_FREE)
			close(s->conns[i].fd);
		if (s->conns[i].state == C_WORK)
			close(s->conns[i].pipe);
	}
	buf_init(&out);
	s->svc->work(&c->req, &out, s->svc->arg);
	while (!out.oom && off < out.len) {
		ssize_t n = write(wfd, out.data + off, out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		off += (size_t)n;
	}
	_exit(out.oom ? 1 : 0);
}

/* A worker per slow request, so one slow answer (a scrape of a frozen
 * pgbouncer) delays no other (issue 16); there are at most as many as
 * connection slots, and each is killed at HTTPD_WORK_MS. */
static void start_work(struct server *s, struct conn *c)
{
	int p[2], err;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == 0) {
		if ((pid = fork()) == 0) {
			close(p[0]);
			worker(s, c, p[1]);
		}
		err = errno;
		close(p[1]);
		if (pid > 0) {
			fcntl(p[0], F_SETFL, O_NONBLOCK);
			c->pid = pid;
			c->pipe = p[0];
			c->state = C_WORK;
			c->deadline = deadline_now() + HTTPD_WORK_MS;
			return;
		}
		close(p[0]);
		errno = err;
	}
	log_warn("could not start a worker for %s: %s", c->req.path, strerror(errno));
	http_error_response(&c->out, 503, c->req.head);
	start_write(c);
}

/* Reap C's worker (killed first unless it has finished): its exit status. */
static int end_worker(struct conn *c, bool kill_it)
{
	int status = 0;

	if (kill_it)
		kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	close(c->pipe);
	return status;
}

/* The worker's answer is all in (COMPLETE: it closed the pipe), or its time
 * is up: DONE finishes the response. */
static void end_work(struct server *s, struct conn *c, bool complete)
{
	int status = end_worker(c, !complete);

	if (!complete || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || c->out.oom) {
		buf_free(&c->out); /* a partial answer is no answer */
		buf_init(&c->out);
	}
	s->svc->done(&c->req, &c->out, s->svc->arg);
	start_write(c);
}

static void on_work(struct server *s, struct conn *c)
{
	char chunk[16384];
	ssize_t n = read(c->pipe, chunk, sizeof(chunk));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		buf_add(&c->out, chunk, (size_t)n);
	else
		end_work(s, c, n == 0);
}

/* The whole head is in: answer it, at once or in a worker. */
static void respond(struct server *s, struct conn *c, size_t head_len)
{
	int status = http_parse_head(c->in, head_len, &c->req);

	if (status) {
		http_error_response(&c->out, status, false);
	} else if (!s->svc->answer(&c->req, &c->out, s->svc->arg)) {
		start_work(s, c);
		return;
	}
	start_write(c);
}

static void on_readable(struct server *s, struct conn *c)
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
		respond(s, c, end);
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
		c->deadline = deadline_now() + LINGER_MS;
	}
}

static void on_linger(struct conn *c)
{
	char sink[4096];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

static void on_event(struct server *s, struct conn *c)
{
	if (c->state == C_READ)
		on_readable(s, c);
	else if (c->state == C_WORK)
		on_work(s, c);
	else if (c->state == C_WRITE)
		on_writable(c);
	else if (c->state == C_LINGER)
		on_linger(c);
}

static void on_deadline(struct server *s, struct conn *c)
{
	if (c->state == C_WORK) {
		end_work(s, c, false);
	} else if (c->state == C_READ && c->len > 0) {
		http_error_response(&c->out, 408, false);
		start_write(c);
	} else {
		conn_close(c);
	}
}

/* How readily C gives its slot to a new connection, the smallest first:
 * free, answered (lingering), nothing received, part of a request; -1 never:
 * its request is whole and being answered (issue 16: a burst of connections
 * that send nothing cost scrapes whose request had arrived). */
static int give_way(const struct conn *c)
{
	switch (c->state) {
	case C_FREE:
		return 0;
	case C_LINGER:
		return 1;
	case C_READ:
		return c->len ? 3 : 2;
	default:
		return -1;
	}
}

/* The slot for a new connection, the oldest of those that give way most
 * readily; NULL when every slot has a request being answered (then new
 * clients wait in the backlog). */
static struct conn *slot_for_new(struct server *s)
{
	struct conn *best = NULL;
	int best_rank = -1;

	for (int i = 0; i < s->max; i++) {
		struct conn *c = &s->conns[i];
		int r = give_way(c);
		if (r >= 0 && (!best || r < best_rank || (r == best_rank && c->age < best->age))) {
			best = c;
			best_rank = r;
		}
	}
	return best;
}

/* Read what the clients have sent since the last poll: a request that has
 * arrived is answered, not evicted. */
static void catch_up(struct server *s)
{
	for (int i = 0; i < s->max; i++)
		if (s->conns[i].state == C_READ)
			on_readable(s, &s->conns[i]);
}

static void pause_accepting(struct server *s)
{
	long long now = deadline_now();

	if (now >= s->next_warning) {
		log_warn("could not accept a connection: %s (accepting again in %d ms)",
			 strerror(errno), PAUSE_MS);
		s->next_warning = now + WARN_EVERY_MS;
	}
	s->paused_until = now + PAUSE_MS;
}

static void on_accept(struct server *s)
{
	struct conn *c;
	int fd;

	while ((c = slot_for_new(s))) {
		if (c->state != C_FREE) {
			catch_up(s);
			if (!(c = slot_for_new(s)))
				return;
		}
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == ECONNABORTED || errno == EINTR))
			continue;
		if (fd < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			pause_accepting(s);
		if (fd < 0)
			return;
		if (c->state != C_FREE)
			conn_close(c);
		c->fd = fd;
		c->state = C_READ;
		c->len = 0;
		c->age = ++s->accepted;
		c->deadline = deadline_now() + READ_MS;
		buf_init(&c->out);
	}
}

/* One round of poll(): what each connection waits for, until the nearest
 * deadline.  The listener only while a slot can take a new connection and
 * accept() is not resting. */
static int poll_round(struct server *s, struct pollfd *pfd, int *idx)
{
	long long now = deadline_now(), next = now + 60000;
	bool resting = now < s->paused_until;
	int n = 0;

	if (resting)
		next = s->paused_until;
	pfd[n++] = (struct pollfd){!resting && slot_for_new(s) ? s->lfd : -1, POLLIN, 0};
	for (int i = 0; i < s->max; i++) {
		const struct conn *c = &s->conns[i];
		if (c->state == C_FREE)
			continue;
		if (c->deadline < next)
			next = c->deadline;
		idx[n] = i;
		pfd[n++] = (struct pollfd){c->state == C_WORK ? c->pipe : c->fd,
					   c->state == C_WRITE ? POLLOUT : POLLIN, 0};
	}
	return poll(pfd, (nfds_t)n, next > now ? (int)(next - now) : 0) < 0 ? -1 : n;
}

/* Each connection may hold two descriptors: with a low RLIMIT_NOFILE, fewer
 * slots, so that neither accept() nor a worker's pipe() runs out while
 * clients that send nothing hold the rest. */
static int conn_budget(void)
{
	struct rlimit rl;
	rlim_t need = FDS_RESERVED + FDS_PER_CONN * HTTPD_MAX_CONNS, n = 1;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return HTTPD_MAX_CONNS;
	if (rl.rlim_cur > FDS_RESERVED + FDS_PER_CONN)
		n = (rl.rlim_cur - FDS_RESERVED) / FDS_PER_CONN;
	log_warn("RLIMIT_NOFILE is %llu: serving %d connections at once, not %d",
		 (unsigned long long)rl.rlim_cur, (int)n, HTTPD_MAX_CONNS);
	return (int)n;
}

int httpd_serve(int lfd, const struct http_service *svc)
{
	static struct server s;
	struct pollfd pfd[HTTPD_MAX_CONNS + 1];
	int idx[HTTPD_MAX_CONNS + 1], n;

	s.lfd = lfd;
	s.svc = svc;
	s.max = conn_budget();
	while (!deadline_stop_signal) {
		if ((n = poll_round(&s, pfd, idx)) < 0)
			continue; /* EINTR: the loop condition sees a signal */
		for (int k = 1; k < n && !deadline_stop_signal; k++) {
			struct conn *c = &s.conns[idx[k]];
			if (pfd[k].revents)
				on_event(&s, c);
			if (c->state != C_FREE && deadline_now() >= c->deadline)
				on_deadline(&s, c);
		}
		if (pfd[0].revents && !deadline_stop_signal)
			on_accept(&s);
	}
	for (int i = 0; i < s.max; i++) {
		if (s.conns[i].state == C_WORK)
			end_worker(&s.conns[i], true);
		if (s.conns[i].state != C_FREE)
			conn_close(&s.conns[i]);
	}
	close(lfd);
	return EX_OK;
}
