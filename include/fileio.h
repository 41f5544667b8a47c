/* Reading the files the user supplies and writing the generated ones:
 * atomically, 0600, owned by the run user. */
#ifndef PGBE_FILEIO_H
#define PGBE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "privs.h"

enum file_state { FILE_ABSENT, FILE_OURS, FILE_USERS, FILE_DIRECTORY, FILE_ERROR };

/* What is at PATH now: nothing, a file this program wrote (first line is
 * GENERATED_MARK; through the pair's links, the current one), a user's own
 * file, or a directory. */
enum file_state file_state(const char *path);

/* One file to (re)place: PATH gets exactly DATA. */
struct file_out {
	const char *path;
	const char *data;
	size_t len;
};
#define WRITE_MAX_FILES 4

/* Replace the N files as one change: every temp file (in the target's
 * directory, 0600, owned by OWNER) is written and fsync'ed first, then all
 * are renamed and the directories fsync'ed, so a failure before the renames
 * (full disk, a directory in the way) leaves the old set.  Two files of one
 * directory are one change even against a kill -9: both are links through
 * one entry that a single rename switches (pairswap.h).  All on directory
 * descriptors.  Returns a status after logging; leaves no temp file behind. */
int write_files(const struct file_out *f, size_t n, const struct runas *owner);

/* PATH's directory into DIR (SIZE bytes; "." or "/" where that is what it
 * is); returns PATH's last component. */
const char *path_split(const char *path, char *dir, size_t size);

/* write(2) all of DATA, or -1 with errno. */
int file_write_all(int fd, const char *data, size_t len);

/* Log "could not WHAT 'PATH': <why><hint>"; returns EX_CANTCREAT. */
int file_write_fail(const char *what, const char *path, int err);

/* Create DIR (mode 0755, given to OWNER on its descriptor) when missing.
 * Returns a status. */
int ensure_dir(const char *dir, const struct runas *owner);

/* Warn when a process with UID/GID could not enter DIR. */
void warn_unsearchable(const char *dir, uid_t uid, gid_t gid);

/* EX_OK if a process with UID/GID can read PATH, else EX_CONFIG after
 * naming the uid and the mode. */
int check_readable(const char *path, uid_t uid, gid_t gid, const char *what);

/* Reads PATH (through the pair's links: the current file) into OUT.
 * Returns 0, or an errno value. */
int file_read(const char *path, struct buf *out);

/* Whole file into a malloc'ed NUL-terminated string, or NULL (errno set). */
char *read_text(const char *path, size_t *len);

/* --config-dir (FROM_ENV: PGBOUNCER_CONFIG_DIR) becomes auth_file's value:
 * no control characters, no white space at either end.  Returns EX_USAGE
 * or EX_CONFIG (after naming the option or variable), or EX_OK. */
int config_dir_check(const char *dir, bool from_env);

#endif
