/*
 * pgbouncer-entrypoint: render pgbouncer.ini and userlist.txt from the
 * environment, fix ownership, wait for the upstream, exec pgbouncer.
 *
 * main() is the list of phases; each lives in its own module and returns a
 * status.  Only main decides the exit code (sysexits.h values, see --help).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "env.h"
#include "health.h"
#include "launch.h"
#include "log.h"
#include "plan.h"
#include "privs.h"
#include "version.h"
#include "wait.h"

extern char **environ;

static int print_info(enum command cmd)
{
	if (cmd == CMD_HELP)
		cli_help();
	else if (cmd == CMD_VERSION)
		printf("pgbouncer-entrypoint %s\n", PGBE_VERSION);
	else
		cli_settings_doc();
	return 0;
}

/* The commands that only read the model. */
static int report(const struct options *o, const struct config *c)
{
	struct buf out;

	if (o->cmd == CMD_HEALTH)
		return health_check(c, o->config_dir, o->deep);
	buf_init(&out);
	client_urls(c, o->host, &out);
	fputs(buf_str(&out) ? buf_str(&out) : "", stdout);
	buf_free_secret(&out);
	return 0;
}

static int wait_phase(const struct options *o, const struct config *c)
{
	int rc;

	if ((rc = wait_check_not_self(c)))
		return rc;
	if (o->wait_timeout == 0 || c->nup == 0) {
		if (c->nup == 0)
			log_info("no upstream in the environment: not waiting");
		return 0;
	}
	wait_install_signals();
	rc = wait_upstreams(c, o->wait_timeout);
	wait_restore_signals();
	return rc;
}

/* COMMAND, or the default: pgbouncer CONFIG_DIR/pgbouncer.ini */
static char **command_of(const struct options *o)
{
	static char ini[4096];
	static char *dflt[] = {"pgbouncer", ini, NULL};

	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", o->config_dir);
	return o->command ? o->command : dflt;
}

/* A setting newer than the pgbouncer that will run is fatal to it at
 * startup: say so now, naming the variable, before anything is written. */
static int check_target_version(const struct options *o, const struct config *c)
{
	return config_check_version(c, launch_pgbouncer_version(command_of(o), environ));
}

static int hand_off(const struct options *o, const struct config *c)
{
	char **env = launch_scrub_env(environ);

	if (!env)
		return 71;
	launch_raise_nofile(launch_fd_need(c));
	fflush(NULL);
	return launch_exec(command_of(o), env);
}

int main(int argc, char **argv)
{
	struct options opt;
	struct runas runas;
	struct env env;
	struct config cfg;
	struct plan plan;
	bool writes;
	int rc;

	/* 1. arguments */
	if ((rc = cli_parse(argc, argv, &opt)))
		return rc;
	if (opt.cmd == CMD_HELP || opt.cmd == CMD_VERSION || opt.cmd == CMD_SETTINGS_DOC)
		return print_info(opt.cmd);
	if ((rc = runas_resolve(opt.user, &runas)))
		return rc;
	/* health talks to the admin console as pgbouncer's own uid */
	if (opt.cmd == CMD_HEALTH && (rc = runas_drop(&runas)))
		return 1;

	/* 2. environment, with <NAME>_FILE secrets read */
	if ((rc = env_load(&env, (const char *const *)environ, env_read_file,
			   config_file_capable)) ||
	    (rc = config_check_unknown(&env)))
		return opt.cmd == CMD_HEALTH ? 1 : rc;

	/* 3. validate into the model; a user's own pgbouncer.ini or template
	 * makes the upstream variables optional */
	writes = opt.cmd == CMD_RUN || opt.cmd == CMD_RENDER || opt.cmd == CMD_INIT ||
		 opt.cmd == CMD_CHECK;
	plan_probe(&plan, opt.config_dir);
	/* health --deep needs only the user and password of the upstream */
	if ((rc = config_build(&cfg, &env, opt.config_dir,
			       writes ? !plan.user_ini : opt.cmd != CMD_HEALTH)))
		return opt.cmd == CMD_HEALTH ? 1 : rc;
	if (!writes && opt.cmd != CMD_WAIT)
		return report(&opt, &cfg);

	if (writes) {
		/* 4. render everything before writing anything */
		if ((rc = plan_build(&plan, &cfg, &env, opt.cmd == CMD_CHECK)))
			return rc;
		if (opt.cmd == CMD_CHECK) {
			plan_print(&plan);
			fprintf(stderr, "pgbouncer-entrypoint: configuration OK\n");
			return 0;
		}
		/* 5. write: atomic, 0600, owned by the run user */
		if (opt.cmd == CMD_RUN && !plan.user_ini && (rc = check_target_version(&opt, &cfg)))
			return rc;
		rc = plan_write(&plan, opt.config_dir, &runas);
		plan_free(&plan);
		if (rc || opt.cmd == CMD_RENDER)
			return rc;
	}

	/* 6. never root from here on, then wait for a real login */
	if ((rc = runas_drop(&runas)) || (rc = wait_phase(&opt, &cfg)))
		return rc;
	if (opt.cmd != CMD_RUN)
		return 0;

	/* 7. exec: pgbouncer becomes this process (PID 1 in a container) */
	env_free(&env);
	return hand_off(&opt, &cfg);
}
