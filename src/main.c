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
#include "log.h"
#include "plan.h"
#include "privs.h"
#include "version.h"

extern char **environ;

int main(int argc, char **argv)
{
	struct options opt;
	struct runas runas;
	struct env env;
	struct config cfg;
	struct plan plan;
	int rc;

	/* 1. arguments */
	if ((rc = cli_parse(argc, argv, &opt)))
		return rc;
	switch (opt.cmd) {
	case CMD_HELP:
		cli_help();
		return 0;
	case CMD_VERSION:
		printf("pgbouncer-entrypoint %s\n", PGBE_VERSION);
		return 0;
	case CMD_SETTINGS_DOC:
		cli_settings_doc();
		return 0;
	default:
		break;
	}
	if ((rc = runas_resolve(opt.user, &runas)))
		return rc;

	/* 2. environment, with <NAME>_FILE secrets read */
	if ((rc = env_load(&env, (const char *const *)environ, env_read_file,
			   config_file_capable)) ||
	    (rc = config_check_unknown(&env)))
		return rc;

	/* 3. validate into the model; a user's own pgbouncer.ini or template
	 * makes the upstream variables optional */
	plan_probe(&plan, opt.config_dir);
	if ((rc = config_build(&cfg, &env, opt.config_dir, !plan.user_ini)))
		return rc;

	/* 4. render everything before writing anything */
	if ((rc = plan_build(&plan, &cfg, &env, opt.cmd == CMD_CHECK)))
		return rc;
	if (opt.cmd == CMD_CHECK) {
		plan_print(&plan);
		fprintf(stderr, "pgbouncer-entrypoint: configuration OK\n");
		return 0;
	}

	/* 5. write: atomic, 0600, owned by the run user */
	if ((rc = plan_write(&plan, opt.config_dir, &runas)))
		return rc;
	plan_free(&plan);
	if (opt.cmd == CMD_RENDER)
		return 0;

	log_error("this command is not available in this version");
	return 64;
}
