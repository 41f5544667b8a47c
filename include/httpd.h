/* A strict, minimal HTTP/1.x responder for `metrics`: GET and HEAD, one
 * response per connection (Connection: close), bounded request size and
 * time, several connections served by one poll() loop.  Hand-written
 * because what a Prometheus scrape needs is this small (see README). */
#ifndef PGBE_HTTPD_H
#define PGBE_HTTPD_H

#include "http.h"

/* What the server calls for each well-formed request. */
typedef void (*http_handler)(const struct http_request *r, struct buf *out, void *arg);

/* "ADDR:PORT", ":PORT" (every address), "[V6]:PORT".  Returns a listening
 * socket, or -1 after logging; *RC is then EX_USAGE (bad spec) or EX_OSERR (bind).
 * FROM names the option or variable in messages. */
int http_listen(const char *spec, const char *from, int *rc);

/* Serve FD until SIGTERM or SIGINT (wait_install_signals): returns EX_OK. */
int http_serve(int fd, http_handler handler, void *arg);

#endif
