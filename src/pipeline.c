#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>

#include "exitcodes.h"
#include "fileio.h"
#include "launch.h"
#include "learn.h"
#include "log.h"
#include "unknown.h"
#include "userlist_form.h"
#include "vars.h"
#include "wait.h"

extern char **environ;

bool writes_files(enum command cmd)
{
	return cmd == CMD_RUN || cmd == CMD_RENDER || cmd == CMD_INIT || cmd == CMD_CHECK ||
	       cmd == CMD_RELOAD;
}

char **command_of(const struct options *o)
{
	static char ini[4096];
	static char *dflt[] = {"pgbouncer", ini, NULL};

	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", o->config_dir);
	return o->command ? o->command : dflt;
}

int load_model(const struct options *o, struct state *s)
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
	rc = config_build(&s->cfg, &s->env, o->config_dir, need_upstream);
	s->cfg.upstream_auth = o->upstream_auth;
	return rc;
}

/* The pgbouncer the files are for: the one `run` will exec, or (reload)
 * the one that answers on the admin console.  *VERSION 0 checks nothing.
 * run and check keep its release (S->pgbouncer_release) for the userlist
 * form. */
static int target_version(const struct options *o, struct state *s, int *version)
{
	/* the probe gets 5 s, or the wait's timeout when that is shorter */
	long probe_ms = o->wait_timeout > 0 && o->wait_timeout < 5 ? o->wait_timeout * 1000 : 5000;

	*version = 0;
	if (o->cmd == CMD_RELOAD)
		*version = s->pgbouncer_version;
	else if (o->cmd == CMD_RUN || o->cmd == CMD_CHECK) {
		int rc = launch_pgbouncer_version(command_of(o), environ, &s->runas, probe_ms,
						  version, &s->pgbouncer_release);
		if (rc != EX_NOTFOUND)
			return rc;
		/* run's exec says so with 127 after the wait; check is asked now */
		if (o->cmd == CMD_RUN)
			return EX_OK;
		log_error("check: \"%s\" is not on PATH (%s): run could not start it; install "
			  "pgbouncer or add its directory to PATH",
			  command_of(o)[0], getenv("PATH") ? getenv("PATH") : "unset");
		return EX_NOTFOUND;
	}
	return EX_OK;
}

int validate(const struct options *o, struct state *s)
{
	int rc, version = 0;

	/* a setting newer than the pgbouncer that will run is fatal to it at
	 * startup: say so now, naming the variable, before anything is written;
	 * the version also decides the defaults that need a newer pgbouncer,
	 * so it is known before the files are built */
	if (!s->plan.user_ini && ((rc = target_version(o, s, &version)) ||
				  (rc = config_check_version(&s->cfg, version))))
		return rc;
	if ((rc = config_version_defaults(&s->cfg, version)) ||
	    (rc = plan_build(&s->plan, &s->cfg, &s->env, o->cmd == CMD_CHECK)))
		return rc;
	return plan_check_supplied(&s->plan, &s->runas);
}

int wait_phase(const struct options *o, const struct state *s)
{
	struct runas none = {.set = false}; /* dropped already */
	struct learned waited;

	/* the login phase without the learning: in a child that the deadline
	 * and a stop end even inside libpq's PBKDF2 (learn.h) */
	return learn_phase(&s->cfg, s->plan.userlist_md5, o->wait_timeout, false, &none, &waited);
}

int login_phase(const struct options *o, struct state *s)
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
	return userlist_apply(&s->plan, &s->cfg, &learned, o->userlist_plaintext,
			      s->pgbouncer_release);
}

void state_free(struct state *s)
{
	plan_free(&s->plan);
	config_free(&s->cfg);
	env_free(&s->env);
}
