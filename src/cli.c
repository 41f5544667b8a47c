#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "settings.h"
#include "version.h"

#define EX_USAGE 64

static const struct {
	const char *word;
	enum command cmd;
} commands[] = {
	{"run", CMD_RUN},       {"render", CMD_RENDER}, {"init", CMD_INIT},
	{"wait", CMD_WAIT},     {"check", CMD_CHECK},   {"health", CMD_HEALTH},
	{"client-url", CMD_CLIENT_URL}, {"settings-doc", CMD_SETTINGS_DOC},
};

static int parse_timeout(const char *v, const char *from, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno || *end || end == v || *out < 0 || *out > 86400) {
		log_error("%s must be a number of seconds (0-86400), got \"%s\"", from, v);
		return EX_USAGE;
	}
	return 0;
}

static void defaults(struct options *o)
{
	const char *v;

	memset(o, 0, sizeof(*o));
	o->cmd = CMD_RUN;
	o->config_dir = (v = getenv("PGBOUNCER_CONFIG_DIR")) && *v ? v : "/etc/pgbouncer";
	o->user = (v = getenv("PGBOUNCER_RUN_USER")) && *v ? v : NULL;
	o->wait_timeout = 60;
}

/* "--name value" or "--name=value"; advances *i past what it used. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		log_error("option %s needs a value", name);
		return "";
	}
	return argv[++*i];
}

static int parse_option(int argc, char **argv, int *i, struct options *o)
{
	const char *a = argv[*i], *v = NULL;

	if (!strcmp(a, "--help") || !strcmp(a, "-h"))
		o->cmd = CMD_HELP;
	else if (!strcmp(a, "--version") || !strcmp(a, "-V"))
		o->cmd = CMD_VERSION;
	else if (!strcmp(a, "--deep"))
		o->deep = true;
	else if ((v = option_value(argc, argv, i, "--config-dir")))
		o->config_dir = v;
	else if ((v = option_value(argc, argv, i, "--user")))
		o->user = v;
	else if ((v = option_value(argc, argv, i, "--host")))
		o->host = v;
	else if ((v = option_value(argc, argv, i, "--wait-timeout")))
		return *v ? parse_timeout(v, "--wait-timeout", &o->wait_timeout) : EX_USAGE;
	else {
		log_error("unknown option \"%s\" (see --help)", a);
		return EX_USAGE;
	}
	if (v && !*v)
		return EX_USAGE;
	return 0;
}

int cli_parse(int argc, char **argv, struct options *o)
{
	const char *t = getenv("PGBOUNCER_WAIT_TIMEOUT");
	int i = 1, rc;

	defaults(o);
	if (t && *t && (rc = parse_timeout(t, "PGBOUNCER_WAIT_TIMEOUT", &o->wait_timeout)))
		return rc;
	if (i < argc && argv[i][0] != '-') {
		size_t k;
		for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
			if (!strcmp(argv[i], commands[k].word))
				break;
		if (k == sizeof(commands) / sizeof(commands[0])) {
			log_error("unknown command \"%s\" (see --help)", argv[i]);
			return EX_USAGE;
		}
		o->cmd = commands[k].cmd;
		i++;
	}
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			if (o->cmd != CMD_RUN) {
				log_error("only the run command takes a COMMAND after --");
				return EX_USAGE;
			}
			o->command = i + 1 < argc ? &argv[i + 1] : NULL;
			break;
		}
		if ((rc = parse_option(argc, argv, &i, o)))
			return rc;
	}
	if (o->cmd == CMD_CLIENT_URL && !o->host) {
		log_error("client-url needs --host HOST: the name applications use for the pool");
		return EX_USAGE;
	}
	return 0;
}

void cli_help(void)
{
	printf("pgbouncer-entrypoint %s: configure pgbouncer from the environment\n\n"
	       "Usage:\n"
	       "  pgbouncer-entrypoint [run] [OPTIONS] [-- COMMAND [ARG]...]\n"
	       "      render config, fix permissions, wait for the upstream, exec COMMAND\n"
	       "      (default: pgbouncer CONFIG_DIR/pgbouncer.ini)\n"
	       "  pgbouncer-entrypoint render [OPTIONS]   render + permissions, then exit\n"
	       "  pgbouncer-entrypoint init [OPTIONS]     render + permissions + wait, then exit\n"
	       "  pgbouncer-entrypoint wait [OPTIONS]     wait for the upstream only\n"
	       "  pgbouncer-entrypoint check [OPTIONS]    print what would be written, secrets\n"
	       "                                          redacted; write nothing\n"
	       "  pgbouncer-entrypoint health [--deep]    exit 0 if the local pgbouncer serves\n"
	       "  pgbouncer-entrypoint client-url --host HOST\n"
	       "                                          print the DATABASE_URL for applications\n"
	       "  pgbouncer-entrypoint --help | --version\n\n"
	       "Options (environment twin in brackets):\n"
	       "  --config-dir DIR      where the files go [PGBOUNCER_CONFIG_DIR] (/etc/pgbouncer)\n"
	       "  --user UID[:GID]      when root: owner of the files and identity of pgbouncer\n"
	       "                        [PGBOUNCER_RUN_USER] (70:70)\n"
	       "  --wait-timeout SECS   how long to wait for the upstream, 0 = do not wait\n"
	       "                        [PGBOUNCER_WAIT_TIMEOUT] (60)\n\n"
	       "Upstream:\n"
	       "  DATABASE_URL, DATABASE_URLS (several, comma separated), PGBOUNCER_DSN_<N>\n"
	       "  DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD (the pool is named after DB_NAME)\n"
	       "  POSTGRESQL_HOST POSTGRESQL_PORT POSTGRESQL_DATABASE POSTGRESQL_USERNAME\n"
	       "  POSTGRESQL_PASSWORD PGBOUNCER_DATABASE\n"
	       "  <NAME>_FILE reads any of these from a file (Docker and Kubernetes secrets)\n\n"
	       "Settings: PGBOUNCER_<SETTING> for every [pgbouncer] setting; the names marked *\n"
	       "also as edoburu's bare upper-case name (POOL_MODE=transaction):\n",
	       PGBE_VERSION);
	for (size_t i = 0; i < n_settings; i++)
		printf("  %-28s%s%s\n", settings[i].name, settings[i].bare ? " *" : "",
		       settings[i].our_default ? " (default here differs from pgbouncer's)" : "");
	printf("\nExit codes:\n"
	       "  0 done   1 health: pgbouncer does not answer   64 usage\n"
	       "  69 upstream not reachable before the deadline\n"
	       "  73 cannot write the config   77 upstream refused the login\n"
	       "  78 bad configuration   126/127 COMMAND not executable / not found\n"
	       "  128+N ended by signal N while waiting for the upstream\n");
}

/* The README's settings table, from the same rows. */
void cli_settings_doc(void)
{
	char v[16];

	printf("| setting | type | default here | pgbouncer default | since | on reload | bare name |\n"
	       "|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < n_settings; i++) {
		const struct setting *s = &settings[i];
		printf("| `%s` | %s | %s | %s | %s | %s | %s |\n", s->name,
		       setting_type_name(s->type),
		       s->our_default ? s->our_default : "-",
		       *s->pgb_default ? s->pgb_default : "(empty)", version_text(s->since, v),
		       s->restart ? "restart" : "reload", s->bare ? "yes" : "-");
	}
}
