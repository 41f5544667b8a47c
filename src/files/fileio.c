#include "files/fileio.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "files/fs.h"
#include "files/pair.h"
#include "files/safefile.h"

/* What PATH shows: for one of the pair's links, the file of the current
 * generation (in REAL); NULL when such a link leads nowhere. */
static const char *shown_path(const char *path, char real[4096])
{
	switch (pair_resolve(path, real, 4096)) {
	case PAIR_NOWHERE:
		return NULL;
	case PAIR_FILE:
		return real;
	default:
		return path;
	}
}

int file_read(const char *path, struct buf *out)
{
	return pair_read(path, out);
}

char *file_read_text(const char *path, size_t *len)
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
	} else {
		errno = ENOMEM;
	}
	buf_free_secret(&b);
	return copy;
}

enum file_state file_state(const char *path)
{
	char head[sizeof(GENERATED_MARK)], real[4096];
	struct stat st;
	ssize_t n;
	int fd, rc;

	if (!(path = shown_path(path, real)))
		return FILE_ABSENT;
	rc = safefile_stat(path, &st);
	if (rc)
		return rc == ENOENT ? FILE_ABSENT : rc == SF_ELINK ? FILE_USERS : FILE_ERROR;
	if (S_ISDIR(st.st_mode))
		return FILE_DIRECTORY;
	if (safefile_open(path, &fd))
		return FILE_USERS; /* unreadable: not something we wrote */
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n == (ssize_t)sizeof(head) - 1 && memcmp(head, GENERATED_MARK, (size_t)n) == 0)
		return FILE_OURS;
	return FILE_USERS;
}

/* One file of the set being replaced: its directory (a descriptor, so no
 * path is looked up again after the checks), its name and its temp file. */
struct staged {
	int dirfd;
	char name[NAME_MAX + 1];
	char tmp[NAME_MAX + 1];
	bool written;
};

static int open_parent(const char *path, struct staged *s)
{
	char dir[4096];
	const char *base = fs_path_split(path, dir, sizeof(dir));
	int err;

	if (snprintf(s->name, sizeof(s->name), "%s", base) >= (int)sizeof(s->name) ||
	    snprintf(s->tmp, sizeof(s->tmp), "%s.tmp.%ld", s->name, (long)getpid()) >=
		    (int)sizeof(s->tmp)) {
		log_error("file name too long: '%s'", path);
		return EX_CANTCREAT;
	}
	if ((err = safefile_open_dir(dir, false, NULL, &s->dirfd)))
		return fs_write_fail("open the directory of", path, err);
	return EX_OK;
}

static int not_a_directory(const struct staged *s, const struct file_out *f)
{
	struct stat st;

	if (fstatat(s->dirfd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		log_error("'%s' is a directory, not a file (Docker creates one when a bind-mount "
			  "source is missing): remove it, or mount a file there",
			  f->path);
		return EX_CANTCREAT;
	}
	return EX_OK;
}

/* The temp file, complete and on disk, owned by OWNER, mode 0600. */
static int stage(struct staged *s, const struct file_out *f, const struct runas *owner)
{
	int fd, err;

	if ((err = not_a_directory(s, f)))
		return err;
	unlinkat(s->dirfd, s->tmp, 0); /* left by a process with our pid, killed */
	/* O_EXCL: whatever is planted under the temp name is never opened */
	fd = openat(s->dirfd, s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fs_write_fail("create a temporary file for", f->path, errno);
	s->written = true;
	if (fs_write_all(fd, f->data, f->len) < 0 || fchmod(fd, 0600) < 0 ||
	    (owner && owner->set && fchown(fd, owner->uid, owner->gid) < 0) || fsync(fd) < 0) {
		err = errno;
		close(fd);
		return fs_write_fail("write", f->path, err);
	}
	if (close(fd) < 0)
		return fs_write_fail("write", f->path, errno);
	return EX_OK;
}

/* Two files of one directory: through the pair's links, one change even
 * against a kill -9 (pair.h). */
static int write_pair(const struct file_out *f, const struct runas *owner)
{
	struct staged s[2];
	int rc;

	memset(s, 0, sizeof(s));
	s[0].dirfd = s[1].dirfd = -1;
	if (!(rc = open_parent(f[0].path, &s[0])) && !(rc = open_parent(f[1].path, &s[1])) &&
	    !(rc = not_a_directory(&s[0], &f[0])) && !(rc = not_a_directory(&s[1], &f[1]))) {
		const char *const name[2] = {s[0].name, s[1].name};
		rc = pair_write(s[0].dirfd, f, name, owner);
	}
	for (int i = 0; i < 2; i++)
		if (s[i].dirfd >= 0)
			close(s[i].dirfd);
	return rc;
}

static bool same_directory(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');

	return sa && sb && sa - a == sb - b && strncmp(a, b, (size_t)(sa - a)) == 0 &&
	       strcmp(sa, sb) != 0;
}

int file_write_set(const struct file_out *f, size_t n, const struct runas *owner)
{
	struct staged s[WRITE_MAX_FILES];
	size_t i, opened = 0;
	int rc = EX_OK;

	if (n == 2 && same_directory(f[0].path, f[1].path))
		return write_pair(f, owner);
	memset(s, 0, sizeof(s));
	/* every temp file first: a failure here leaves the old set as it was */
	for (i = 0; i < n && i < WRITE_MAX_FILES && !rc; i++) {
		if (!(rc = open_parent(f[i].path, &s[i]))) {
			opened++;
			rc = stage(&s[i], &f[i], owner);
		}
	}
	for (i = 0; i < opened && !rc; i++)
		if (renameat(s[i].dirfd, s[i].tmp, s[i].dirfd, s[i].name) < 0)
			rc = fs_write_fail("replace", f[i].path, errno);
		else
			s[i].written = false;
	for (i = 0; i < opened && !rc; i++)
		if (fsync(s[i].dirfd) < 0 && errno != EINVAL)
			rc = fs_write_fail("sync the directory of", f[i].path, errno);
		else
			pair_forget(s[i].dirfd, owner);
	for (i = 0; i < opened; i++) {
		if (s[i].written)
			unlinkat(s[i].dirfd, s[i].tmp, 0);
		close(s[i].dirfd);
	}
	return rc;
}

int file_ensure_dir(const char *dir, const struct runas *owner)
{
	int fd, err = safefile_open_dir(dir, true, owner, &fd);

	if (err == SF_ENOTDIR) {
		log_error("config directory '%s' is not a directory", dir);
		return EX_CANTCREAT;
	}
	if (err)
		return fs_write_fail("create directory", dir, err);
	close(fd);
	return EX_OK;
}

void file_warn_unsearchable(const char *dir, uid_t uid, gid_t gid)
{
	struct stat st;

	if (uid == 0 || safefile_stat(dir, &st) != 0)
		return;
	if (!safefile_mode_allows(&st, uid, gid, S_IXUSR))
		log_warn(
			"config directory '%s' (owner %ld:%ld, mode %04o) cannot be entered by uid "
			"%ld gid %ld, which pgbouncer runs as: it will not read its files; chown "
			"or chmod the directory",
			dir, (long)st.st_uid, (long)st.st_gid, (unsigned)(st.st_mode & 07777),
			(long)uid, (long)gid);
}

int file_check_readable(const char *path, uid_t uid, gid_t gid, const char *what)
{
	struct stat st;
	int fd, err = safefile_stat(path, &st);

	if (!err && uid != 0 && !safefile_mode_allows(&st, uid, gid, S_IRUSR)) {
		log_error("%s '%s' is not readable by uid %ld gid %ld (owner %ld:%ld, mode %04o): "
			  "chown it to %ld, or make it group-readable (chmod 0640) for gid %ld",
			  what, path, (long)uid, (long)gid, (long)st.st_uid, (long)st.st_gid,
			  (unsigned)(st.st_mode & 07777), (long)uid, (long)gid);
		return EX_CONFIG;
	}
	/* and it must be a regular file reached by the rules of safefile.h */
	if (!err && !(err = safefile_open(path, &fd)))
		close(fd);
	if (err) {
		log_error("could not open %s '%s': %s", what, path, safefile_strerror(err));
		return EX_CONFIG;
	}
	return EX_OK;
}
