#include "files/pair.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "files/fs.h"
#include "files/safefile.h"

#define GEN_PREFIX ".pgbe-"
#define GEN_DIGITS 16

/* PREFIX and 16 lowercase hex digits: a generation directory's name
 * (GEN_PREFIX), or a temp link's (PAIR_CURRENT "."). */
static bool is_random_name(const char *s, const char *prefix)
{
	size_t p = strlen(prefix);

	if (strncmp(s, prefix, p) != 0 || strlen(s) != p + GEN_DIGITS)
		return false;
	for (s += p; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static bool is_gen_name(const char *s)
{
	return is_random_name(s, GEN_PREFIX);
}

static int random_name(const char *prefix, char *out, size_t size)
{
	unsigned char r[GEN_DIGITS / 2];
	int len;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	len = snprintf(out, size, "%s", prefix);
	for (size_t i = 0; i < sizeof(r) && len > 0 && (size_t)len + 2 < size; i++)
		len += snprintf(out + len, size - (size_t)len, "%02x", r[i]);
	return 0;
}

/* PATH split into its directory (opened without following a link where
 * the run user could plant one) and its last component. */
static int open_dir_of(const char *path, int *dfd, const char **base)
{
	char dir[4096];

	*base = fs_path_split(path, dir, sizeof(dir));
	return safefile_open_dir(dir, false, NULL, dfd);
}

/* Is NAME in DFD a link whose target is exactly PAIR_CURRENT/NAME? */
static bool our_link(int dfd, const char *name)
{
	char target[NAME_MAX + sizeof(PAIR_CURRENT) + 2], want[sizeof(target)];
	ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);

	if (n < 0)
		return false;
	target[n] = '\0';
	snprintf(want, sizeof(want), "%s/%s", PAIR_CURRENT, name);
	return strcmp(target, want) == 0;
}

/* The generation PAIR_CURRENT names now, into GEN; false if none. */
static bool current_gen(int dfd, char gen[NAME_MAX + 1])
{
	ssize_t n = readlinkat(dfd, PAIR_CURRENT, gen, NAME_MAX);

	if (n < 0)
		return false;
	gen[n] = '\0';
	return is_gen_name(gen);
}

enum pair_link pair_resolve(const char *path, char *out, size_t size)
{
	enum pair_link r = PAIR_NOT_LINK;
	char gen[NAME_MAX + 1];
	const char *base;
	int dfd;

	snprintf(out, size, "%s", path);
	if (open_dir_of(path, &dfd, &base))
		return r;
	if (our_link(dfd, base)) {
		r = current_gen(dfd, gen) ? PAIR_FILE : PAIR_NOWHERE;
		if (r == PAIR_FILE)
			snprintf(out, size, "%.*s%s/%s", (int)(base - path), path, gen, base);
	}
	close(dfd);
	return r;
}

static void remove_gen(int dfd, const char *gen, const struct runas *owner);

int pair_read(const char *path, struct buf *out)
{
	char real[4096];

	switch (pair_resolve(path, real, sizeof(real))) {
	case PAIR_NOWHERE:
		return ENOENT;
	case PAIR_FILE:
		return safefile_read(real, out);
	default:
		return safefile_read(path, out);
	}
}

/* A new generation directory in DFD holding F[i] as NAME[i] (the F with a
 * NULL data pointer are left out), fsync'ed.  Its name into GEN. */
static int make_gen(int dfd, const struct file_out *f, const char *const name[2],
		    const struct runas *owner, char gen[NAME_MAX + 1])
{
	int gfd, fd, rc = EX_OK;

	gen[0] = '\0';
	if (random_name(GEN_PREFIX, gen, NAME_MAX + 1) != 0) {
		log_error("could not make a random name for the files of '%s'", f[0].path);
		return EX_OSERR;
	}
	/* chowned on its descriptor, and only if it is still the empty
	 * directory made here (not one the run user renamed in) */
	if ((rc = safefile_mkdirat(dfd, gen, 0700, owner, &gfd)) != 0) {
		if (rc != EEXIST)
			remove_gen(dfd, gen, owner);
		return fs_write_fail("create a directory for", f[0].path, rc);
	}
	for (int i = 0; i < 2 && rc == EX_OK; i++) {
		if (!f[i].data)
			continue;
		/* O_EXCL: what the run user may have planted here is never opened */
		fd = openat(gfd, name[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0 || fs_write_all(fd, f[i].data, f[i].len) != 0 ||
		    (owner && owner->set && fchown(fd, owner->uid, owner->gid) != 0) ||
		    fsync(fd) != 0)
			rc = fs_write_fail("write", f[i].path, errno);
		if (fd >= 0 && close(fd) != 0 && rc == EX_OK)
			rc = fs_write_fail("write", f[i].path, errno);
	}
	if (rc == EX_OK && fsync(gfd) != 0)
		rc = fs_write_fail("write", f[0].path, errno);
	if (gfd >= 0)
		close(gfd);
	if (rc != EX_OK)
		remove_gen(dfd, gen, owner);
	return rc;
}

/* Remove generation GEN: every entry in it that is not a directory, then
 * the directory (which stays if something is left).  On descriptors, by
 * name: nothing is followed.  Only a directory owned as ours are (OWNER's,
 * or this process's): the run user can give a root-owned directory of the
 * config directory a generation's name, and root must not empty it. */
static void remove_gen(int dfd, const char *gen, const struct runas *owner)
{
	uid_t ours = owner && owner->set ? owner->uid : geteuid();
	char cur[NAME_MAX + 1];
	struct stat st;
	int gfd;
	DIR *d;
	struct dirent *e;

	/* never the one both names show now, whoever made it: a writer that
	 * did not take the directory's lock (dirlock.h) may have switched to
	 * it since this one looked */
	if (!is_gen_name(gen) || (current_gen(dfd, cur) && !strcmp(cur, gen)))
		return;
	gfd = openat(dfd, gen, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gfd >= 0 && (fstat(gfd, &st) != 0 || st.st_uid != ours)) {
		close(gfd);
		return;
	}
	d = gfd >= 0 ? fdopendir(gfd) : NULL;
	if (d) {
		while ((e = readdir(d)))
			unlinkat(gfd, e->d_name, 0);
		closedir(d);
	} else if (gfd >= 0) {
		close(gfd);
	}
	unlinkat(dfd, gen, AT_REMOVEDIR);
}

/* NAME (in DFD) becomes a link to TARGET in one rename. */
static int place_link(int dfd, const char *name, const char *target, const char *path)
{
	char tmp[NAME_MAX + 1];

	if (random_name(PAIR_CURRENT ".", tmp, sizeof(tmp)) != 0) {
		log_error("could not make a random name for '%s'", path);
		return EX_OSERR;
	}
	/* symlinkat never follows or reuses what is there: EEXIST instead */
	if (symlinkat(target, dfd, tmp) != 0)
		return fs_write_fail("replace", path, errno);
	/* not chowned: by name, the run user could swap a root file in first;
	 * a link's owner grants nothing */
	if (renameat(dfd, tmp, dfd, name) != 0) {
		int err = errno;
		unlinkat(dfd, tmp, 0);
		return fs_write_fail("replace", path, err);
	}
	return EX_OK;
}

/* Make both names links without changing what either shows: a name that
 * is still a file (written by an older version of this program) gets a
 * generation holding what both show now, then the links.  When neither
 * shows anything, the links lead nowhere until the switch; *PLACED then
 * says which were made here, for pair_write to take back on a failure. */
static int links_in_place(int dfd, const struct file_out *f, const char *const name[2],
			  const struct runas *owner, bool placed[2])
{
	struct file_out now[2];
	struct buf b[2];
	char gen[NAME_MAX + 1], target[NAME_MAX + sizeof(PAIR_CURRENT) + 2];
	bool linked[2], shown = false;
	int rc = EX_OK;

	for (int i = 0; i < 2; i++) {
		linked[i] = our_link(dfd, name[i]);
		buf_init(&b[i]);
		now[i] = (struct file_out){.path = f[i].path};
		/* what NAME shows now: through the link, or the file itself */
		if (pair_read(f[i].path, &b[i]) == 0) {
			now[i].data = buf_str(&b[i]);
			now[i].len = b[i].len;
			shown = true;
		}
	}
	if (!linked[0] || !linked[1]) {
		if (!shown) /* neither shows anything: the links may lead nowhere yet */
			unlinkat(dfd, PAIR_CURRENT, 0);
		else if ((rc = make_gen(dfd, now, name, owner, gen)) == EX_OK &&
			 (rc = place_link(dfd, PAIR_CURRENT, gen, f[0].path)) != EX_OK)
			remove_gen(dfd, gen, owner); /* not current: the old state stands */
	}
	for (int i = 0; i < 2 && rc == EX_OK; i++) {
		if (linked[i])
			continue;
		snprintf(target, sizeof(target), "%s/%s", PAIR_CURRENT, name[i]);
		rc = place_link(dfd, name[i], target, f[i].path);
		placed[i] = rc == EX_OK && !shown;
	}
	buf_free_secret(&b[0]);
	buf_free_secret(&b[1]);
	return rc;
}

/* Every generation but KEEP (NULL: all), and temp links a killed run left. */
static void remove_old(int dfd, const char *keep, const struct runas *owner)
{
	DIR *d = safefile_scan(dfd);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (is_gen_name(e->d_name) && (!keep || strcmp(e->d_name, keep) != 0))
			remove_gen(dfd, e->d_name, owner);
		else if (is_random_name(e->d_name, PAIR_CURRENT "."))
			unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
}

int pair_write(int dfd, const struct file_out *f, const char *const name[2],
	       const struct runas *owner)
{
	char gen[NAME_MAX + 1];
	bool placed[2] = {false, false};
	int rc;

	/* the new files first: a full disk changes nothing */
	if ((rc = make_gen(dfd, f, name, owner, gen)) != EX_OK)
		return rc;
	/* the one step (PAIR_CURRENT): both names now show the new files */
	if ((rc = links_in_place(dfd, f, name, owner, placed)) != EX_OK ||
	    (rc = place_link(dfd, PAIR_CURRENT, gen, f[0].path)) != EX_OK) {
		remove_gen(dfd, gen, owner);
		for (int i = 0; i < 2; i++)
			if (placed[i]) /* they showed nothing before, and do not now */
				unlinkat(dfd, name[i], 0);
		return rc;
	}
	if (fsync(dfd) != 0 && errno != EINVAL)
		return fs_write_fail("sync the directory of", f[0].path, errno);
	remove_old(dfd, gen, owner);
	return EX_OK;
}

/* Does any name in DFD link into PAIR_CURRENT? */
static bool pair_in_use(int dfd)
{
	static const char prefix[] = PAIR_CURRENT "/";
	char target[sizeof(prefix)];
	DIR *d = safefile_scan(dfd);
	struct dirent *e;
	bool used = !d; /* when in doubt, keep */

	while (d && !used && (e = readdir(d))) {
		ssize_t n = readlinkat(dfd, e->d_name, target, sizeof(target));
		used = n >= (ssize_t)sizeof(prefix) - 1 &&
		       !memcmp(target, prefix, sizeof(prefix) - 1);
	}
	if (d)
		closedir(d);
	return used;
}

void pair_forget(int dfd, const struct runas *owner)
{
	if (pair_in_use(dfd))
		return;
	unlinkat(dfd, PAIR_CURRENT, 0);
	remove_old(dfd, NULL, owner);
}
