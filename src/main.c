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
#include "env.h"
#include "exitcodes.h"
#include "fileio.h"
#include "health.h"
#include "launch.h"
#include "learn.h"
#include "log.h"
#include "metrics.h"
#include "metrics_server.h"
#include "plan.h"
#include "privs.h"
#include "safefile.h"
#include "unknown.h"
#include "userlist_form.h"
#include "vars.h"
#include "version.h"
#include "wait.h"

extern char **environ;

/* Everything a command builds on its way; freed by state_free. */
struct state {
	struct runas runas;
	struct env env;
	struct config cfg;
	struct plan plan;
};

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

static bool writes_files(enum command cmd)
{
	return cmd == CMD_RUN || cmd == CMD_RENDER || cmd == CMD_INIT || cmd == CMD_CHECK;
}

/* COMMAND, or the default: pgbouncer CONFIG_DIR/pgbouncer.ini */
static char **command_of(const struct options *o)
{
	static char ini[4096];
	static char *dflt[] = {"pgbouncer", ini, NULL};

	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", o->config_dir);
	return o->command ? o->command : dflt;
}

/* The environment, with every <NAME>_FILE read (as the caller: root reads
 * secrets that only root may read), validated into the model. */
static int load_model(const struct options *o, struct state *s)
{
	bool need_upstream;
	int rc;

	if ((rc = env_load(&s->env, (const char *const *)environ, file_read, vars_file_capable)) ||
	    (rc = unknown_check(&s->env)))
		return rc;
	/* a user's own pgbouncer.ini or template makes the upstream optional;
	 * health --deep needs only the user and password of the upstream */
	plan_probe(&s->plan, o->config_dir);
	need_upstream = writes_files(o->cmd) ? !s->plan.user_ini
					      : o->cmd != CMD_HEALTH && o->cmd != CMD_METRICS;
	return config_build(&s->cfg, &s->env, o->config_dir, need_upstream);
}

/* Everything `run` checks before writing, and nothing it writes: `check`
 * stops after this and prints the plan. */
static int validate(const struct options *o, struct state *s)
{
	/* the probe gets 5 s, or the wait's timeout when that is shorter */
	long probe_ms = o->wait_timeout > 0 && o->wait_timeout < 5 ? o->wait_timeout * 1000 : 5000;
	int rc, version;

	if ((rc = plan_build(&s->plan, &s->cfg, &s->env, o->cmd == CMD_CHECK)))
		return rc;
	/* a setting newer than the pgbouncer that will run is fatal to it at
	 * startup: say so now, naming the variable, before anything is written */
	if ((o->cmd == CMD_RUN || o->cmd == CMD_CHECK) && !s->plan.user_ini &&
	    ((rc = launch_pgbouncer_version(command_of(o), environ, &s->runas, probe_ms,
					    &version)) ||
	     (rc = config_check_version(&s->cfg, version))))
		return rc;
	return plan_check_supplied(&s->plan, &s->runas);
}

static int wait_phase(const struct options *o, const struct state *s)
{
	int rc;

	if ((rc = wait_check_not_self(&s->cfg)))
		return rc;
	if (o->wait_timeout == 0 || s->cfg.nup == 0) {
		if (s->cfg.nup == 0)
			log_info("no upstream in the environment: not waiting");
		return EX_OK;
	}
	wait_install_signals();
	rc = wait_upstreams(&s->cfg, s->plan.userlist_md5, o->wait_timeout);
	wait_restore_signals();
	return rc;
}

/* run and init log in before writing: the wait, and the server's SCRAM
 * secret for userlist.txt, so no plaintext password is ever at rest where
 * the secret serves (issue 10).  render logs in nowhere. */
static int login_phase(const struct options *o, struct state *s)
{
	static struct learned learned;
	int rc;

	if (o->cmd == CMD_RENDER) {
		userlist_note_render(&s->plan);
		return EX_OK;
	}
	if ((rc = learn_phase(&s->cfg, s->plan.userlist_md5, o->wait_timeout,
			      !o->userlist_plaintext, &s->runas, &learned)))
		return rc;
	return userlist_apply(&s->plan, &s->cfg, &learned, o->userlist_plaintext);
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

static int run_command(const struct options *o, struct state *s)
{
	int rc;

	if ((rc = runas_resolve(o->user, &s->runas)))
		return rc;
	/* as root, every file is opened under the rules of safefile.h */
	safefile_guard(&s->runas);
	if ((rc = load_model(o, s)))
		return rc;
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
			userlist_explain(&s->plan, &s->cfg, o->userlist_plaintext, o->wait_timeout);
			fprintf(stderr, "pgbouncer-entrypoint: configuration OK\n");
			return EX_OK;
		}
		if ((rc = login_phase(o, s)))
			return rc;
		/* atomic, 0600, owned by the run user */
		if ((rc = plan_write(&s->plan, o->config_dir, &s->runas)) || o->cmd == CMD_RENDER)
			return rc;
	}
	/* never root from here on; the wait command waits here */
	if ((rc = runas_drop(&s->runas)) || (o->cmd == CMD_WAIT && (rc = wait_phase(o, s))) ||
	    o->cmd != CMD_RUN)
		return rc;
	/* exec: pgbouncer becomes this process (PID 1 in a container) */
	return hand_off(o, s);
}

static void state_free(struct state *s)
{
	plan_free(&s->plan);
	config_free(&s->cfg);
	env_free(&s->env);
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
	rc = run_command(&opt, &st);
	state_free(&st);
	/* Docker's HEALTHCHECK and Kubernetes probes read 0 and 1 only */
	return opt.cmd == CMD_HEALTH && rc ? EX_UNHEALTHY : rc;
}
