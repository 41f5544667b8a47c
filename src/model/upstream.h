/* One upstream database: where pgbouncer's pool connects, and as whom.
 * Gathered from every source the environment offers (DB_*, bitnami's
 * POSTGRESQL_*, DATABASE_URL(S), PGBOUNCER_DSN_<N>), each field remembering
 * the variable that set it, so a refusal names what the user set. */
#ifndef PGBE_UPSTREAM_H
#define PGBE_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#define MAX_UPSTREAMS 64
#define VAR_NAME_MAX 64

enum upstream_field { UF_HOST, UF_PORT, UF_DBNAME, UF_USER, UF_PASSWORD, UF_ALIAS, UF_COUNT };

struct upstream {
	char *alias; /* the [databases] key: the name clients connect to */
	char *host;  /* libpq form: may be a list "a,b"; NULL only when the
			 * user's own pgbouncer.ini names the servers */
	char *port;
	char *dbname;
	char *user;
	char *password;
	char *sslmode; /* from a URL's ?sslmode=, else NULL */
	char *application_name;
	bool all; /* alias "*": every database the clients ask for (PGBOUNCER_POOL_ALL) */
	char origin[VAR_NAME_MAX];         /* the source as a whole, for messages */
	char from[UF_COUNT][VAR_NAME_MAX]; /* the variable that set each field */
};

struct env;

/* The database name a client gives to reach U through the pool: its alias,
 * or for the "*" entry, the database the wait logs in to. */
const char *upstream_client_db(const struct upstream *u);

/* "host", "port", ... for messages. */
extern const char *const upstream_field_names[UF_COUNT];

/* The field's storage in U. */
char **upstream_field(struct upstream *u, enum upstream_field f);

/* Record VAR as the variable that set field F of U. */
void upstream_set_from(struct upstream *u, enum upstream_field f, const char *var);

/* The variable that set field F of U, or the upstream's origin. */
const char *upstream_from(const struct upstream *u, enum upstream_field f);

/* Gather and check every upstream of the environment.  NEED: false when a
 * user-supplied pgbouncer.ini names the servers (the variables then only
 * feed userlist.txt).  Fills UP[0..*N).  LISTEN_PORT/LISTEN_ADDR: where pgbouncer listens,
 * to refuse an upstream that is the pool itself.  Returns a status. */
void upstream_free(struct upstream *u);

/* Is UP[I] the first with its user?  userlist.txt and admin_users name
 * each user once. */
bool upstream_user_first(const struct upstream *up, size_t i);

#endif
