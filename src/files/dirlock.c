#include "files/dirlock.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "files/safefile.h"

/* flock has no timeout of its own: try, then sleep a slice */
#define RETRY_MS 20

static int take(const char *dir, long long start, long long deadline, int fd)
{
	bool said = false;

	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			/* a file system without flock: no worse than before */
			log_warn("could not lock '%s' (%s): not waiting for other writers", dir,
				 strerror(errno));
			return EX_OK;
		}
		if (!said) {
			log_info("another pgbouncer-entrypoint is writing '%s' (run, init, render, "
				 "reload or watch): waiting for it",
				 dir);
			said = true;
		}
		if (deadline_sleep(deadline_min(deadline_now() + RETRY_MS, deadline)) ==
			    DEADLINE_STOPPED ||
		    deadline_stop_signal) {
			log_info("received signal %d while waiting to write '%s'; stopping",
				 (int)deadline_stop_signal, dir);
			return EX_SIGNAL_BASE + deadline_stop_signal;
		}
		if (deadline_now() >= deadline) {
			log_error(
				"another pgbouncer-entrypoint still writes '%s' after %.1f s: nothing "
				"was changed; run this again when it is done (the time limit is "
				"--wait-timeout / PGBOUNCER_WAIT_TIMEOUT)",
				dir, (deadline_now() - start) / 1000.0);
			return EX_CANTCREAT;
		}
	}
	return EX_OK;
}

int dirlock_take(const char *dir, long long deadline, int *fd)
{
	long long start = deadline_now();
	int rc;

	/* the directory as safefile opens it: no link the run user planted is
	 * followed.  Missing or unreadable: the write that follows says why */
	if (safefile_open_dir(dir, false, NULL, fd) != 0) {
		*fd = -1;
		return EX_OK;
	}
	deadline_install_signals();
	rc = take(dir, start, deadline, *fd);
	deadline_restore_signals();
	if (rc != EX_OK) {
		dirlock_release(*fd);
		*fd = -1;
	}
	return rc;
}

void dirlock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
