/*
 * pgbouncer-entrypoint: render pgbouncer.ini and userlist.txt from the
 * environment, fix ownership, wait for the upstream, exec pgbouncer.
 *
 * main() is the list of phases; each lives in its own module and returns a
 * status (include/exitcodes.h).  Only main turns a status into the exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "about.h"
#include "cli.h"
#include "config.h"
#include "deadline.h"
#include "dirlock.h"
#include "drain.h"
#include "env.h"
#include "exitcodes.h"
#include "fileio.h"
#include "health.h"
#include "launch.h"
#include "learn.h"
#include "log.h"
#include "metrics.h"
#include "metrics_server.h"
#include "pipeline.h"
#include "plan.h"
#include "privs.h"
#include "reload.h"
#include "safefile.h"
#include "show.h"
#include "unknown.h"
#include "userlist_form.h"
#include "vars.h"
#include "version.h"
#include "wait.h"
#include "watch.h"

extern char **environ;

static int print_info(enum command cmd)
{
	if (cmd == CMD_HELP)
		cli_help();
	else if (cmd == CMD_VERSION)
		about_versions(stdout);
	else if (cmd == CMD_METRICS_DOC)
		metrics_doc();
	else
		cli_settings_doc();
	return EX_OK;
}

/* The commands that only read the model. */
static int report(const struct options *o, const struct state *s)
{
	struct buf out;

	if (o->cmd == CMD_HEALTH)
		return health_check(&s->cfg, o->config_dir, o->deep);
	if (o->cmd == CMD_METRICS)
		return metrics_serve(&s->cfg, o->config_dir, o->listen);
	buf_init(&out);
	client_urls(&s->cfg, o->host, &out);
	fputs(buf_str(&out) ? buf_str(&out) : "", stdout);
	buf_free_secret(&out);
	return out.oom ? EX_OSERR : EX_OK;
}

static int hand_off(const struct options *o, struct state *s)
{
	char **env = launch_scrub_env(environ);

	if (!env) {
		log_error("out of memory");
		return EX_OSERR;
	}
	env_free(&s->env);
	launch_raise_nofile(launch_fd_need(&s->cfg));
	fflush(NULL);
	return launch_exec(command_of(o), env);
}

/* A writer waits for another this long at most when it has no wait of its
 * own (--wait-timeout 0). */
#define LOCK_WAIT_S 10

/* Does CMD change the config directory (and so take its lock)? */
static bool locks_dir(enum command cmd)
{
	return writes_files(cmd) && cmd != CMD_CHECK;
}

static int act(const struct options *o, struct state *s, int *lock);

static int run_command(const struct options *o, struct state *s)
{
	long wait_s = o->wait_timeout > 0 ? o->wait_timeout : LOCK_WAIT_S;
	int lock = -1, rc;

	if ((rc = runas_resolve(o->user, &s->runas)))
		return rc;
	/* as root, every file is opened under the rules of safefile.h */
	safefile_guard(&s->runas);
	if (o->cmd == CMD_DRAIN)
		return drain_run(o, &s->runas);
	if (o->cmd == CMD_SHOW || o->cmd == CMD_CONSOLE)
		return show_run(o, &s->runas);
	/* one writer at a time, from the first read of the directory to
	 * pgbouncer's RELOAD: dirlock.h */
	if (locks_dir(o->cmd) &&
	    (rc = dirlock_take(o->config_dir, now_ms() + wait_s * 1000LL, &lock)))
		return rc;
	rc = act(o, s, &lock);
	dirlock_release(lock);
	return rc;
}

/* The command itself, with the directory's lock (-1 when it takes none),
 * which it lets go of once the files are in place. */
static int act(const struct options *o, struct state *s, int *lock)
{
	int rc;

	if ((rc = load_model(o, s)))
		return rc;
	if (o->cmd == CMD_RELOAD)
		return reload_run(o, s);
	/* health and metrics talk to the admin console as pgbouncer's own uid */
	if ((o->cmd == CMD_HEALTH || o->cmd == CMD_METRICS) && (rc = runas_drop(&s->runas)))
		return rc;
	if (o->cmd == CMD_HEALTH || o->cmd == CMD_CLIENT_URL || o->cmd == CMD_METRICS)
		return report(o, s);
	if (writes_files(o->cmd)) {
		if ((rc = validate(o, s)))
			return rc;
		if (o->cmd == CMD_CHECK) {
			plan_print(&s->plan);
			userlist_explain(&s->plan, &s->cfg, o->userlist_plaintext, o->wait_timeout,
					 s->pgbouncer_release);
			fprintf(stderr, "pgbouncer-entrypoint: configuration OK\n");
			return EX_OK;
		}
		if ((rc = login_phase(o, s)))
			return rc;
		/* atomic, 0600, owned by the run user */
		if ((rc = plan_write(&s->plan, o->config_dir, &s->runas)))
			return rc;
		drain_clear(o->config_dir); /* a new start is not draining */
		dirlock_release(*lock);     /* the files are in place: the next writer may go */
		*lock = -1;
		if (o->cmd == CMD_RENDER)
			return rc;
	}
	/* never root from here on; the wait command waits here */
	if ((rc = runas_drop(&s->runas)) || (o->cmd == CMD_WAIT && (rc = wait_phase(o, s))) ||
	    o->cmd != CMD_RUN)
		return rc;
	/* exec: pgbouncer becomes this process (PID 1 in a container) */
	return hand_off(o, s);
}

/* watch: one reload, in the child that watch forks */
static int reload_once(const struct options *o)
{
	struct options r = *o;
	struct state st;
	int rc;

	memset(&st, 0, sizeof(st));
	r.cmd = CMD_RELOAD;
	rc = run_command(&r, &st);
	state_free(&st);
	return rc;
}

int main(int argc, char **argv)
{
	struct rlimit no_core = {0, 0};
	struct options opt;
	struct state st;
	int rc;

	/* no core file may ever hold a secret this process reads */
	setrlimit(RLIMIT_CORE, &no_core);
	memset(&st, 0, sizeof(st));
	if ((rc = cli_parse(argc, argv, &opt)))
		return rc;
	if (opt.cmd == CMD_HELP || opt.cmd == CMD_VERSION || opt.cmd == CMD_SETTINGS_DOC ||
	    opt.cmd == CMD_METRICS_DOC)
		return print_info(opt.cmd);
	if (opt.cmd == CMD_WATCH)
		return watch_run(&opt, reload_once);
	rc = run_command(&opt, &st);
	state_free(&st);
	/* Docker's HEALTHCHECK and Kubernetes probes read 0 and 1 only */
	return opt.cmd == CMD_HEALTH && rc ? EX_UNHEALTHY : rc;
}
