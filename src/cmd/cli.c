#include "cmd/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "base/version.h"
#include "cmd/procs.h"
#include "model/settings.h"
#include "model/vars.h"
#include "pg/upauth.h"

static const struct {
	const char *word;
	enum command cmd;
} commands[] = {
	{"run", CMD_RUN},
	{"render", CMD_RENDER},
	{"init", CMD_INIT},
	{"wait", CMD_WAIT},
	{"check", CMD_CHECK},
	{"health", CMD_HEALTH},
	{"client-url", CMD_CLIENT_URL},
	{"settings-doc", CMD_SETTINGS_DOC},
	{"metrics", CMD_METRICS},
	{"metrics-doc", CMD_METRICS_DOC},
	{"reload", CMD_RELOAD},
	{"watch", CMD_WATCH},
	{"drain", CMD_DRAIN},
	{"show", CMD_SHOW},
	{"console", CMD_CONSOLE},
	{"supervise", CMD_SUPERVISE},
};

static int parse_timeout(const char *v, const char *from, long *out)
{
	char *end;

	/* digits only: strtol alone takes " 20" and "+20" (issue 16) */
	errno = 0;
	*out = strtol(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || errno || *end || *out < 0 || *out > 86400) {
		log_error("%s must be a number of seconds (0-86400), got \"%s\"", from, v);
		return EX_USAGE;
	}
	return EX_OK;
}

static void defaults(struct options *o)
{
	const char *v;

	memset(o, 0, sizeof(*o));
	o->cmd = CMD_RUN;
	o->config_dir = (v = getenv("PGBOUNCER_CONFIG_DIR")) && *v ? v : "/etc/pgbouncer";
	o->user = (v = getenv("PGBOUNCER_RUN_USER")) && *v ? v : NULL;
	o->wait_timeout = -1; /* not given: PGBOUNCER_WAIT_TIMEOUT, else 60 */
	o->listen = (v = getenv("PGBOUNCER_METRICS_LISTEN")) && *v ? v : ":9127";
	o->drain_delay = o->drain_timeout = o->watch_interval = -1; /* daytwo_defaults */
}

/* "--name value" or "--name=value"; advances *i past what it used.  An
 * empty or missing value is reported here and comes back as "". */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i], *v;

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		v = a + n + 1;
	else if (a[n] != '\0')
		return NULL;
	else
		v = *i + 1 < argc ? argv[++*i] : "";
	if (!*v)
		log_error("option %s needs a value (see --help)", name);
	return v;
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
	else if (!strcmp(a, "--userlist-plaintext"))
		o->userlist_plaintext = true;
	else if (!strcmp(a, "--json"))
		o->json = true;
	else if (o->cmd == CMD_SHOW && a[0] != '-' && !o->show)
		o->show = a;
	else if ((v = option_value(argc, argv, i, "-c")) ||
		 (v = option_value(argc, argv, i, "--command")))
		o->sql = v;
	else if ((v = option_value(argc, argv, i, "--config-dir")))
		o->config_dir = v;
	else if ((v = option_value(argc, argv, i, "--user")))
		o->user = v;
	else if ((v = option_value(argc, argv, i, "--host")))
		o->host = v;
	else if ((v = option_value(argc, argv, i, "--listen")))
		o->listen = v;
	else if ((v = option_value(argc, argv, i, "--wait-timeout")))
		return *v ? parse_timeout(v, "--wait-timeout", &o->wait_timeout) : EX_USAGE;
	else if ((v = option_value(argc, argv, i, "--delay")))
		return *v ? parse_timeout(v, "--delay", &o->drain_delay) : EX_USAGE;
	else if ((v = option_value(argc, argv, i, "--timeout")))
		return *v ? parse_timeout(v, "--timeout", &o->drain_timeout) : EX_USAGE;
	else if ((v = option_value(argc, argv, i, "--interval")))
		return *v ? parse_timeout(v, "--interval", &o->watch_interval) : EX_USAGE;
	else {
		log_error("unknown option \"%s\" (see --help)", a);
		return EX_USAGE;
	}
	return v && !*v ? EX_USAGE : EX_OK;
}

/* PGBOUNCER_WAIT_TIMEOUT, read only by the commands that wait, and only
 * when --wait-timeout did not say: --help must work whatever it holds. */
static int wait_timeout_from_env(struct options *o)
{
	const char *t = getenv("PGBOUNCER_WAIT_TIMEOUT");

	if (o->wait_timeout >= 0)
		return EX_OK;
	/* reload proves the new login against a pgbouncer that is serving:
	 * a short deadline, so a wrong password is not a minute of waiting */
	o->wait_timeout = o->cmd == CMD_RELOAD || o->cmd == CMD_WATCH ? 10 : 60;
	if (o->cmd == CMD_HELP || o->cmd == CMD_VERSION || o->cmd == CMD_SETTINGS_DOC || !t || !*t)
		return EX_OK;
	return parse_timeout(t, "PGBOUNCER_WAIT_TIMEOUT", &o->wait_timeout);
}

/* PGBOUNCER_USERLIST_PLAINTEXT, the twin of --userlist-plaintext. */
static int plaintext_from_env(struct options *o)
{
	const char *v = getenv("PGBOUNCER_USERLIST_PLAINTEXT");
	bool b;

	if (o->userlist_plaintext || !v || !*v)
		return EX_OK;
	if (!setting_bool_parse(v, &b)) {
		log_error(
			"PGBOUNCER_USERLIST_PLAINTEXT must be a boolean (1/0, true/false, yes/no, "
			"on/off), got \"%s\"",
			v);
		return EX_USAGE;
	}
	o->userlist_plaintext = b;
	return EX_OK;
}

/* PGBOUNCER_UPSTREAM_AUTH: what the upstream may ask the logins for. */
static int upstream_auth_from_env(struct options *o)
{
	const char *v = getenv("PGBOUNCER_UPSTREAM_AUTH");

	o->upstream_auth = UPAUTH_DEFAULT;
	if (!v || !*v || upauth_parse(v, &o->upstream_auth))
		return EX_OK;
	log_error("PGBOUNCER_UPSTREAM_AUTH must be a comma-separated list of scram-sha-256, md5, "
		  "password, trust, or any, got \"%s\"",
		  v);
	return EX_USAGE;
}

/* PGBOUNCER_METRICS_NAMES, read only by metrics: whose names it serves. */
static int metrics_names_from_env(struct options *o)
{
	const char *v = getenv("PGBOUNCER_METRICS_NAMES");

	o->metrics_names = METRICS_NAMES_DEFAULT;
	if (o->cmd != CMD_METRICS || !v || !*v || metrics_names_parse(v, &o->metrics_names))
		return EX_OK;
	log_error("PGBOUNCER_METRICS_NAMES must be exporter-0.10, exporter-0.11 or exporter-0.12 "
		  "(the pgbouncer_exporter release whose metric names to serve; unset: %s), got "
		  "\"%s\"",
		  metrics_names_words[METRICS_NAMES_DEFAULT], v);
	return EX_USAGE;
}

/* An option not given: its environment twin, else DFLT; read only by the
 * command that uses it, so --help works whatever the others hold. */
static int seconds_option(long *out, const char *env, long dflt, bool used)
{
	const char *t = getenv(env);

	if (*out >= 0)
		return EX_OK;
	*out = dflt;
	return used && t && *t ? parse_timeout(t, env, out) : EX_OK;
}

static int daytwo_defaults(struct options *o)
{
	int rc;

	if ((rc = seconds_option(&o->drain_delay, "PGBOUNCER_DRAIN_DELAY", 5,
				 o->cmd == CMD_DRAIN)) ||
	    /* several processes: the others' time to finish after one fails */
	    (rc = seconds_option(&o->drain_timeout, "PGBOUNCER_DRAIN_TIMEOUT", 20,
				 o->cmd == CMD_DRAIN || o->processes > 1)))
		return rc;
	if ((rc = seconds_option(&o->watch_interval, "PGBOUNCER_WATCH_INTERVAL", 5,
				 o->cmd == CMD_WATCH)))
		return rc;
	if (o->cmd == CMD_WATCH && o->watch_interval == 0) {
		log_error("--interval must be at least 1 second");
		return EX_USAGE;
	}
	return EX_OK;
}

/* pgbouncer's SHOW subjects (its admin.c); a fixed list, so `show` never
 * builds SQL from what it was given */
static const char *const subjects[] = {
	"pools",     "clients",   "servers",   "stats",      "stats_totals",   "stats_averages",
	"databases", "users",     "peers",     "peer_pools", "config",         "lists",
	"mem",       "dns_hosts", "dns_zones", "sockets",    "active_sockets", "fds",
	"state",     "version",   "totals",    "help",
};

static bool show_subject_known(const char *what)
{
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
		if (!strcasecmp(what, subjects[i]))
			return true;
	return false;
}

/* The directory becomes auth_file's value in [pgbouncer], where a line
 * break would add lines and white space at either end is dropped by
 * pgbouncer's parser (issue 8, item 10). */
static int config_dir_check(const char *dir, bool from_env)
{
	const char *why = "must not contain control characters (a line break would add lines "
			  "to pgbouncer.ini)";
	size_t n = strlen(dir);
	bool bad = false;

	for (size_t i = 0; i < n; i++)
		bad |= (unsigned char)dir[i] < 0x20 || dir[i] == 0x7f;
	if (!bad && n && (isspace((unsigned char)dir[0]) || isspace((unsigned char)dir[n - 1]))) {
		why = "must not begin or end with white space (pgbouncer drops it)";
		bad = true;
	}
	if (!bad)
		return EX_OK;
	if (from_env) {
		vars_refuse("PGBOUNCER_CONFIG_DIR", why, dir);
		return EX_CONFIG;
	}
	log_error("--config-dir %s, got \"%s\"", why, dir);
	return EX_USAGE;
}

int cli_parse(int argc, char **argv, struct options *o)
{
	int i = 1, rc;

	defaults(o);
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
	/* run's own re-exec: its words are the pgbouncers to start */
	if (o->cmd == CMD_SUPERVISE) {
		o->command = &argv[i];
		return EX_OK;
	}
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			/* check: what run -- COMMAND would do */
			if (o->cmd != CMD_RUN && o->cmd != CMD_CHECK) {
				log_error(
					"only the run and check commands take a COMMAND after --");
				return EX_USAGE;
			}
			o->command = i + 1 < argc ? &argv[i + 1] : NULL;
			break;
		}
		if ((rc = parse_option(argc, argv, &i, o)))
			return rc;
	}
	if ((rc = config_dir_check(o->config_dir, o->config_dir == getenv("PGBOUNCER_CONFIG_DIR"))))
		return rc;
	if (o->cmd == CMD_SHOW && (!o->show || !show_subject_known(o->show))) {
		log_error(
			"show needs one of: pools clients servers stats stats_totals "
			"stats_averages databases users peers peer_pools config lists mem dns_hosts "
			"dns_zones sockets active_sockets fds state version totals%s%s%s",
			o->show ? " (got \"" : "", o->show ? o->show : "", o->show ? "\")" : "");
		return EX_USAGE;
	}
	if (o->cmd == CMD_CONSOLE && !o->sql) {
		log_error(
			"console needs -c 'SHOW POOLS' (any command of pgbouncer's admin console)");
		return EX_USAGE;
	}
	if (o->cmd == CMD_CLIENT_URL && !o->host) {
		log_error("client-url needs --host HOST: the name applications use for the pool");
		return EX_USAGE;
	}
	if ((rc = plaintext_from_env(o)) || (rc = wait_timeout_from_env(o)) ||
	    (rc = upstream_auth_from_env(o)) || (rc = metrics_names_from_env(o)))
		return rc;
	o->processes = 1;
	if ((o->cmd == CMD_RUN || o->cmd == CMD_CHECK) && (rc = procs_from_env(&o->processes)))
		return rc;
	return daytwo_defaults(o);
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
	       "  pgbouncer-entrypoint metrics [--listen ADDR:PORT]\n"
	       "                                          Prometheus metrics of the local pgbouncer\n"
	       "                                          (each scrape <= 3 s, 16 connections at once)\n"
	       "                                          [PGBOUNCER_METRICS_LISTEN] (:9127)\n"
	       "  pgbouncer-entrypoint reload [OPTIONS]   re-read the environment and every _FILE,\n"
	       "                                          validate, prove the login, replace the\n"
	       "                                          files, RELOAD the running pgbouncer; on\n"
	       "                                          any failure change nothing\n"
	       "  pgbouncer-entrypoint watch [OPTIONS] [--interval S]\n"
	       "                                          run reload whenever an input file changes\n"
	       "                                          (sidecar); SIGTERM/SIGINT end it with 0\n"
	       "  pgbouncer-entrypoint drain [OPTIONS] [--delay S] [--timeout S]\n"
	       "                                          readiness red (health --deep), wait S,\n"
	       "                                          let running transactions finish, stop\n"
	       "                                          pgbouncer (preStop, before docker stop);\n"
	       "                                          SIGTERM/SIGINT take it back (RESUME,\n"
	       "                                          ready again), or after SHUTDOWN cut\n"
	       "                                          nothing; a second drain joins the first\n"
	       "  pgbouncer-entrypoint show WHAT [--json]  SHOW WHAT on pgbouncer's admin console\n"
	       "                                          (pools, clients, servers, stats, ...),\n"
	       "                                          as the run user: no psql needed\n"
	       "  pgbouncer-entrypoint console -c 'CMD' [--json]\n"
	       "                                          any admin console command\n"
	       "  pgbouncer-entrypoint --help | --version\n\n"
	       "Options (environment twin in brackets):\n"
	       "  --config-dir DIR      where the files go [PGBOUNCER_CONFIG_DIR] (/etc/pgbouncer)\n"
	       "  --user UID[:GID]      when root: owner of the files and identity of pgbouncer\n"
	       "                        [PGBOUNCER_RUN_USER] (70:70)\n"
	       "  --wait-timeout SECS   how long to wait for the upstream, 0 = do not wait\n"
	       "                        [PGBOUNCER_WAIT_TIMEOUT] (60; reload and watch: 10)\n"
	       "  --interval SECS       watch: poll this often besides inotify, and retry a\n"
	       "                        failed reload [PGBOUNCER_WATCH_INTERVAL] (5)\n"
	       "  --delay SECS          drain: readiness red this long before draining\n"
	       "                        [PGBOUNCER_DRAIN_DELAY] (5)\n"
	       "  --timeout SECS        drain: how long running transactions may take, 0 = no\n"
	       "                        limit [PGBOUNCER_DRAIN_TIMEOUT] (20)\n"
	       "  --userlist-plaintext  userlist.txt holds the password itself, not the server's\n"
	       "                        SCRAM secret learned at login [PGBOUNCER_USERLIST_PLAINTEXT]\n"
	       "  PGBOUNCER_UPSTREAM_AUTH  what the upstream may ask our logins for, comma\n"
	       "                        separated: scram-sha-256 (always; the default), md5,\n"
	       "                        password (in clear), trust, any\n"
	       "  PGBOUNCER_METRICS_NAMES  metrics: the metric names of a pgbouncer_exporter\n"
	       "                        release, exporter-0.10, exporter-0.11 or exporter-0.12\n"
	       "                        (the default: the newest release)\n\n"
	       "Upstream:\n"
	       "  DATABASE_URL, DATABASE_URLS (several, comma separated), PGBOUNCER_DSN_<N>\n"
	       "  DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD (the pool is named after DB_NAME)\n"
	       "  POSTGRESQL_HOST POSTGRESQL_PORT POSTGRESQL_DATABASE POSTGRESQL_USERNAME\n"
	       "  POSTGRESQL_PASSWORD PGBOUNCER_DATABASE\n"
	       "  <NAME>_FILE reads any of these from a file (Docker and Kubernetes secrets)\n\n"
	       "Settings: PGBOUNCER_<SETTING> for every [pgbouncer] setting; the names marked *\n"
	       "also as edoburu's bare upper-case name (POOL_MODE=transaction), and bitnami's\n"
	       "irregular names where shown:\n",
	       PGBE_VERSION);
	for (size_t i = 0; i < n_settings; i++) {
		const struct setting *s = &settings[i];
		printf("  %-28s%s%s%s%s\n", s->name, s->flags & SF_BARE ? " *" : "",
		       s->alias ? " (also " : "", s->alias ? s->alias : "", s->alias ? ")" : "");
	}
	printf("\nExit codes:\n"
	       "  %d done   %d health: pgbouncer does not answer   %d usage\n"
	       "  %d upstream not reachable before the deadline; reload/drain: pgbouncer's\n"
	       "     admin console does not answer; drain: still busy at --timeout\n"
	       "  %d operating-system error: out of memory, privileges not dropped\n"
	       "  %d cannot write the config (or another writer held it past --wait-timeout)\n"
	       "  %d upstream refused the login, or asked for one PGBOUNCER_UPSTREAM_AUTH forbids\n"
	       "  %d bad configuration   %d/%d COMMAND not executable / not found\n"
	       "  %d+N ended by signal N while waiting for the upstream, or during a drain\n"
	       "     that did not complete\n",
	       EX_OK, EX_UNHEALTHY, EX_USAGE, EX_UNAVAILABLE, EX_OSERR, EX_CANTCREAT, EX_NOPERM,
	       EX_CONFIG, EX_NOEXEC, EX_NOTFOUND, EX_SIGNAL_BASE);
}

/* The README's settings table, from the same rows. */
void cli_settings_doc(void)
{
	char v[16];

	printf("| setting | type | default here | pgbouncer default | since | on reload | bare name "
	       "| bitnami name |\n"
	       "|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < n_settings; i++) {
		const struct setting *s = &settings[i];
		printf("| `%s` | %s | %s | %s | %s | %s | %s | %s%s%s |\n", s->name,
		       setting_type_name(s->type), s->our_default ? s->our_default : "-",
		       s->pgb_default ? s->pgb_default : "(empty)",
		       setting_version_text(s->since, v),
		       s->flags & SF_RESTART ? "restart" : "reload",
		       s->flags & SF_BARE ? "yes" : "-", s->alias ? "`" : "",
		       s->alias ? s->alias : "-", s->alias ? "`" : "");
	}
}
