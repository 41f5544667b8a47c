#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "exitcodes.h"
#include "log.h"
#include "render.h"

int file_read(const char *path, struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			close(fd);
			OPENSSL_cleanse(chunk, sizeof(chunk));
			return err;
		}
		buf_add(out, chunk, (size_t)n);
	}
	close(fd);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return out->oom ? ENOMEM : 0;
}

char *read_text(const char *path, size_t *len)
{
	struct buf b;
	char *copy;
	int err;

	buf_init(&b);
	err = file_read(path, &b);
	if (err) {
		buf_free_secret(&b);
		errno = err;
		return NULL;
	}
	copy = malloc(b.len + 1);
	if (copy) {
		memcpy(copy, buf_str(&b), b.len + 1);
		*len = b.len;
	}
	buf_free_secret(&b);
	return copy;
}

enum file_state file_state(const char *path)
{
	char head[sizeof(GENERATED_MARK)];
	struct stat st;
	ssize_t n;
	int fd;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? FILE_ABSENT : FILE_ERROR;
	if (S_ISDIR(st.st_mode))
		return FILE_DIRECTORY;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return FILE_USERS; /* unreadable: not something we wrote */
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n == (ssize_t)sizeof(head) - 1 && memcmp(head, GENERATED_MARK, (size_t)n) == 0)
		return FILE_OURS;
	return FILE_USERS;
}

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

static int write_all(int fd, const char *data, size_t len)
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

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -1;
	close(fd);
	return rc;
}

static int fail(const char *what, const char *path, const char *tmp)
{
	int err = errno;

	log_error("could not %s '%s': %s%s", what, path, strerror(err), hint_for(err));
	if (tmp)
		unlink(tmp);
	return EX_CANTCREAT;
}

int write_atomic(const char *path, const char *data, size_t len, const struct runas *owner)
{
	char tmp[4096];
	int fd;

	if (file_state(path) == FILE_DIRECTORY) {
		log_error("'%s' is a directory, not a file (Docker creates one when a bind-mount "
			  "source is missing): remove it, or mount a file there", path);
		return EX_CANTCREAT;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		log_error("path too long: '%s'", path);
		return EX_CANTCREAT;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail("create", tmp, NULL);
	if (write_all(fd, data, len) < 0 || fchmod(fd, 0600) < 0 ||
	    (owner && owner->set && fchown(fd, owner->uid, owner->gid) < 0) || fsync(fd) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return fail("write", path, tmp);
	}
	if (close(fd) < 0)
		return fail("write", path, tmp);
	if (rename(tmp, path) < 0)
		return fail("replace", path, tmp);
	if (fsync_dir(path) < 0)
		return fail("sync the directory of", path, NULL);
	return 0;
}

int ensure_dir(const char *dir, const struct runas *owner)
{
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		log_error("config directory '%s' is not a directory", dir);
		return EX_CANTCREAT;
	}
	if (errno != ENOENT || mkdir(dir, 0755) < 0)
		return fail("create directory", dir, NULL);
	if (owner && owner->set && chown(dir, owner->uid, owner->gid) < 0)
		return fail("change the owner of", dir, NULL);
	return 0;
}

/* Does ST's mode give UID/GID the owner permission USR_BIT (S_IRUSR,
 * S_IXUSR), by the owner, group or other class that applies to them? */
static bool mode_allows(const struct stat *st, uid_t uid, gid_t gid, mode_t usr_bit)
{
	mode_t bit = st->st_uid == uid ? usr_bit : st->st_gid == gid ? usr_bit >> 3 : usr_bit >> 6;

	return (st->st_mode & bit) != 0;
}

void warn_unsearchable(const char *dir, uid_t uid, gid_t gid)
{
	struct stat st;

	if (uid == 0 || stat(dir, &st) < 0)
		return;
	if (!mode_allows(&st, uid, gid, S_IXUSR))
		log_warn("config directory '%s' (owner %ld:%ld, mode %04o) cannot be entered by uid "
			 "%ld gid %ld, which pgbouncer runs as: it will not read its files; chown "
			 "or chmod the directory", dir, (long)st.st_uid, (long)st.st_gid,
			 (unsigned)(st.st_mode & 07777), (long)uid, (long)gid);
}

int check_readable(const char *path, uid_t uid, gid_t gid, const char *what)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		log_error("could not open %s '%s': %s", what, path, strerror(errno));
		return EX_CONFIG;
	}
	if (uid == 0 || mode_allows(&st, uid, gid, S_IRUSR))
		return 0;
	log_error("%s '%s' is not readable by uid %ld gid %ld (owner %ld:%ld, mode %04o): "
		  "chown it to %ld, or make it group-readable (chmod 0640) for gid %ld",
		  what, path, (long)uid, (long)gid, (long)st.st_uid, (long)st.st_gid,
		  (unsigned)(st.st_mode & 07777), (long)uid, (long)gid);
	return EX_CONFIG;
}
