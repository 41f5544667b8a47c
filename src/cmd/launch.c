#include "cmd/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "base/runas.h"
#include "model/vars.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

char **launch_scrub_env(char *const *envp)
{
	size_t n = 0, k = 0;
	char **out;

	while (envp && envp[n])
		n++;
	out = calloc(n + 1, sizeof(char *));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char name[256];
		size_t len = strcspn(envp[i], "=");
		if (len >= sizeof(name))
			continue;
		memcpy(name, envp[i], len);
		name[len] = '\0';
		if (!vars_is_secret(name))
			out[k++] = envp[i];
	}
	out[k] = NULL;
	return out;
}

static unsigned long setting_num(const struct config *c, const char *name, unsigned long dflt)
{
	const char *v = config_get(c, name);

	return v ? strtoul(v, NULL, 10) : dflt;
}

/* pgbouncer's own rule of thumb: max_client_conn + pool size x databases x
 * users, plus the reserve pools and a margin for listeners and logs. */
unsigned long launch_fd_need(const struct config *c)
{
	unsigned long users = 0, dbs = c->nup ? c->nup : 1;

	for (size_t i = 0; i < c->nup; i++)
		users += config_user_first(c, i);
	if (!users)
		users = 1;
	return setting_num(c, "max_client_conn", 100) +
	       (setting_num(c, "default_pool_size", 20) + setting_num(c, "reserve_pool_size", 0)) *
		       dbs * users +
	       64;
}

void launch_raise_nofile(unsigned long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		log_warn("max_client_conn and the pools need about %lu open files, but the hard "
			 "limit is %lu: raise it (docker run --ulimit nofile=%lu:%lu) or lower "
			 "MAX_CLIENT_CONN",
			 need, (unsigned long)rl.rlim_max, need, need);
		rl.rlim_cur = rl.rlim_max;
	} else {
		rl.rlim_cur = need;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("could not raise the open-files limit to %lu: %s",
			 (unsigned long)rl.rlim_cur, strerror(errno));
}

/* PATH of ENVP, or the default search path. */
static const char *search_path(char *const *envp)
{
	const char *path = NULL;

	for (size_t i = 0; envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			path = envp[i] + 5;
	return path && *path ? path : DEFAULT_PATH;
}

/* Next PATH candidate for NAME into BUF, advancing *P; false at the end. */
static bool next_candidate(const char **p, const char *name, char *buf, size_t len)
{
	size_t n;

	if (!**p)
		return false;
	n = strcspn(*p, ":");
	snprintf(buf, len, "%.*s/%s", (int)n, n ? *p : ".", name);
	*p += n + ((*p)[n] == ':');
	return true;
}

/* The path execve would run for NAME (PATH search like execvp), or NULL. */
static const char *resolve(const char *name, char *const *envp, char *buf, size_t len)
{
	const char *p = search_path(envp);

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? name : NULL;
	while (next_candidate(&p, name, buf, len))
		if (access(buf, X_OK) == 0)
			return buf;
	return NULL;
}

/* "PgBouncer 1.24.1 ..." as 124, and *RELEASE as 12401; 0 when OUT says no
 * such thing (a release without its third number counts as .0). */
static int parse_version(const char *out, int *release)
{
	const char *v = strstr(out, "PgBouncer ");
	long major, minor, patch = 0;
	char *end;

	*release = 0;
	if (!v)
		return 0;
	major = strtol(v + 10, &end, 10);
	if (end == v + 10 || *end != '.')
		return 0;
	v = end + 1;
	minor = strtol(v, &end, 10);
	if (end == v || major < 1 || major > 9 || minor < 0 || minor > 99)
		return 0;
	if (*end == '.' && end[1] >= '0' && end[1] <= '9')
		patch = strtol(end + 1, NULL, 10);
	if (patch >= 0 && patch <= 99)
		*release = (int)(major * 10000 + minor * 100 + patch);
	return (int)(major * 100 + minor);
}

/* In the child: EXE --version as the run user, without the secrets, its
 * own process group (so a wrapper script's children end with it). */
static void exec_version(const char *exe, char *const *env, const struct runas *ra, int out)
{
	char *const args[] = {(char *)exe, "--version", NULL};

	setpgid(0, 0);
	deadline_restore_signals();
	if (dup2(out, 1) < 0 || runas_drop(ra) != EX_OK)
		_exit(126);
	execve(exe, args, env);
	_exit(127);
}

/* Run EXE --version and read its output into OUT before DEADLINE. */
static enum deadline_result read_version(const char *exe, char *const *env, const struct runas *ra,
					 long long deadline, char *out, size_t cap)
{
	int fds[2];
	size_t len;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0)
		return DEADLINE_READY;
	if ((pid = fork()) == 0)
		exec_version(exe, env, ra, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return DEADLINE_READY;
	}
	setpgid(pid, pid);
	return deadline_read_child(pid, fds[0], out, cap, &len, deadline);
}

int launch_pgbouncer_version(char *const *argv, char *const *envp, const struct runas *ra,
			     long timeout_ms, int *version, int *release)
{
	char path[4096], out[512];
	const char *base = strrchr(argv[0], '/'), *exe;
	enum deadline_result r;
	char **env;

	*version = *release = 0;
	base = base ? base + 1 : argv[0];
	if (strcmp(base, "pgbouncer") != 0)
		return EX_OK;
	if (!(exe = resolve(argv[0], envp, path, sizeof(path))))
		return EX_NOTFOUND; /* the caller says what that means for it */
	if (!(env = launch_scrub_env(envp)))
		return EX_OK;
	deadline_install_signals();
	r = read_version(exe, env, ra, deadline_now() + timeout_ms, out, sizeof(out));
	deadline_restore_signals();
	free(env);
	if (r == DEADLINE_STOPPED) {
		log_info("received signal %d during \"%s --version\"; stopping",
			 (int)deadline_stop_signal, exe);
		return EX_SIGNAL_BASE + deadline_stop_signal;
	}
	if (r == DEADLINE_PASSED)
		log_warn("\"%s --version\" did not answer within %.1f s: settings are not checked "
			 "against the pgbouncer version",
			 exe, timeout_ms / 1000.0);
	*version = parse_version(out, release);
	return EX_OK;
}

int launch_exec(char *const *argv, char *const *envp)
{
	const char *p = search_path(envp);
	char full[4096];
	bool denied = false;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		denied = errno != ENOENT;
	} else {
		while (next_candidate(&p, argv[0], full, sizeof(full))) {
			execve(full, argv, envp);
			/* like a shell: a PATH entry we cannot search is "not found";
			 * a file that is there but will not run is "not executable" */
			if (errno != ENOENT && errno != ENOTDIR && access(full, F_OK) == 0)
				denied = true;
		}
	}
	log_error("could not execute \"%s\": %s", argv[0],
		  denied ? "permission denied or not an executable" : "not found");
	return denied ? EX_NOEXEC : EX_NOTFOUND;
}
