#include "files/safefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/buf.h"

/* Symbolic links followed on one path at most, like the kernel's limit. */
#define MAX_LINKS 40

static struct {
	bool on;
	uid_t uid;
	gid_t gid;
} guard;

void safefile_guard(const struct runas *ra)
{
	guard.on = ra && ra->set;
	guard.uid = guard.on ? ra->uid : 0;
	guard.gid = guard.on ? ra->gid : 0;
}

const char *safefile_strerror(int err)
{
	switch (err) {
	case SF_ELINK:
		return "it is a symbolic link in a directory that the run user can write, and root "
		       "does not follow those; put the file itself there";
	case SF_ENOTREG:
		return "not a regular file";
	case SF_ETOOBIG:
		return "larger than 1 MiB (or still growing)";
	case SF_EHIDDEN:
		return "it is below a directory that the run user can write but the run user "
		       "cannot read it; make it readable by the run user, or move it";
	case SF_ENOTDIR:
		return "not a directory";
	case SF_ERACE:
		return "it changed while it was being opened";
	case SF_EGREW:
		return "its size changed while it was read (a file still being written, or one "
		       "like /proc's that has no size); give a finished file";
	default:
		return strerror(err);
	}
}

bool safefile_mode_allows(const struct stat *st, uid_t uid, gid_t gid, mode_t usr_bit)
{
	mode_t bit = st->st_uid == uid ? usr_bit : st->st_gid == gid ? usr_bit >> 3 : usr_bit >> 6;

	return (st->st_mode & bit) != 0;
}

/* Could the run user replace the entry NAME of directory DFD (plant a link,
 * swap a file)?  Yes when it owns the directory or may write it, unless the
 * file system is read-only or the sticky bit protects an entry of another
 * owner (/tmp). */
static bool run_user_controls(int dfd, const char *name)
{
	struct stat d, e;
	struct statvfs fs;

	if (!guard.on)
		return false;
	if (fstat(dfd, &d) < 0)
		return true;
	if (fstatvfs(dfd, &fs) == 0 && (fs.f_flag & ST_RDONLY))
		return false;
	if (d.st_uid == guard.uid)
		return true;
	if (!safefile_mode_allows(&d, guard.uid, guard.gid, S_IWUSR))
		return false;
	if ((d.st_mode & S_ISVTX) && fstatat(dfd, name, &e, AT_SYMLINK_NOFOLLOW) == 0 &&
	    e.st_uid != guard.uid)
		return false;
	return true;
}

struct walk {
	int dfd;                 /* the directory the last entry is in (O_PATH) */
	char name[NAME_MAX + 1]; /* the last entry */
	struct stat st;          /* lstat of it */
	bool last;               /* the walk reached the last component */
	bool tainted;            /* some directory on the way is the run user's */
};

/* The link NAME in W's directory: its target, then what was still to walk. */
static int splice_link(struct walk *w, char *todo, size_t cap, size_t *pos)
{
	char target[PATH_MAX], rest[PATH_MAX * 2];
	ssize_t n = readlinkat(w->dfd, w->name, target, sizeof(target) - 1);

	if (n < 0)
		return errno;
	target[n] = '\0';
	if (snprintf(rest, sizeof(rest), "%s/%s", target, todo + *pos) >= (int)sizeof(rest) ||
	    strlen(rest) >= cap)
		return ENAMETOOLONG;
	memcpy(todo, rest, strlen(rest) + 1);
	*pos = 0;
	if (target[0] == '/') {
		int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			return errno;
		close(w->dfd);
		w->dfd = root;
	}
	return 0;
}

/* The next component of TODO at *POS into W->name; false at the end. */
static bool next_name(struct walk *w, const char *todo, size_t *pos, int *err)
{
	size_t len;

	while (todo[*pos] == '/')
		(*pos)++;
	if (!todo[*pos])
		return false;
	len = strcspn(todo + *pos, "/");
	if (len > NAME_MAX) {
		*err = ENAMETOOLONG;
		return false;
	}
	memcpy(w->name, todo + *pos, len);
	w->name[len] = '\0';
	*pos += len;
	w->last = todo[*pos + strspn(todo + *pos, "/")] == '\0';
	return true;
}

/* Walk PATH on descriptors to its last entry, following links under the
 * rules of safefile.h.  On return W->dfd is open (close it) even on error;
 * ENOENT with W->last set means only the last entry is missing. */
static int walk(const char *path, struct walk *w)
{
	char todo[PATH_MAX * 2];
	size_t pos = 0;
	int links = 0, err = 0;

	memset(w, 0, sizeof(*w));
	w->dfd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->dfd < 0)
		return errno;
	if (!path[0] || strlen(path) >= sizeof(todo))
		return path[0] ? ENAMETOOLONG : ENOENT;
	memcpy(todo, path, strlen(path) + 1);
	snprintf(w->name, sizeof(w->name), ".");
	w->last = true;
	while (next_name(w, todo, &pos, &err)) {
		if (run_user_controls(w->dfd, w->name))
			w->tainted = true;
		if (fstatat(w->dfd, w->name, &w->st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno;
		if (S_ISLNK(w->st.st_mode)) {
			if (run_user_controls(w->dfd, w->name))
				return SF_ELINK;
			if (++links > MAX_LINKS)
				return ELOOP;
			if ((err = splice_link(w, todo, sizeof(todo), &pos)))
				return err;
			snprintf(w->name, sizeof(w->name), ".");
			w->last = true;
			continue;
		}
		if (w->last)
			return 0;
		if (!S_ISDIR(w->st.st_mode))
			return ENOTDIR;
		int next = openat(w->dfd, w->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return errno;
		close(w->dfd);
		w->dfd = next;
	}
	if (err)
		return err;
	/* PATH ended at a directory ("/", "dir/", or a link to one) */
	return fstatat(w->dfd, w->name, &w->st, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Open W's entry with FLAGS (never following) and check it is what the walk saw. */
static int reopen(const struct walk *w, int flags, int *fd)
{
	struct stat now;

	*fd = openat(w->dfd, w->name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0)
		return errno;
	if (fstat(*fd, &now) < 0 || !same_file(&now, &w->st)) {
		close(*fd);
		*fd = -1;
		return SF_ERACE;
	}
	return 0;
}

int safefile_open(const char *path, int *fd)
{
	struct walk w;
	int rc = walk(path, &w);

	*fd = -1;
	if (!rc && !S_ISREG(w.st.st_mode))
		rc = SF_ENOTREG;
	/* a hard link to a root-only file looks like any other file */
	if (!rc && w.tainted && !safefile_mode_allows(&w.st, guard.uid, guard.gid, S_IRUSR))
		rc = SF_EHIDDEN;
	if (!rc)
		rc = reopen(&w, O_RDONLY | O_NONBLOCK, fd);
	close(w.dfd);
	return rc;
}

int safefile_stat(const char *path, struct stat *st)
{
	struct walk w;
	int rc = walk(path, &w);

	*st = w.st;
	close(w.dfd);
	return rc;
}

static int read_capped(int fd, struct buf *out)
{
	char chunk[8192];
	size_t total = 0;
	ssize_t n;
	int rc = 0;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errno;
			break;
		}
		total += (size_t)n;
		if (total > FILE_MAX_BYTES) {
			rc = SF_ETOOBIG;
			break;
		}
		buf_add(out, chunk, (size_t)n);
		if (out->oom) {
			rc = ENOMEM;
			break;
		}
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

int safefile_read(const char *path, struct buf *out)
{
	struct stat before, after;
	size_t had = out->len;
	int fd, rc = safefile_open(path, &fd);

	if (rc)
		return rc;
	if (fstat(fd, &before) != 0)
		rc = errno;
	if (!rc)
		rc = read_capped(fd, out);
	/* a writer still appending, or a file whose size says nothing (/proc):
	 * what was read may be any part of it */
	if (!rc && (fstat(fd, &after) != 0 || before.st_size != after.st_size ||
		    (off_t)(out->len - had) != before.st_size))
		rc = SF_EGREW;
	close(fd);
	return rc;
}

DIR *safefile_scan(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d && fd >= 0)
		close(fd);
	return d;
}

static bool dir_is_empty(int fd)
{
	DIR *d = safefile_scan(fd);
	struct dirent *e;
	bool empty = d != NULL;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	if (d)
		closedir(d);
	return empty;
}

int safefile_mkdirat(int dfd, const char *name, mode_t mode, const struct runas *owner, int *fd)
{
	struct stat st;
	int rc = 0;

	if (mkdirat(dfd, name, mode) < 0)
		return errno;
	*fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return errno == ELOOP ? SF_ERACE : errno;
	if (!owner || !owner->set)
		return 0;
	/* what we made is ours and empty; a directory swapped in is neither
	 * (or holds nothing to give away) */
	if (fstat(*fd, &st) < 0 || st.st_uid != geteuid() || !dir_is_empty(*fd))
		rc = SF_ERACE;
	else if (fchown(*fd, owner->uid, owner->gid) < 0)
		rc = errno;
	if (rc) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

int safefile_open_dir(const char *path, bool create, const struct runas *owner, int *fd)
{
	struct walk w;
	int rc = walk(path, &w);

	*fd = -1;
	if (rc == ENOENT && w.last && create)
		rc = safefile_mkdirat(w.dfd, w.name, 0755, owner, fd);
	else if (!rc && !S_ISDIR(w.st.st_mode))
		rc = SF_ENOTDIR;
	else if (!rc)
		rc = reopen(&w, O_RDONLY | O_DIRECTORY, fd);
	if (rc && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	close(w.dfd);
	return rc;
}
