/* Shared by the writers: files/fileio.h, files/pair.h. */
#ifndef PGBE_FS_H
#define PGBE_FS_H

#include <stddef.h>

/* One file to (re)place: PATH gets exactly DATA. */
struct file_out {
	const char *path;
	const char *data;
	size_t len;
};

/* PATH's directory into DIR (SIZE bytes; "." or "/" where that is what it
 * is); returns PATH's last component. */
const char *fs_path_split(const char *path, char *dir, size_t size);

/* write(2) all of DATA, or -1 with errno. */
int fs_write_all(int fd, const char *data, size_t len);

/* Log "could not WHAT 'PATH': <why><hint>"; returns EX_CANTCREAT. */
int fs_write_fail(const char *what, const char *path, int err);

#endif
