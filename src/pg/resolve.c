#include "pg/resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"

/* One line per address, or "!" and getaddrinfo's error; FLAGS 0 or
 * AI_NUMERICHOST. */
static int lookup(const char *host, int flags, char *out, size_t cap)
{
	struct addrinfo hints, *res = NULL;
	size_t len = 0;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(out, cap, "!%s", gai_strerror(rc));
		return rc;
	}
	out[0] = '\0';
	for (struct addrinfo *a = res; a && len + INET6_ADDRSTRLEN + 1 < cap; a = a->ai_next) {
		const void *ip =
			a->ai_family == AF_INET
				? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
		    !inet_ntop(a->ai_family, ip, out + len, (socklen_t)(cap - len)))
			continue;
		len += strlen(out + len);
		out[len++] = '\n';
		out[len] = '\0';
	}
	freeaddrinfo(res);
	return 0;
}

/* The lookup in a child: the parent can stop waiting for it at any time. */
static int lookup_in_child(const char *host, long long deadline, char *out, size_t cap,
			   struct buf *why)
{
	int fds[2];
	size_t len;
	pid_t pid;
	enum deadline_result r;

	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		buf_printf(why, "could not start a name lookup for \"%s\": out of resources", host);
		return EX_OSERR;
	}
	if (pid == 0) {
		setpgid(0, 0);
		close(fds[0]);
		lookup(host, 0, out, cap);
		if (write(fds[1], out, strlen(out)) < 0)
			_exit(1);
		_exit(0);
	}
	setpgid(pid, pid);
	close(fds[1]);
	r = deadline_read_child(pid, fds[0], out, cap, &len, deadline);
	if (r == DEADLINE_STOPPED)
		return EX_SIGNAL_BASE + deadline_stop_signal;
	if (r == DEADLINE_PASSED) {
		buf_printf(why,
			   "could not translate host name \"%s\" to address: no answer from "
			   "the name server in time",
			   host);
		return EX_UNAVAILABLE;
	}
	return EX_OK;
}

static int parse_lines(const char *host, const char *text, struct addrs *out, struct buf *why)
{
	out->n = 0;
	if (text[0] == '!' || text[0] == '\0') {
		buf_printf(why, "could not translate host name \"%s\" to address: %s", host,
			   text[0] ? text + 1 : "no answer from the name lookup");
		return EX_UNAVAILABLE;
	}
	for (const char *p = text; *p && out->n < RESOLVE_MAX;) {
		size_t n = strcspn(p, "\n");
		if (n && n < sizeof(out->addr[0]))
			snprintf(out->addr[out->n++], sizeof(out->addr[0]), "%.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
	return EX_OK;
}

int resolve_host(const char *host, long long deadline, struct addrs *out, struct buf *why)
{
	char text[RESOLVE_MAX * (INET6_ADDRSTRLEN + 1) + 256];
	int rc;

	/* a numeric address needs no name server: no child */
	if (lookup(host, AI_NUMERICHOST, text, sizeof(text)) != 0 &&
	    (rc = lookup_in_child(host, deadline, text, sizeof(text), why)) != EX_OK)
		return rc;
	return parse_lines(host, text, out, why);
}
