/* The privilege boundary for files (issue 8, items 1, 2 and 6).  Started as
 * root, this program reads templates, supplied files and _FILE secrets, and
 * creates the config directory, often below a directory the run user can
 * write (the images' /etc/pgbouncer is group-writable by design).  Every such
 * path is walked one component at a time on descriptors:
 *  - a symbolic link is followed only when it sits in a directory the run
 *    user cannot write (a read-only mount such as a Kubernetes ConfigMap or
 *    Secret volume, whose files are links into a root-owned ..data, or a
 *    root-owned directory); in a directory the run user can write, root
 *    would be following the run user's link, so it is refused;
 *  - only regular files are opened for reading, never blocking, and at most
 *    FILE_MAX_BYTES are read (a FIFO, /dev/zero or a growing file is refused:
 *    what is read must be the size the file had when it was opened);
 *  - a file reached through a directory the run user can write must be one
 *    the run user could read itself (else it may be a hard link to a
 *    root-only file).
 * Without a run user (not root) there is no boundary to keep: links are
 * followed, the type and size rules still hold. */
#ifndef PGBE_SAFEFILE_H
#define PGBE_SAFEFILE_H

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/runas.h"

/* Documented in README ("Files"): a template, a supplied userlist or a
 * _FILE secret larger than this is refused. */
#define FILE_MAX_BYTES (1024 * 1024)

/* Status values beyond errno's range, for safefile_strerror. */
enum {
	SF_ELINK = 100000, /* symlink in a directory the run user can write */
	SF_ENOTREG,        /* not a regular file */
	SF_ETOOBIG,        /* larger than FILE_MAX_BYTES, or growing */
	SF_EHIDDEN,        /* in a writable directory, unreadable by the run user */
	SF_ENOTDIR,        /* not a directory */
	SF_ERACE,          /* changed while it was being opened */
	SF_EGREW,          /* read more or less than its size (growing, /proc) */
};

/* Keep the boundary for RA (when RA->set: running as root for a run user). */
void safefile_guard(const struct runas *ra);

/* errno text, or the reason for one of the SF_ values. */
const char *safefile_strerror(int err);

/* Does ST's mode give UID/GID the owner permission USR_BIT (S_IRUSR,
 * S_IWUSR, S_IXUSR), by the owner, group or other class that applies? */
bool safefile_mode_allows(const struct stat *st, uid_t uid, gid_t gid, mode_t usr_bit);

/* Open PATH for reading: a regular file, by the rules above.  Returns 0 and
 * sets *FD (O_RDONLY, O_NONBLOCK, close-on-exec), or an error. */
int safefile_open(const char *path, int *fd);

/* Whole file into OUT (at most FILE_MAX_BYTES).  Returns 0 or an error;
 * ENOMEM when out of memory. */
int safefile_read(const char *path, struct buf *out);

/* What is at PATH, by the same walk, without opening it for reading:
 * 0 and *ST (the entry itself, or what a followed link leads to), or an error. */
int safefile_stat(const char *path, struct stat *st);

/* mkdir NAME in DFD (MODE), then give it to OWNER (when set) on its
 * descriptor: a link or another directory swapped in between is refused
 * (SF_ERACE), never chowned.  Returns 0 and *FD (O_RDONLY|O_DIRECTORY), or
 * an error. */
int safefile_mkdirat(int dfd, const char *name, mode_t mode, const struct runas *owner, int *fd);

/* The entries of directory DFD, from the start, on a descriptor of their
 * own (a dup would share DFD's offset), or NULL.  closedir when done. */
DIR *safefile_scan(int dfd);

/* Open directory PATH (O_RDONLY|O_DIRECTORY).  When CREATE and it is
 * missing, create it (0755) and give it to OWNER (when set), on the
 * descriptor.  Returns 0 and *FD, or an error. */
int safefile_open_dir(const char *path, bool create, const struct runas *owner, int *fd);

#endif
