/* Command line and its environment twins. */
#ifndef PGBE_CLI_H
#define PGBE_CLI_H

#include <stdbool.h>

#include "http/metrics.h"

enum command {
	CMD_RUN,
	CMD_RENDER,
	CMD_INIT,
	CMD_WAIT,
	CMD_CHECK,
	CMD_HEALTH,
	CMD_CLIENT_URL,
	CMD_METRICS,
	CMD_RELOAD,
	CMD_WATCH,
	CMD_DRAIN,
	CMD_SHOW,    /* show WHAT: SHOW on the admin console */
	CMD_CONSOLE, /* console -c SQL */
	CMD_HELP,
	CMD_VERSION,
	CMD_SETTINGS_DOC, /* hidden: the README settings table */
	CMD_METRICS_DOC,  /* hidden: the README metrics table */
	CMD_SUPERVISE,    /* hidden: PID 1 of PGBOUNCER_PROCESSES > 1 (cmd/procs.h) */
};

struct options {
	enum command cmd;
	const char *config_dir;
	const char *user;        /* UID[:GID] or a name */
	long wait_timeout;       /* seconds, 0 = do not wait */
	const char *host;        /* client-url */
	bool deep;               /* health --deep */
	bool userlist_plaintext; /* the password, not the server's secret, in userlist.txt */
	unsigned upstream_auth;  /* PGBOUNCER_UPSTREAM_AUTH: UPAUTH_* of upauth.h */
	const char *listen;      /* metrics --listen ADDR:PORT */
	long drain_delay;        /* drain --delay: seconds of red readiness first */
	long drain_timeout;      /* drain --timeout: seconds for the transactions */
	long watch_interval;     /* watch --interval: seconds between polls */
	const char *show;        /* show WHAT */
	const char *sql;         /* console -c SQL */
	bool json;               /* show/console --json */
	int processes;           /* run, check: PGBOUNCER_PROCESSES, resolved (1 = exec) */
	char **command;          /* after --, NULL for the default */

	enum metrics_names metrics_names; /* PGBOUNCER_METRICS_NAMES */
};

/* Returns 0 or 64 (usage) after logging. */
int cli_parse(int argc, char **argv, struct options *o);
void cli_help(void);
void cli_settings_doc(void);

#endif
