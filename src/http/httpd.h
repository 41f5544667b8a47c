/* A strict, minimal HTTP/1.x responder for `metrics`: GET and HEAD, one
 * response per connection (Connection: close), bounded request size and
 * time, a bounded number of connections served by one poll() loop.  A slow
 * answer (a scrape) runs in a worker process of its own, so it delays no
 * other request (issue 16).  Hand-written because what a Prometheus scrape
 * needs is this small (see README). */
#ifndef PGBE_HTTPD_H
#define PGBE_HTTPD_H

#include <stdbool.h>

#include "http/http.h"

/* What the server does with each well-formed request.  ANSWER fills OUT at
 * once, or returns false when the answer is slow work: WORK then runs in a
 * forked worker and fills OUT there, and DONE gets those bytes back in the
 * server (empty when the worker died or ran out of time) to log and finish
 * the response before it is sent. */
struct http_service {
	bool (*answer)(const struct http_request *r, struct buf *out, void *arg);
	void (*work)(const struct http_request *r, struct buf *out, void *arg);
	void (*done)(const struct http_request *r, struct buf *out, void *arg);
	void *arg;
};

/* Connections at once, and so workers at once; fewer when RLIMIT_NOFILE is
 * too low for this many (each takes two descriptors). */
#define HTTPD_MAX_CONNS 16

/* The longest a worker may take; then it is killed and DONE gets nothing. */
#define HTTPD_WORK_MS 5000

/* "ADDR:PORT", ":PORT" (every address), "[V6]:PORT".  Returns a listening
 * socket, or -1 after logging; *RC is then EX_USAGE (bad spec) or EX_OSERR (bind).
 * FROM names the option or variable in messages. */
int httpd_listen(const char *spec, const char *from, int *rc);

/* Serve FD until SIGTERM or SIGINT (deadline_install_signals): returns EX_OK. */
int httpd_serve(int fd, const struct http_service *svc);

#endif
