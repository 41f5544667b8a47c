#include "base/runas.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/exitcodes.h"
#include "base/log.h"

static bool parse_id(const char *s, size_t len, long *out)
{
	char tmp[32], *end;

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	*out = strtol(tmp, &end, 10);
	return !errno && *end == '\0' && *out >= 0 && *out <= 0x7fffffff;
}

static int lookup_user(const char *s, size_t len, long *uid, long *gid)
{
	char name[256];
	struct passwd *pw;

	if (parse_id(s, len, uid)) {
		pw = getpwuid((uid_t)*uid);
		*gid = pw ? (long)pw->pw_gid : *uid;
		return 0;
	}
	if (len >= sizeof(name)) {
		log_error("--user: the user name is too long (at most %zu bytes)",
			  sizeof(name) - 1);
		return EX_USAGE;
	}
	memcpy(name, s, len);
	name[len] = '\0';
	pw = getpwnam(name);
	if (!pw) {
		log_error("--user: no user named \"%s\" (this image has no passwd file: use a "
			  "numeric UID[:GID])",
			  name);
		return EX_USAGE;
	}
	*uid = (long)pw->pw_uid;
	*gid = (long)pw->pw_gid;
	return 0;
}

int runas_resolve(const char *spec, struct runas *out)
{
	long uid = DEFAULT_RUN_UID, gid = DEFAULT_RUN_GID;
	const char *colon;

	memset(out, 0, sizeof(*out));
	if (geteuid() != 0) {
		out->uid = geteuid();
		out->gid = getegid();
		return 0;
	}
	if (spec && *spec) {
		colon = strchr(spec, ':');
		if (lookup_user(spec, colon ? (size_t)(colon - spec) : strlen(spec), &uid, &gid))
			return EX_USAGE;
		if (colon && !parse_id(colon + 1, strlen(colon + 1), &gid)) {
			struct group *g = getgrnam(colon + 1);
			if (!g) {
				log_error("--user: \"%s\" is not a group id or name", colon + 1);
				return EX_USAGE;
			}
			gid = (long)g->gr_gid;
		}
	}
	if (uid == 0) {
		log_error("--user: pgbouncer refuses to run as root; give a non-zero uid");
		return EX_USAGE;
	}
	out->set = true;
	out->uid = (uid_t)uid;
	out->gid = (gid_t)gid;
	return 0;
}

int runas_drop(const struct runas *ra)
{
	gid_t g;

	if (!ra->set)
		return 0;
	g = ra->gid;
	/* Order matters: groups and gid while still privileged, uid last. */
	if (setgroups(1, &g) < 0 || setgid(ra->gid) < 0 || setuid(ra->uid) < 0) {
		log_error("could not switch to uid %ld gid %ld: %s", (long)ra->uid, (long)ra->gid,
			  strerror(errno));
		return EX_OSERR;
	}
	if (setuid(0) == 0) {
		log_error("privileges were not dropped: setuid(0) still succeeds");
		return EX_OSERR;
	}
	return 0;
}
