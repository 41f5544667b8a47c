#include "cmd/watch.h"

#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "cmd/reload.h"
#include "files/fileio.h"
#include "model/vars.h"

extern char **environ;

#define MAX_INPUTS 64
#define QUIET_MS 300  /* a burst of events is over after this much silence */
#define BURST_MS 2000 /* ... or after this long in any case */

struct inputs {
	char path[MAX_INPUTS][4096];
	size_t n;
};

static void add_input(struct inputs *in, const char *a, const char *b)
{
	if (in->n < MAX_INPUTS)
		snprintf(in->path[in->n++], sizeof(in->path[0]), "%s%s", a, b);
}

/* Every <NAME>_FILE target, and the files of the config directory that the
 * user may supply (the generated ones are outputs: see fingerprint). */
static void collect_inputs(const char *dir, struct inputs *in)
{
	static const char *const own[] = {"/pgbouncer.ini.template", "/userlist.txt.template",
					  "/pgbouncer.ini", "/userlist.txt"};

	for (char **e = environ; *e; e++) {
		char name[VAR_NAME_MAX + 8];
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : 0;
		if (len <= 5 || len >= sizeof(name) || strncmp(eq - 5, "_FILE", 5) != 0 || !eq[1])
			continue;
		memcpy(name, *e, len - 5);
		name[len - 5] = '\0';
		if (vars_file_capable(name))
			add_input(in, eq + 1, "");
	}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		add_input(in, dir, own[i]);
}

/* Something reload writes: a file with this program's mark, or one expanded
 * from a template next to it (which carries no mark). */
static bool is_output(const char *path, enum file_state st)
{
	char tmpl[4096 + 16];

	snprintf(tmpl, sizeof(tmpl), "%s.template", path);
	return st == FILE_OURS || file_state(tmpl) != FILE_ABSENT;
}

/* SHA-256 over what every input holds now.  What reload writes counts as
 * empty: rewriting it must not trigger another reload. */
static void fingerprint(const struct inputs *in, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct buf b;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < in->n; i++) {
		enum file_state st = file_state(in->path[i]);
		if (is_output(in->path[i], st))
			st = FILE_OURS;
		buf_init(&b);
		if (st == FILE_USERS && file_read(in->path[i], &b) != 0)
			buf_puts(&b, "\x01unreadable");
		EVP_DigestUpdate(ctx, in->path[i], strlen(in->path[i]) + 1);
		EVP_DigestUpdate(ctx, &st, sizeof(st));
		EVP_DigestUpdate(ctx, b.data ? b.data : "", b.len);
		buf_free_secret(&b);
	}
	EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
}

/* inotify on each input's directory, not the file: Kubernetes updates a
 * mounted Secret by swapping the ..data symlink next to it, and editors
 * replace files by rename.  -1 when inotify is unavailable. */
static int watch_dirs(const struct inputs *in)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0) {
		log_warn("watch: inotify unavailable (%s): polling only", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < in->n; i++) {
		char copy[4096];
		snprintf(copy, sizeof(copy), "%s", in->path[i]);
		/* a directory that does not exist yet is covered by the polling */
		inotify_add_watch(fd, dirname(copy),
				  IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB |
					  IN_MODIFY);
	}
	return fd;
}

/* Read every pending event; true if there was any. */
static bool drain_events(int fd)
{
	char evbuf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	while (read(fd, evbuf, sizeof(evbuf)) > 0)
		any = true;
	return any;
}

/* Block until an event or INTERVAL_MS; then wait out the rest of a burst. */
static void wait_for_change(int fd, long interval_ms)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	long long burst_end;

	if (fd < 0) {
		poll(NULL, 0, (int)interval_ms);
		return;
	}
	if (poll(&pfd, 1, (int)interval_ms) <= 0 || !drain_events(fd))
		return;
	burst_end = deadline_now() + BURST_MS;
	while (!deadline_stop_signal && deadline_now() < burst_end && poll(&pfd, 1, QUIET_MS) > 0)
		drain_events(fd);
}

static int reload_in_child(const struct options *o)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_error("watch: could not start a reload: %s", strerror(errno));
		return EX_OSERR;
	}
	if (pid == 0) {
		deadline_restore_signals();
		deadline_stop_signal = 0;
		int rc = reload_once(o);
		fflush(NULL);
		_exit(rc);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return EX_OSERR;
		kill(pid, SIGTERM); /* we are asked to stop: so is the reload */
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : EX_SIGNAL_BASE + WTERMSIG(status);
}

int watch_run(const struct options *o)
{
	struct inputs in = {.n = 0};
	unsigned char applied[32], now[32];
	int fd, rc;

	collect_inputs(o->config_dir, &in);
	fingerprint(&in, applied);
	fd = watch_dirs(&in);
	deadline_install_signals();
	log_info("watch: %zu inputs (%s, and every %ld s); reload when one changes", in.n,
		 fd >= 0 ? "inotify" : "no inotify", o->watch_interval);
	while (!deadline_stop_signal) {
		wait_for_change(fd, o->watch_interval * 1000L);
		if (deadline_stop_signal)
			break;
		fingerprint(&in, now);
		if (!memcmp(now, applied, sizeof(now)))
			continue;
		log_info("watch: an input changed: reloading");
		rc = reload_in_child(o);
		if (rc == EX_OK)
			memcpy(applied, now, sizeof(now));
		else if (!deadline_stop_signal)
			log_warn("watch: reload failed (exit %d, see above); trying again in %ld s",
				 rc, o->watch_interval);
	}
	log_info("watch: received signal %d; stopping", (int)deadline_stop_signal);
	if (fd >= 0)
		close(fd);
	return EX_OK;
}
