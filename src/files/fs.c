/* The small pieces every writer of ours shares: write all of a buffer, say
 * why a write failed (with the fix), split a path. */
#include "files/fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "files/safefile.h"

static const char *hint_for(int err)
{
	switch (err) {
	case EROFS:
		return "; the file system is read-only: mount a writable volume (emptyDir, tmpfs) "
		       "at the config directory";
	case ENOSPC:
	case EDQUOT:
		return "; the disk is full";
	case EACCES:
	case EPERM:
		return "; the directory is not writable by this user: make it writable or use "
		       "--config-dir";
	default:
		return "";
	}
}

int fs_write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_fail(const char *what, const char *path, int err)
{
	log_error("could not %s '%s': %s%s", what, path, safefile_strerror(err), hint_for(err));
	return EX_CANTCREAT;
}

const char *fs_path_split(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
	return slash ? slash + 1 : path;
}
