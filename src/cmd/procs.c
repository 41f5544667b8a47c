#include "cmd/procs.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "cmd/launch.h"
#include "files/fileio.h"
#include "pg/local.h"
#include "text/ini.h"

extern char **environ;

int procs_from_env(int *n)
{
	const char *v = getenv("PGBOUNCER_PROCESSES");
	char *end;
	long k;

	*n = 1;
	if (!v || !*v)
		return EX_OK;
	if (!strcmp(v, "auto")) {
		*n = procs_auto();
		return EX_OK;
	}
	errno = 0;
	k = strtol(v, &end, 10);
	/* digits only: strtol alone takes " 2" and "+2" */
	if (v[0] < '0' || v[0] > '9' || errno || *end || k < 1 || k > LOCAL_MAX_PROCESSES) {
		log_error("PGBOUNCER_PROCESSES must be a number of pgbouncer processes (1-%d) or "
			  "\"auto\" (one per CPU the container may use), got \"%s\"",
			  LOCAL_MAX_PROCESSES, v);
		return EX_CONFIG;
	}
	*n = (int)k;
	return EX_OK;
}

/* The first line of PATH into BUF; false when there is none. */
static bool first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	return ok;
}

/* The cgroup's CPU quota in CPUs, rounded up; 0 when there is none. */
static long cgroup_cpus(void)
{
	char line[128];
	long long quota = 0, period = 0;

	/* v2: "max 100000" or "150000 100000"; the namespace's own cgroup is
	 * the root of /sys/fs/cgroup in a container */
	if (first_line("/sys/fs/cgroup/cpu.max", line, sizeof(line))) {
		if (sscanf(line, "%lld %lld", &quota, &period) != 2)
			return 0; /* "max": no quota */
	} else if (first_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", line, sizeof(line))) {
		quota = atoll(line);
		if (first_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us", line, sizeof(line)))
			period = atoll(line);
	}
	if (quota <= 0 || period <= 0)
		return 0;
	return (long)((quota + period - 1) / period);
}

int procs_auto(void)
{
	cpu_set_t set;
	long n = 1, q = cgroup_cpus();

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (q > 0 && q < n)
		n = q;
	return n < 1 ? 1 : n > LOCAL_MAX_PROCESSES ? LOCAL_MAX_PROCESSES : (int)n;
}

/* [pgbouncer] KEY of TEXT, or DFLT, into OUT. */
static void ini_or(const char *text, const char *key, const char *dflt, struct buf *out)
{
	if (!text || !ini_get(text, "pgbouncer", key, out)) {
		out->len = 0;
		buf_puts(out, dflt);
	}
}

/* The index of the word of COMMAND that is INI, or -1. */
static int ini_word(char *const *command, const char *ini)
{
	for (int i = 1; command[i]; i++)
		if (!strcmp(command[i], ini))
			return i;
	return -1;
}

/* pgbouncer's parser resets every setting to its default at each
 * [pgbouncer] header (libusual's fill_defaults), so a file that includes
 * the rendered one and then opens a [pgbouncer] of its own would lose the
 * rendered settings: each process gets a copy with its own lines at the
 * end of the last [pgbouncer] section instead (ini_section_end). */

static int refuse(int n, const char *why)
{
	log_error("PGBOUNCER_PROCESSES=%d: %s; or set PGBOUNCER_PROCESSES=1", n, why);
	return EX_CONFIG;
}

int procs_check(int n, const char *ini_text, int version, char *const *command, const char *ini)
{
	struct buf dir, port, addr;
	char why[1400];
	int rc = EX_OK;

	if (n <= 1)
		return EX_OK;
	if (version && version < PROCS_MIN_VERSION) {
		snprintf(why, sizeof(why),
			 "pgbouncer %d.%d cannot run as several processes here: it needs 1.23 or "
			 "later (peering came in 1.19, and SHUTDOWN WAIT_FOR_SERVERS, which lets "
			 "drain stop every process without cutting a transaction, in 1.23)",
			 version / 100, version % 100);
		return refuse(n, why);
	}
	if (ini_text && !ini_section_end(ini_text, "pgbouncer"))
		return refuse(n, "pgbouncer.ini has no [pgbouncer] section of its own (each "
				 "process's copy adds its lines there)");
	if (ini_word(command, ini) < 0) {
		snprintf(why, sizeof(why),
			 "each pgbouncer reads a pgbouncer.ini of its own in place of '%s', so "
			 "the command after -- must name that file",
			 ini);
		return refuse(n, why);
	}
	buf_init(&dir);
	buf_init(&port);
	buf_init(&addr);
	ini_or(ini_text, "unix_socket_dir", "/tmp", &dir);
	ini_or(ini_text, "listen_port", "6432", &port);
	ini_or(ini_text, "listen_addr", "", &addr);
	if (!buf_str(&dir)[0])
		rc = refuse(n, "unix_socket_dir is empty, but the processes are told apart (by "
			       "their peers, and by health, reload, drain, metrics and show) on "
			       "Unix sockets of their own: set PGBOUNCER_UNIX_SOCKET_DIR");
	else if (strpbrk(buf_str(&dir), " '\"\\;#"))
		rc = refuse(n, "unix_socket_dir holds a space, quote, backslash, ';' or '#', "
			       "which the [peers] section cannot carry: choose a plainer "
			       "PGBOUNCER_UNIX_SOCKET_DIR");
	else if (strlen(buf_str(&dir)) + 2 * strlen(buf_str(&port)) + 32 >=
		 sizeof(((struct sockaddr_un *)0)->sun_path))
		rc = refuse(
			n,
			"unix_socket_dir is too long for a socket path once each "
			"process's directory is added: choose a shorter PGBOUNCER_UNIX_SOCKET_DIR");
	else if (!buf_str(&addr)[0])
		rc = refuse(n, "listen_addr is empty: without a TCP listener there is nothing "
			       "for the processes to share; set LISTEN_ADDR");
	else if (!strcmp(buf_str(&port), "0"))
		rc = refuse(n, "listen_port 0 is no port the processes can share");
	buf_free(&dir);
	buf_free(&port);
	buf_free(&addr);
	return rc;
}

/* ---- the files of each process ------------------------------------------ */

/* TEXT to PATH as fileio's writers replace a file (a temp file, fsync,
 * rename): a process that reads it sees the old file or the new one. */
static bool write_replace(const char *path, const char *text)
{
	struct file_out f = {path, text, strlen(text)};

	return file_write_set(&f, 1, NULL) == EX_OK;
}

/* DIR made, or there already, and ours: in a sticky /tmp another user may
 * have made it first, or a symlink to elsewhere in its place. */
static bool own_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return false;
	if (lstat(dir, &st) != 0)
		return false;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		errno = EPERM;
		return false;
	}
	return true;
}

int procs_ini(const char *main_text, int n, int i, const struct local *l, struct buf *out)
{
	const char *end = main_text ? ini_section_end(main_text, "pgbouncer") : NULL;

	if (!end)
		return EX_CONFIG;
	buf_printf(out, "%.*s", (int)(end - main_text), main_text);
	if (end > main_text && end[-1] != '\n')
		buf_putc(out, '\n');
	buf_printf(out,
		   ";; pgbouncer-entrypoint: process %d of %d (PGBOUNCER_PROCESSES); what "
		   "follows differs between them\n"
		   "peer_id = %d\n"
		   "unix_socket_dir = " LOCAL_PROCESS_DIR "\n"
		   "so_reuseport = 1\n"
		   "pidfile =\n\n",
		   i, n, i, l->socket_dir, l->port, i);
	buf_puts(out, end);
	if (*end && out->len && out->data[out->len - 1] != '\n')
		buf_putc(out, '\n');
	buf_puts(out, "\n[peers]\n");
	for (int k = 1; k <= n; k++)
		buf_printf(out, "%d = host=" LOCAL_PROCESS_DIR " port=%s\n", k, l->socket_dir,
			   l->port, k, l->port);
	return out->oom ? EX_OSERR : EX_OK;
}

int procs_write(int n, const struct local *l, const char *main_text)
{
	char dir[1200], path[1300];
	struct buf text;
	bool ok = true;

	buf_init(&text);
	for (int i = 1; ok && i <= n; i++) {
		snprintf(dir, sizeof(dir), LOCAL_PROCESS_DIR, l->socket_dir, l->port, i);
		snprintf(path, sizeof(path), "%s/pgbouncer.ini", dir);
		text.len = 0;
		if (procs_ini(main_text, n, i, l, &text) != EX_OK) {
			log_error("cannot write '%s': pgbouncer.ini has no [pgbouncer] section",
				  path);
			buf_free(&text);
			return EX_CONFIG;
		}
		if (!(ok = own_dir(dir)))
			log_error("cannot make '%s' of its own: %s (the run user needs to write in "
				  "unix_socket_dir '%s')",
				  dir, strerror(errno), l->socket_dir);
		else
			ok = write_replace(path, buf_str(&text)); /* says why itself */
	}
	snprintf(path, sizeof(path), LOCAL_PROCESSES_FILE, l->socket_dir, l->port);
	text.len = 0;
	buf_printf(&text, "%d\n", n);
	if (ok)
		ok = write_replace(path, buf_str(&text));
	buf_free(&text);
	return ok ? EX_OK : EX_CANTCREAT;
}

void procs_forget(const struct config *c, const char *config_dir)
{
	char path[1200];
	struct local l;

	local_find(c, config_dir, &l);
	if (!l.socket_dir[0])
		return;
	snprintf(path, sizeof(path), LOCAL_PROCESSES_FILE, l.socket_dir, l.port);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("could not remove '%s' of an earlier start: %s", path, strerror(errno));
}

int procs_start(int n, const struct config *c, const char *config_dir, char *const *command,
		char *const *env, long grace_s)
{
	char ini[4096], words[3][24], *main_text;
	struct local l;
	size_t k = 0, len;
	char **argv;
	int at, rc;

	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", config_dir);
	local_find(c, config_dir, &l);
	if ((at = ini_word(command, ini)) < 0)
		return EX_CONFIG; /* procs_check said so before anything was written */
	while (command[k])
		k++;
	main_text = file_read_text(ini, &len);
	rc = procs_write(n, &l, main_text);
	free(main_text);
	if (rc)
		return rc;
	if (!(argv = calloc(5 + (size_t)n * k + 1, sizeof(char *)))) {
		log_error("out of memory");
		return EX_OSERR;
	}
	snprintf(words[0], sizeof(words[0]), "%d", n);
	snprintf(words[1], sizeof(words[1]), "%zu", k);
	snprintf(words[2], sizeof(words[2]), "%ld", grace_s);
	argv[0] = "pgbouncer-entrypoint";
	argv[1] = "supervise";
	argv[2] = words[0];
	argv[3] = words[1];
	argv[4] = words[2];
	for (int i = 0; i < n; i++) {
		char *own = malloc(1300);
		if (!own) {
			log_error("out of memory");
			return EX_OSERR;
		}
		snprintf(own, 1300, LOCAL_PROCESS_DIR "/pgbouncer.ini", l.socket_dir, l.port,
			 i + 1);
		for (size_t w = 0; w < k; w++)
			argv[5 + i * k + w] = (int)w == at ? own : command[w];
	}
	fflush(NULL);
	execve("/proc/self/exe", argv, env);
	log_error("could not start the supervisor of %d pgbouncers (/proc/self/exe): %s", n,
		  strerror(errno));
	return EX_OSERR;
}

/* ---- PID 1 -------------------------------------------------------------- */

/* A wait status as an exit code: the code, or 128 + the signal. */
static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? EX_SIGNAL_BASE + WTERMSIG(st) : EX_OSERR;
}

struct children {
	int n, live, first_failed; /* 0: none failed yet */
	pid_t pid[LOCAL_MAX_PROCESSES];
	bool stopping;     /* a stop was forwarded, or one failed */
	long long kill_at; /* after a failure: the others' last moment */
};

static void forward(const struct children *ch, int sig)
{
	for (int i = 0; i < ch->n; i++)
		if (ch->pid[i] > 0)
			kill(ch->pid[i], sig);
}

/* Reap every child that has ended (orphans too: this is PID 1). */
static void reap(struct children *ch, long grace_s)
{
	pid_t p;
	int st;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		int i = 0, code = status_code(st);
		while (i < ch->n && ch->pid[i] != p)
			i++;
		if (i == ch->n)
			continue;
		ch->pid[i] = 0;
		ch->live--;
		if (code == 0) {
			/* SHUTDOWN on its console, or a drain: the others go on
			 * (health says one is missing) */
			log_info(
				"supervise: pgbouncer %d of %d (pid %d) exited with 0; %d still run",
				i + 1, ch->n, (int)p, ch->live);
			continue;
		}
		if (ch->first_failed)
			continue;
		ch->first_failed = code;
		if (ch->stopping || !ch->live)
			continue;
		/* SIGINT: each finishes its running transactions, then exits */
		log_error("supervise: pgbouncer %d of %d (pid %d) exited with %d: stopping the "
			  "other %d (SIGINT, they finish their running transactions; SIGKILL after "
			  "%ld s), then exiting with %d",
			  i + 1, ch->n, (int)p, code, ch->live, grace_s, code);
		ch->stopping = true;
		ch->kill_at = deadline_now() + grace_s * 1000LL;
		forward(ch, SIGINT);
	}
}

/* Start the K words at CMD (the next process's follow them). */
static pid_t start_one(char *const *cmd, long k, const sigset_t *old)
{
	pid_t parent = getpid(), p = fork();

	if (p == 0) {
		char *argv[k + 1];
		memcpy(argv, cmd, (size_t)k * sizeof(char *));
		argv[k] = NULL;
		/* its own process group: a terminal's ^C reaches it once,
		 * through us, not twice (a second SIGINT is an immediate exit) */
		setpgid(0, 0);
		/* Outside a PID namespace nothing ends the pgbouncers when we
		 * are killed (kill -9, the OOM killer): they would go on
		 * serving the shared port with nobody to stop or reload them,
		 * beside the ones a restarted run starts.  Each gets the safe
		 * shutdown a failed sibling gives; kept across exec, as no
		 * credential changes after this (the drop came before). */
		if (prctl(PR_SET_PDEATHSIG, SIGINT) != 0 || getppid() != parent)
			_exit(EX_OSERR);
		sigprocmask(SIG_SETMASK, old, NULL);
		_exit(launch_exec(argv, environ));
	}
	return p;
}

int procs_supervise(char *const *args)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT, SIGCHLD};
	struct children ch = {0};
	long k = 0, grace_s = 0, have = 0;
	sigset_t set, old;

	if (args && args[0] && args[1] && args[2]) {
		ch.n = atoi(args[0]);
		k = atol(args[1]);
		grace_s = atol(args[2]);
	}
	while (args && args[have])
		have++;
	if (ch.n < 1 || ch.n > LOCAL_MAX_PROCESSES || k < 1 || have != 3 + ch.n * k) {
		log_error("supervise is started by run with PGBOUNCER_PROCESSES > 1, not by hand");
		return EX_USAGE;
	}
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (int i = 0; i < ch.n; i++) {
		char *const *cmd = args + 3 + i * k;
		if ((ch.pid[i] = start_one(cmd, k, &old)) < 0) {
			log_error("supervise: cannot start pgbouncer %d: %s", i + 1,
				  strerror(errno));
			ch.pid[i] = 0;
			ch.first_failed = EX_OSERR;
			forward(&ch, SIGINT);
			break;
		}
		ch.live++;
		log_info("supervise: pgbouncer %d of %d: pid %d, %s", i + 1, ch.n, (int)ch.pid[i],
			 cmd[k - 1]);
	}
	while (ch.live > 0) {
		struct timespec ts = {1, 0};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGCHLD)
			reap(&ch, grace_s);
		else if (sig > 0) {
			forward(&ch, sig);
			ch.stopping |= sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
		}
		if (ch.kill_at && deadline_now() >= ch.kill_at && ch.live > 0) {
			log_error(
				"supervise: %d pgbouncer(s) still running %ld s after the failure: "
				"SIGKILL",
				ch.live, grace_s);
			forward(&ch, SIGKILL);
			ch.kill_at = 0;
		}
	}
	return ch.first_failed;
}
