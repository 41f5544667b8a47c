#include "base/deadline.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Upper bound of one poll(), so a signal that lands just before a poll()
 * (the handler ran, poll has not started) still ends the wait quickly. */
#define STEP_MS 20

volatile sig_atomic_t deadline_stop_signal;

static void on_signal(int sig)
{
	deadline_stop_signal = sig;
}

void deadline_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

void deadline_restore_signals(void)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
}

long long deadline_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long deadline_min(long long a, long long b)
{
	return a < b ? a : b;
}

enum deadline_result deadline_poll(struct pollfd *fds, nfds_t n, long long deadline)
{
	for (;;) {
		long long left = deadline - deadline_now();
		int r;
		if (deadline_stop_signal)
			return DEADLINE_STOPPED;
		if (left <= 0)
			return DEADLINE_PASSED;
		r = poll(fds, n, left < STEP_MS ? (int)left : STEP_MS);
		if (deadline_stop_signal)
			return DEADLINE_STOPPED;
		if (r > 0)
			return DEADLINE_READY;
	}
}

enum deadline_result deadline_sleep(long long deadline)
{
	enum deadline_result r = deadline_poll(NULL, 0, deadline);

	return r == DEADLINE_READY ? DEADLINE_PASSED : r;
}

static void end_child(pid_t pid)
{
	/* the group too: a wrapper script's own children hold the pipe */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

enum deadline_result deadline_read_child(pid_t pid, int fd, char *out, size_t cap, size_t *len,
					 long long deadline)
{
	enum deadline_result r = DEADLINE_READY;
	ssize_t got = 1;

	*len = 0;
	while (got > 0 && *len + 1 < cap) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if ((r = deadline_poll(&pfd, 1, deadline)) != DEADLINE_READY)
			break;
		got = read(fd, out + *len, cap - 1 - *len);
		if (got < 0 && errno == EINTR)
			got = 1;
		else if (got > 0)
			*len += (size_t)got;
	}
	out[*len] = '\0';
	close(fd);
	end_child(pid);
	return r;
}
