#include "http/metrics_server.h"

#include <string.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/log.h"
#include "http/httpd.h"
#include "http/metrics.h"

struct server {
	const struct config *c;
	const char *dir;
	enum metrics_names names;
	int last_up; /* -1 before the first scrape */
};

static const char index_page[] =
	"<!DOCTYPE html>\n<html><head><title>pgbouncer-entrypoint metrics</title></head>\n"
	"<body><h1>pgbouncer-entrypoint metrics</h1>\n"
	"<p><a href=\"/metrics\">/metrics</a>: Prometheus metrics of the local pgbouncer</p>\n"
	"</body></html>\n";

/* Log when pgbouncer goes away or comes back, not at every scrape. */
static void note_up(struct server *s, bool up, const char *why)
{
	if (!up && s->last_up != 0)
		log_error("metrics: pgbouncer_up 0: %s", why);
	else if (up && s->last_up == 0)
		log_info("metrics: pgbouncer answers again");
	s->last_up = up;
}

static void text(struct buf *out, int status, const char *extra, const char *msg, bool head)
{
	http_response(out, status, "text/plain; charset=utf-8", extra, msg, strlen(msg), head);
}

/* Everything but a scrape, at once; false: a scrape, for a worker. */
static bool answer(const struct http_request *r, struct buf *out, void *arg)
{
	bool get = !strcmp(r->method, "GET") || r->head;
	bool is_metrics = !strcmp(r->path, "/metrics");

	(void)arg;
	if (!is_metrics && strcmp(r->path, "/") != 0)
		text(out, 404, NULL, "404 Not Found\n", r->head);
	else if (!get)
		text(out, 405, "Allow: GET, HEAD\r\n", "405 Method Not Allowed\n", r->head);
	else if (!is_metrics)
		http_response(out, 200, "text/html; charset=utf-8", NULL, index_page,
			      sizeof(index_page) - 1, r->head);
	return !is_metrics || !get;
}

/* In a worker: the scrape, with its own deadline.  The response follows a
 * note for done() in the server, which keeps the up/down state: "1" or "0"
 * and the reason, then a NUL. */
static void work(const struct http_request *r, struct buf *out, void *arg)
{
	struct server *s = arg;
	struct buf body, why;
	bool up;

	buf_init(&body);
	buf_init(&why);
	up = metrics_scrape(s->c, s->dir, s->names, &body, &why);
	buf_printf(out, "%d%s", up, buf_str(&why) ? buf_str(&why) : "out of memory");
	buf_putc(out, '\0');
	if (buf_str(&body))
		http_response(out, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, body.data,
			      body.len, r->head);
	else
		text(out, 500, NULL, "500 out of memory\n", r->head);
	buf_free(&body);
	buf_free(&why);
}

/* Back in the server: log a change of pgbouncer_up, drop the note. */
static void done(const struct http_request *r, struct buf *out, void *arg)
{
	const char *nul = out->len ? memchr(out->data, '\0', out->len) : NULL;
	size_t note;

	if (!nul || (out->data[0] != '0' && out->data[0] != '1')) {
		log_error("metrics: a scrape worker failed or outlived its %d ms", HTTPD_WORK_MS);
		out->len = 0;
		text(out, 503, NULL, "503 the scrape did not finish\n", r->head);
		return;
	}
	note_up(arg, out->data[0] == '1', out->data + 1);
	note = (size_t)(nul + 1 - out->data);
	memmove(out->data, nul + 1, out->len - note);
	out->len -= note;
}

int metrics_serve(const struct config *c, const char *dir, const char *listen,
		  enum metrics_names names)
{
	struct server s = {c, dir, names, -1};
	struct http_service svc = {answer, work, done, &s};
	int rc = 0, fd;

	fd = httpd_listen(listen, "--listen (PGBOUNCER_METRICS_LISTEN)", &rc);
	if (fd < 0)
		return rc;
	log_info("metrics: listening on %s for GET /metrics, with pgbouncer_exporter %s's names",
		 listen, metrics_names_words[names] + strlen("exporter-"));
	deadline_install_signals();
	return httpd_serve(fd, &svc);
}
