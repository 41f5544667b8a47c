#include "cmd/pipeline.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "base/runas.h"
#include "cmd/drain.h"
#include "cmd/launch.h"
#include "cmd/procs.h"
#include "files/dirlock.h"
#include "files/fileio.h"
#include "files/safefile.h"
#include "learn/learn.h"
#include "learn/userlist.h"
#include "model/model.h"
#include "model/unknown.h"
#include "model/vars.h"

extern char **environ;

bool pipeline_writes_files(enum command cmd)
{
	return cmd == CMD_RUN || cmd == CMD_RENDER || cmd == CMD_INIT || cmd == CMD_CHECK ||
	       cmd == CMD_RELOAD;
}

char **pipeline_command(const struct options *o)
{
	static char ini[4096];
	static char *dflt[] = {"pgbouncer", ini, NULL};

	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", o->config_dir);
	return o->command ? o->command : dflt;
}

int pipeline_load_model(const struct options *o, struct state *s)
{
	bool need_upstream;
	int rc;

	if ((rc = env_load(&s->env, (const char *const *)environ, file_read, vars_file_capable)) ||
	    (rc = unknown_check(&s->env)))
		return rc;
	/* a user's own pgbouncer.ini or template makes the upstream optional;
	 * health --deep needs only the user and password of the upstream */
	plan_probe(&s->plan, o->config_dir);
	need_upstream = pipeline_writes_files(o->cmd)
				? !s->plan.user_ini
				: o->cmd != CMD_HEALTH && o->cmd != CMD_METRICS;
	rc = model_build(&s->cfg, &s->env, o->config_dir, need_upstream);
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
		int rc = launch_pgbouncer_version(pipeline_command(o), environ, &s->runas, probe_ms,
						  version, &s->pgbouncer_release);
		if (rc != EX_NOTFOUND)
			return rc;
		/* run's exec says so with 127 after the wait; check is asked now */
		if (o->cmd == CMD_RUN)
			return EX_OK;
		log_error("check: \"%s\" is not on PATH (%s): run could not start it; install "
			  "pgbouncer or add its directory to PATH",
			  pipeline_command(o)[0], getenv("PATH") ? getenv("PATH") : "unset");
		return EX_NOTFOUND;
	}
	return EX_OK;
}

/* PGBOUNCER_PROCESSES > 1 against the pgbouncer.ini about to be written
 * (or the user's own). */
static int processes_check(const struct options *o, const struct state *s, int version)
{
	char ini[4096];
	size_t len = 0;
	char *own = NULL;
	const char *text = s->plan.ini.content.data;
	int rc;

	if (o->processes <= 1)
		return EX_OK;
	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", o->config_dir);
	if (!text)
		text = own = file_read_text(ini, &len);
	rc = procs_check(o->processes, text, version, pipeline_command(o), ini);
	free(own);
	return rc;
}

int pipeline_validate(const struct options *o, struct state *s)
{
	int rc, version = 0;

	/* a setting newer than the pgbouncer that will run is fatal to it at
	 * startup: say so now, naming the variable, before anything is written;
	 * the version also decides the defaults that need a newer pgbouncer,
	 * so it is known before the files are built */
	if ((!s->plan.user_ini || o->processes > 1) && (rc = target_version(o, s, &version)))
		return rc;
	if (!s->plan.user_ini && (rc = config_check_version(&s->cfg, version)))
		return rc;
	if ((rc = config_version_defaults(&s->cfg, version)) ||
	    (rc = plan_build(&s->plan, &s->cfg, &s->env, o->cmd == CMD_CHECK)) ||
	    (rc = processes_check(o, s, version)))
		return rc;
	return plan_check_supplied(&s->plan, &s->runas);
}

int pipeline_wait(const struct options *o, const struct state *s)
{
	struct runas none = {.set = false}; /* dropped already */
	struct learned waited;

	/* the login phase without the learning: in a child that the deadline
	 * and a stop end even inside libpq's PBKDF2 (learn.h) */
	return learn_phase(&s->cfg, s->plan.userlist_md5, o->wait_timeout, false, &none, &waited);
}

int pipeline_login(const struct options *o, struct state *s)
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

void pipeline_state_free(struct state *s)
{
	plan_free(&s->plan);
	config_free(&s->cfg);
	env_free(&s->env);
}

/* A writer waits for another this long at most when it has no wait of its
 * own (--wait-timeout 0). */
#define LOCK_WAIT_S 10

/* The files, checked, logged in for and written; then the next writer may
 * go (*LOCK let go of). */
static int write_phase(const struct options *o, struct state *s, int *lock)
{
	int rc;

	if ((rc = pipeline_validate(o, s)) || (rc = pipeline_login(o, s)))
		return rc;
	/* atomic, 0600, owned by the run user */
	if ((rc = plan_write(&s->plan, o->config_dir, &s->runas)))
		return rc;
	drain_clear(o->config_dir); /* a new start is not draining */
	dirlock_release(*lock);
	*lock = -1;
	return EX_OK;
}

/* exec: pgbouncer becomes this process, with no secret in its environment */
static int hand_off(const struct options *o, struct state *s)
{
	char **env = launch_scrub_env(environ);

	if (!env) {
		log_error("out of memory");
		return EX_OSERR;
	}
	env_free(&s->env);
	launch_raise_nofile(launch_fd_need(&s->cfg));
	if (o->processes > 1)
		return procs_start(o->processes, &s->cfg, o->config_dir, pipeline_command(o), env,
				   o->drain_timeout);
	procs_forget(&s->cfg, o->config_dir);
	fflush(NULL);
	return launch_exec(pipeline_command(o), env);
}

static int phases(const struct pipeline *p, const struct options *o, struct state *s, int *lock)
{
	int rc;

	if ((p->needs & NEEDS_MODEL) && (rc = pipeline_load_model(o, s)))
		return rc;
	if ((p->needs & NEEDS_WRITE) && (rc = write_phase(o, s, lock)))
		return rc;
	if ((p->needs & NEEDS_DROP) && (rc = runas_drop(&s->runas)))
		return rc;
	if (p->step && (rc = p->step(o, s)))
		return rc;
	return p->needs & NEEDS_EXEC ? hand_off(o, s) : EX_OK;
}

int pipeline_run(const struct pipeline *p, const struct options *o, struct state *s)
{
	long wait_s = o->wait_timeout > 0 ? o->wait_timeout : LOCK_WAIT_S;
	int lock = -1, rc;

	if (p->needs & NEEDS_RUNAS) {
		if ((rc = runas_resolve(o->user, &s->runas)))
			return rc;
		safefile_guard(&s->runas);
	}
	/* from the first read of the directory to pgbouncer's RELOAD */
	if ((p->needs & NEEDS_LOCK) &&
	    (rc = dirlock_take(o->config_dir, deadline_now() + wait_s * 1000LL, &lock)))
		return rc;
	rc = phases(p, o, s, &lock);
	dirlock_release(lock);
	return rc;
}
