#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

size_t http_head_end(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		/* a bare LF ends a line too (RFC 9112 2.2) */
		if (i + 1 < len && data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Next line of HEAD from *P (CRLF or LF), without its ending; NULL at the end. */
static const char *next_line(const char **p, const char *end, size_t *n)
{
	const char *s = *p, *lf;

	if (s >= end)
		return NULL;
	lf = memchr(s, '\n', (size_t)(end - s));
	if (!lf)
		return NULL;
	*n = (size_t)(lf - s);
	if (*n && s[*n - 1] == '\r')
		(*n)--;
	*p = lf + 1;
	return s;
}

/* "HTTP/1.1": 0; another HTTP/d.d: 505; anything else: 400. */
static int check_version(const char *v, size_t n)
{
	if (n != 8 || strncmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return 400;
	return v[5] == '1' ? 0 : 505;
}

/* origin-form "/p?q", or absolute-form "http://host/p?q" (RFC 9112 3.2). */
static int parse_target(const char *t, size_t n, struct http_request *r)
{
	size_t i = 0, plen;

	if (n > 7 && !strncasecmp(t, "http://", 7)) {
		for (i = 7; i < n && t[i] != '/' && t[i] != '?'; i++)
			;
		if (i == n || t[i] == '?') {
			strcpy(r->path, "/");
			return 0;
		}
	}
	if (i >= n || t[i] != '/')
		return 400;
	for (plen = 0; i + plen < n && t[i + plen] != '?' && t[i + plen] != '#'; plen++)
		;
	memcpy(r->path, t + i, plen);
	r->path[plen] = '\0';
	return 0;
}

static int parse_request_line(const char *s, size_t n, struct http_request *r, bool *v11)
{
	const char *sp1 = memchr(s, ' ', n), *sp2, *end = s + n;
	size_t mlen;
	int rc;

	if (n > HTTP_LINE_MAX)
		return 414;
	if (!sp1 || !(sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1))))
		return 400;
	mlen = (size_t)(sp1 - s);
	if (mlen == 0 || mlen >= sizeof(r->method) || sp2 == sp1 + 1)
		return 400;
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(s[i]))
			return 400;
	for (const char *t = sp1 + 1; t < sp2; t++)
		if (*t <= ' ' || *t == 127)
			return 400;
	if ((rc = check_version(sp2 + 1, (size_t)(end - sp2 - 1))))
		return rc;
	memcpy(r->method, s, mlen);
	r->method[mlen] = '\0';
	r->head = !strcmp(r->method, "HEAD");
	*v11 = sp2[8] == '1';
	return parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), r);
}

/* "Name: value": a token, a colon with no space before it, visible text. */
static int check_header(const char *s, size_t n, int *hosts)
{
	size_t i = 0;

	while (i < n && is_tchar(s[i]))
		i++;
	if (i == 0 || i == n || s[i] != ':')
		return 400;
	for (size_t j = i + 1; j < n; j++)
		if (((unsigned char)s[j] < ' ' && s[j] != '\t') || s[j] == 127)
			return 400;
	if (i == 4 && !strncasecmp(s, "host", 4))
		(*hosts)++;
	return 0;
}

int http_parse_head(const char *head, size_t len, struct http_request *r)
{
	const char *p = head, *end = head + len, *line;
	size_t n;
	int rc, hosts = 0;
	bool v11 = false;

	memset(r, 0, sizeof(*r));
	if (memchr(head, '\0', len))
		return 400;
	if (!(line = next_line(&p, end, &n)) || (rc = parse_request_line(line, n, r, &v11)))
		return line ? rc : 400;
	while ((line = next_line(&p, end, &n)) && n > 0)
		if ((rc = check_header(line, n, &hosts)))
			return rc;
	/* HTTP/1.1 requires exactly one Host (RFC 9112 3.2) */
	if (hosts > 1 || (v11 && hosts == 0))
		return 400;
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

void http_response(struct buf *out, int status, const char *content_type, const char *extra,
		   const char *body, size_t body_len, bool head)
{
	buf_printf(out,
		   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		   "Connection: close\r\nCache-Control: no-store\r\n%s\r\n",
		   status, reason(status), content_type, body_len, extra ? extra : "");
	if (!head)
		buf_add(out, body, body_len);
}

void http_error_response(struct buf *out, int status, bool head)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));

	http_response(out, status, "text/plain; charset=utf-8", NULL, body, (size_t)n, head);
}

/* Strict, like every number this program reads: strtol alone would take
 * ": 9127" and ":+9127" (issue 16). */
static bool port_digits(const char *p, char *port, size_t psize)
{
	size_t n = strspn(p, "0123456789");
	long v;

	if (n == 0 || n > 5 || p[n] != '\0')
		return false;
	v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return false;
	snprintf(port, psize, "%ld", v);
	return true;
}

int http_listen_spec(const char *spec, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon = strrchr(spec, ':');
	size_t hlen;

	if (!colon)
		return -1;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	} else if (memchr(spec, ':', hlen)) {
		return -1; /* an IPv6 address needs brackets */
	}
	if (hlen >= hsize || !port_digits(colon + 1, port, psize))
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)spec[i] <= ' ' || spec[i] == 127 || spec[i] == '[' ||
		    spec[i] == ']')
			return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	return 0;
}
