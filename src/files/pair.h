/* pgbouncer.ini and userlist.txt replaced as one change, even by a kill -9
 * at any moment (issue 8: "the old files or the new ones, never a mix").
 * Two names cannot be renamed in one step, so both are links through one
 * entry that can:
 *   pgbouncer.ini -> .pgbe-current/pgbouncer.ini
 *   userlist.txt  -> .pgbe-current/userlist.txt
 *   .pgbe-current -> .pgbe-<16 hex digits>   (renamed over: the one step)
 *   .pgbe-<16 hex digits>/ holds both files (0600, the run user's)
 * Kubernetes' Secret and ConfigMap volumes switch their ..data the same way.
 * The links are relative, so the directory works as a volume anywhere. */
#ifndef PGBE_PAIR_H
#define PGBE_PAIR_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/runas.h"

#define PAIR_CURRENT ".pgbe-current"

struct file_out;

enum pair_link {
	PAIR_NOT_LINK, /* OUT is PATH */
	PAIR_FILE,     /* OUT is the file in the current generation */
	PAIR_NOWHERE,  /* a pair link, but no current generation: as if absent */
};

/* The file PATH stands for now, into OUT (SIZE bytes): for a pair link, the
 * file in the current generation directory, found without following a
 * link, so the usual rules for reading apply to it. */
enum pair_link pair_resolve(const char *path, char *out, size_t size);

/* Reads what PATH shows (pair_resolve) into OUT: 0 or an errno value. */
int pair_read(const char *path, struct buf *out);

/* Replace F[0] and F[1], two files of directory DIRFD named NAME[0] and
 * NAME[1], as one change; OWNER (when set) gets the directory and the
 * files.  Every step leaves the old pair or the new one.  Returns a status
 * after logging. */
int pair_write(int dirfd, const struct file_out *f, const char *const name[2],
	       const struct runas *owner);

/* After a single file was written in directory DFD: when no name there
 * links into PAIR_CURRENT any more (you supply one of the two files now),
 * the generation directories serve nothing and are removed, so no password
 * is left at rest in them. */
void pair_forget(int dfd, const struct runas *owner);

#endif
