/* A strict, minimal HTTP/1.x responder for `metrics`: GET and HEAD, one
 * response per connection (Connection: close), bounded request size and
 * time, several connections served by one poll() loop.  Hand-written
 * because what a Prometheus scrape needs is this small (see README). */
#ifndef PGBE_HTTPD_H
#define PGBE_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define HTTP_HEAD_MAX 8192 /* request line and headers together */
#define HTTP_LINE_MAX 2048 /* the request line alone */

struct http_request {
	char method[16];
	char path[HTTP_LINE_MAX]; /* without the query string */
	bool head;                /* HEAD: headers only */
};

/* Parse a complete request head of LEN bytes (through its blank line).
 * Returns 0 and fills R, or the status to answer: 400, 414, 505. */
int http_parse_head(const char *head, size_t len, struct http_request *r);

/* Bytes up to and including the blank line that ends a head in DATA, or 0
 * while it is incomplete. */
size_t http_head_end(const char *data, size_t len);

/* A whole response into OUT.  EXTRA: more header lines ("Allow: GET\r\n") or
 * NULL.  With HEAD, the body is counted but not sent. */
void http_response(struct buf *out, int status, const char *content_type, const char *extra,
		   const char *body, size_t body_len, bool head);

/* What the server calls for each well-formed request. */
typedef void (*http_handler)(const struct http_request *r, struct buf *out, void *arg);

/* "ADDR:PORT", ":PORT" (every address), "[V6]:PORT".  Returns a listening
 * socket, or -1 after logging; *RC is then EX_USAGE (bad spec) or EX_OSERR (bind).
 * FROM names the option or variable in messages. */
int http_listen(const char *spec, const char *from, int *rc);

/* Serve FD until SIGTERM or SIGINT (wait_install_signals): returns 0. */
int http_serve(int fd, http_handler handler, void *arg);

#endif
