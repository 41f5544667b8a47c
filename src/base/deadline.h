/* One monotonic deadline and the stop signals: every blocking step of the
 * wait (and of the version probe) polls in short slices, so it ends at the
 * deadline or soon after SIGTERM/SIGINT, whichever comes first. */
#ifndef PGBE_DEADLINE_H
#define PGBE_DEADLINE_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Set by the SIGTERM/SIGINT handler that deadline_install_signals installs. */
extern volatile sig_atomic_t deadline_stop_signal;

/* Handlers without SA_RESTART, so a blocking poll() returns at once: as PID 1
 * in a container, nothing else would end the wait (scratch-gotchas 1). */
void deadline_install_signals(void);
void deadline_restore_signals(void);

/* Milliseconds on CLOCK_MONOTONIC. */
long long deadline_now(void);

/* The earlier of two deadlines. */
long long deadline_min(long long a, long long b);

enum deadline_result {
	DEADLINE_READY, /* an event (or, for a child, its whole output) */
	DEADLINE_PASSED,
	DEADLINE_STOPPED, /* a stop signal arrived */
};

/* poll() FDS until one has an event, DEADLINE passes or a stop signal
 * arrives. */
enum deadline_result deadline_poll(struct pollfd *fds, nfds_t n, long long deadline);

/* Sleep until DEADLINE or a stop signal. */
enum deadline_result deadline_sleep(long long deadline);

/* Read child PID's output from FD into OUT (at most CAP - 1 bytes, NUL
 * terminated, *LEN set) until it closes FD, DEADLINE passes or a stop signal
 * arrives; then kill the child's process group and reap it.  Closes FD. */
enum deadline_result deadline_read_child(pid_t pid, int fd, char *out, size_t cap, size_t *len,
					 long long deadline);

#endif
