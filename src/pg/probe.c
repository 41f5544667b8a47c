#include "pg/probe.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/deadline.h"

bool probe_socket(const char *dir, const char *port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	ok = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%s", dir, port) <
		     (int)sizeof(sa.sun_path) &&
	     fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

bool probe_tcp(const char *addr, const char *port, long long until)
{
	struct addrinfo hints, *a = NULL;
	bool ok = false;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(addr, port, &hints, &a) != 0)
		return false;
	fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
		ok = true;
	} else if (fd >= 0 && errno == EINPROGRESS) {
		struct pollfd pfd = {fd, POLLOUT, 0};
		int err = 0;
		socklen_t len = sizeof(err);
		ok = deadline_poll(&pfd, 1, until) == DEADLINE_READY &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(a);
	return ok;
}

bool probe_is_own_address(const char *addr)
{
	struct addrinfo hints, *a = NULL;
	bool own = false;
	int fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(addr, "0", &hints, &a) != 0)
		return false;
	fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	own = fd >= 0 && bind(fd, a->ai_addr, a->ai_addrlen) == 0;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(a);
	return own;
}
