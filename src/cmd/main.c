/*
 * pgbouncer-entrypoint: render pgbouncer.ini and userlist.txt from the
 * environment, fix ownership, wait for the upstream, exec pgbouncer.
 *
 * main() is a short list of phases.  Each command is one row of the table
 * below: the phases it needs (cmd/pipeline.h) and its own step.  Every
 * phase and step returns a status (base/exitcodes.h); only main turns a
 * status into the exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "cmd/about.h"
#include "cmd/cli.h"
#include "cmd/drain.h"
#include "cmd/health.h"
#include "cmd/pipeline.h"
#include "cmd/procs.h"
#include "cmd/reload.h"
#include "cmd/show.h"
#include "cmd/watch.h"
#include "http/metrics.h"
#include "http/metrics_server.h"
#include "learn/userlist.h"
#include "text/plan.h"

/* ---- each command's own step ------------------------------------------- */

static int help(const struct options *o, struct state *s)
{
	(void)o, (void)s;
	cli_help();
	return EX_OK;
}

static int version(const struct options *o, struct state *s)
{
	(void)o, (void)s;
	about_versions(stdout);
	return EX_OK;
}

static int settings_doc(const struct options *o, struct state *s)
{
	(void)o, (void)s;
	cli_settings_doc();
	return EX_OK;
}

static int metrics_doc_step(const struct options *o, struct state *s)
{
	(void)o, (void)s;
	metrics_doc();
	return EX_OK;
}

/* check: everything run checks, printed, nothing written */
static int check(const struct options *o, struct state *s)
{
	int rc;

	if ((rc = pipeline_validate(o, s)))
		return rc;
	plan_print(&s->plan);
	if (getenv("PGBOUNCER_PROCESSES"))
		fprintf(stderr,
			"pgbouncer-entrypoint: PGBOUNCER_PROCESSES=%s: %d pgbouncer process%s\n",
			getenv("PGBOUNCER_PROCESSES"), o->processes, o->processes == 1 ? "" : "es");
	userlist_explain(&s->plan, &s->cfg, o->userlist_plaintext, o->wait_timeout,
			 s->pgbouncer_release);
	fprintf(stderr, "pgbouncer-entrypoint: configuration OK\n");
	return EX_OK;
}

static int wait_step(const struct options *o, struct state *s)
{
	return pipeline_wait(o, s);
}

static int health(const struct options *o, struct state *s)
{
	return health_check(&s->cfg, o->config_dir, o->deep);
}

static int metrics(const struct options *o, struct state *s)
{
	return metrics_serve(&s->cfg, o->config_dir, o->listen, o->metrics_names);
}

static int client_url(const struct options *o, struct state *s)
{
	struct buf out;

	buf_init(&out);
	health_client_urls(&s->cfg, o->host, &out);
	fputs(buf_str(&out) ? buf_str(&out) : "", stdout);
	buf_free_secret(&out);
	return out.oom ? EX_OSERR : EX_OK;
}

static int watch(const struct options *o, struct state *s)
{
	(void)s;
	return watch_run(o);
}

static int drain(const struct options *o, struct state *s)
{
	return drain_run(o, &s->runas);
}

static int supervise(const struct options *o, struct state *s)
{
	(void)s;
	return procs_supervise(o->command);
}

static int show(const struct options *o, struct state *s)
{
	return show_run(o, &s->runas);
}

/* ---- the command table -------------------------------------------------- */

#define RUNAS NEEDS_RUNAS
#define WRITER (NEEDS_RUNAS | NEEDS_LOCK | NEEDS_MODEL | NEEDS_WRITE)
#define READER (NEEDS_RUNAS | NEEDS_MODEL)

static const struct pipeline commands[] = {
	{CMD_RUN, WRITER | NEEDS_DROP | NEEDS_EXEC, NULL},
	{CMD_RENDER, WRITER, NULL},
	{CMD_INIT, WRITER | NEEDS_DROP, NULL},
	{CMD_WAIT, READER | NEEDS_DROP, wait_step},
	{CMD_CHECK, READER, check},
	/* health and metrics talk to the admin console as pgbouncer's own uid */
	{CMD_HEALTH, READER | NEEDS_DROP, health},
	{CMD_METRICS, READER | NEEDS_DROP, metrics},
	{CMD_CLIENT_URL, READER, client_url},
	{CMD_RELOAD, RELOAD_NEEDS, reload_run},
	/* a reload per change, each in a child with phases of its own */
	{CMD_WATCH, 0, watch},
	{CMD_DRAIN, RUNAS, drain},
	{CMD_SHOW, RUNAS, show},
	{CMD_CONSOLE, RUNAS, show},
	{CMD_HELP, 0, help},
	{CMD_VERSION, 0, version},
	{CMD_SETTINGS_DOC, 0, settings_doc},
	{CMD_METRICS_DOC, 0, metrics_doc_step},
	/* PID 1 over several pgbouncers: run re-executes itself as this */
	{CMD_SUPERVISE, 0, supervise},
};

static const struct pipeline *command_row(enum command cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].cmd == cmd)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct rlimit no_core = {0, 0};
	const struct pipeline *row;
	struct options opt;
	struct state st;
	int rc;

	/* no core file may ever hold a secret this process reads */
	setrlimit(RLIMIT_CORE, &no_core);
	/* the command line, with its environment twins */
	if ((rc = cli_parse(argc, argv, &opt)))
		return rc;
	/* the command's row: its phases, then its own step */
	if (!(row = command_row(opt.cmd)))
		return EX_USAGE; /* cli_parse knows no command without a row */
	memset(&st, 0, sizeof(st));
	rc = pipeline_run(row, &opt, &st);
	pipeline_state_free(&st);
	/* Docker's HEALTHCHECK and Kubernetes probes read 0 and 1 only */
	return opt.cmd == CMD_HEALTH && rc ? EX_UNHEALTHY : rc;
}
