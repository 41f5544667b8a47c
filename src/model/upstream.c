#include "model/upstream.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

const char *const upstream_field_names[UF_COUNT] = {
	[UF_HOST] = "host",      [UF_PORT] = "port",         [UF_DBNAME] = "database name",
	[UF_USER] = "user name", [UF_PASSWORD] = "password", [UF_ALIAS] = "pool name",
};

char **upstream_field(struct upstream *u, enum upstream_field f)
{
	switch (f) {
	case UF_HOST:
		return &u->host;
	case UF_PORT:
		return &u->port;
	case UF_DBNAME:
		return &u->dbname;
	case UF_USER:
		return &u->user;
	case UF_ALIAS:
		return &u->alias;
	default:
		return &u->password;
	}
}

const char *upstream_from(const struct upstream *u, enum upstream_field f)
{
	return u->from[f][0] ? u->from[f] : u->origin;
}

void upstream_set_from(struct upstream *u, enum upstream_field f, const char *var)
{
	snprintf(u->from[f], sizeof(u->from[f]), "%s", var);
}

void upstream_free(struct upstream *u)
{
	if (u->password)
		OPENSSL_cleanse(u->password, strlen(u->password));
	free(u->alias);
	free(u->host);
	free(u->port);
	free(u->dbname);
	free(u->user);
	free(u->password);
	free(u->sslmode);
	free(u->application_name);
	memset(u, 0, sizeof(*u));
}

bool upstream_user_first(const struct upstream *up, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(up[j].user, up[i].user) == 0)
			return false;
	return true;
}

const char *upstream_client_db(const struct upstream *u)
{
	return u->all ? u->dbname : u->alias;
}
