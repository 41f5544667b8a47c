/* The phases `run` goes through, shared by every command that renders:
 * run, render, init, check, and reload (which runs them again against a
 * live pgbouncer).  One code path, so whatever `run` learns on its way
 * (validation, the login proof, how the userlist is written) `reload`
 * learns too. */
#ifndef PGBE_PIPELINE_H
#define PGBE_PIPELINE_H

#include <stdbool.h>

#include "base/runas.h"
#include "cmd/cli.h"
#include "model/config.h"
#include "model/env.h"
#include "text/plan.h"

/* Everything a command builds on its way; freed by pipeline_state_free. */
struct state {
	struct runas runas;
	struct env env;
	struct config cfg;
	struct plan plan;
	int pgbouncer_version; /* reload: the running pgbouncer's, as 124 for 1.24 */
	int pgbouncer_release; /* run, check: the one on PATH, as 12501 for 1.25.1; 0 unknown */
};

/* Does CMD render and write pgbouncer.ini and userlist.txt? */
bool pipeline_writes_files(enum command cmd);

/* COMMAND, or the default: pgbouncer CONFIG_DIR/pgbouncer.ini */
char **pipeline_command(const struct options *o);

/* The environment, with every <NAME>_FILE read (as the caller: root reads
 * secrets that only root may read), validated into the model. */
int pipeline_load_model(const struct options *o, struct state *s);

/* Everything `run` checks before writing, and nothing it writes. */
int pipeline_validate(const struct options *o, struct state *s);

/* A real login to every upstream before --wait-timeout (the wait command). */
int pipeline_wait(const struct options *o, const struct state *s);

/* run, init and reload log in before writing: the wait, and the server's
 * SCRAM secret for userlist.txt, so no plaintext password is ever at rest
 * where the secret serves (issue 10).  render logs in nowhere. */
int pipeline_login(const struct options *o, struct state *s);

void pipeline_state_free(struct state *s);

/* What a command needs, as phases pipeline_run goes through in this order. */
enum pipeline_needs {
	NEEDS_RUNAS = 1 << 0, /* the run user; as root, safefile.h's rules from here on */
	NEEDS_LOCK = 1 << 1,  /* the config directory's lock (dirlock.h), one writer at a time */
	NEEDS_MODEL = 1 << 2, /* the environment, read and checked into the model */
	NEEDS_WRITE = 1 << 3, /* validated, logged in, the pair written (then the lock goes) */
	NEEDS_DROP = 1 << 4,  /* never root from here on */
	NEEDS_EXEC = 1 << 5,  /* pgbouncer becomes this process (PID 1 in a container) */
};

/* A command's own work, after the phases it needs. */
typedef int (*pipeline_step)(const struct options *o, struct state *s);

/* One row of main's command table. */
struct pipeline {
	enum command cmd;
	unsigned needs;     /* enum pipeline_needs */
	pipeline_step step; /* NULL: the phases are the whole command */
};

/* The phases P needs, then its step; a status. */
int pipeline_run(const struct pipeline *p, const struct options *o, struct state *s);

#endif
