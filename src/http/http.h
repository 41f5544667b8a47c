/* HTTP/1.x requests and responses for `metrics`, as pure functions: the
 * strict request-head parser, the response builder and the listen address
 * (the poll() loop that uses them is httpd). */
#ifndef PGBE_HTTP_H
#define PGBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

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

/* A short text/plain answer for an error STATUS. */
void http_error_response(struct buf *out, int status, bool head);

/* "ADDR:PORT", ":PORT" (every address; "*:PORT" too) or "[V6]:PORT" into
 * HOST (without brackets; "" for every address) and PORT (digits).  0, or -1
 * when SPEC is none of these: no spaces anywhere, the port only digits,
 * 1-65535. */
int http_listen_spec(const char *spec, char *host, size_t hsize, char *port, size_t psize);

#endif
