/* One writer of a config directory at a time: run, init, render, reload and
 * the reloads of watch hold an flock on the directory itself from before
 * they read what is there until pgbouncer has the new files, so two of them
 * never interleave their render, swap and RELOAD (nor one's clean-up remove
 * the other's generation). */
#ifndef PGBE_DIRLOCK_H
#define PGBE_DIRLOCK_H

/* Lock directory DIR, waiting until DEADLINE (deadline_now() clock) or a stop
 * signal (install them first) for a writer that holds it.  Returns EX_OK and
 * *FD (the lock lives as long as FD is open; it is O_CLOEXEC, so an exec'd
 * pgbouncer never holds it), or a status after logging. */
int dirlock_take(const char *dir, long long deadline, int *fd);

/* Let the next writer in (-1: nothing held). */
void dirlock_release(int fd);

#endif
