#include "cmd/show.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/deadline.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "base/runas.h"
#include "pg/local.h"
#include "pg/pgio.h"

#define SHOW_MS 5000 /* to log in and hear the rows */

/* A column of integers or decimals: printed right-aligned, and as JSON
 * numbers (the type OIDs of int2, int4, int8, oid, float4, float8,
 * numeric). */
static bool numeric_type(Oid t)
{
	return t == 20 || t == 21 || t == 23 || t == 26 || t == 700 || t == 701 || t == 1700;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A value that is a plain JSON number (pgbouncer's counters and averages):
 * an optional minus, digits without a leading zero, an optional fraction. */
static bool json_number(const char *s)
{
	const char *p = s + (*s == '-');
	size_t int_digits = strspn(p, "0123456789");

	if (int_digits == 0 || (int_digits > 1 && *p == '0'))
		return false;
	p += int_digits;
	if (*p == '.' && p[1])
		p += 1 + strspn(p + 1, "0123456789");
	return *p == '\0';
}

/* Row I of R as a JSON object's members. */
static void print_json_row(const PGresult *r, int i)
{
	for (int j = 0; j < PQnfields(r); j++) {
		const char *v = PQgetvalue(r, i, j);
		if (j)
			fputs(", ", stdout);
		json_string(stdout, PQfname(r, j));
		fputs(": ", stdout);
		if (PQgetisnull(r, i, j))
			fputs("null", stdout);
		else if (numeric_type(PQftype(r, j)) && json_number(v))
			fputs(v, stdout);
		else
			json_string(stdout, v);
	}
}

/* The N results as one JSON array of rows; with several pgbouncers
 * (PGBOUNCER_PROCESSES) each row says which one in "process" (1..N). */
static void print_json(PGresult *const *res, int n)
{
	bool any = false;

	fputs("[", stdout);
	for (int k = 0; k < n; k++) {
		for (int i = 0; i < PQntuples(res[k]); i++) {
			fputs(any ? ",\n {" : "\n {", stdout);
			any = true;
			if (n > 1)
				printf("\"process\": %d%s", k + 1, PQnfields(res[k]) ? ", " : "");
			print_json_row(res[k], i);
			fputs("}", stdout);
		}
	}
	fputs(any ? "\n]\n" : "]\n", stdout);
}

/* psql's aligned format: a header, a rule, the rows, "(N rows)". */
static void print_table(const PGresult *r)
{
	int rows = PQntuples(r), cols = PQnfields(r);
	size_t *w = calloc((size_t)(cols ? cols : 1), sizeof(*w));

	if (!w)
		return;
	for (int j = 0; j < cols; j++) {
		w[j] = strlen(PQfname(r, j));
		for (int i = 0; i < rows; i++)
			if ((size_t)PQgetlength(r, i, j) > w[j])
				w[j] = (size_t)PQgetlength(r, i, j);
	}
	for (int j = 0; j < cols; j++)
		printf("%s%-*s", j ? " | " : " ", (int)w[j], PQfname(r, j));
	fputs(" \n", stdout);
	for (int j = 0; j < cols; j++) {
		fputs(j ? "+" : "", stdout);
		for (size_t k = 0; k < w[j] + 2; k++)
			fputc('-', stdout);
	}
	fputs("\n", stdout);
	for (int i = 0; i < rows; i++) {
		for (int j = 0; j < cols; j++)
			printf(numeric_type(PQftype(r, j)) ? "%s%*s" : "%s%-*s", j ? " | " : " ",
			       (int)w[j], PQgetvalue(r, i, j));
		fputs(" \n", stdout);
	}
	printf("(%d row%s)\n", rows, rows == 1 ? "" : "s");
	free(w);
}

/* SQL on the console of the pgbouncer at L into *R; a status. */
static int ask(const struct options *o, const struct local *l, const char *sql, long long deadline,
	       PGresult **r)
{
	const char *what = o->cmd == CMD_CONSOLE ? "console" : "show";
	struct pg_conn *conn;
	enum pgio_result io;
	struct buf why;
	int rc = EX_OK;

	*r = NULL;
	buf_init(&why);
	if (!(conn = local_admin_login(l, "pgbouncer-entrypoint-show", deadline, &why))) {
		log_error(
			"%s: cannot reach pgbouncer's admin console: %s (run it as pgbouncer's "
			"uid, in the container: docker exec <container> pgbouncer-entrypoint ...)",
			what, buf_str(&why));
		rc = EX_UNAVAILABLE;
	} else if ((io = pgio_query((PGconn *)conn, sql, deadline, r)) != PGIO_OK ||
		   (PQresultStatus(*r) != PGRES_TUPLES_OK &&
		    PQresultStatus(*r) != PGRES_COMMAND_OK)) {
		log_error("%s: %s: %s", what, sql,
			  io == PGIO_OK       ? PQresultErrorMessage(*r)
			  : io == PGIO_FAILED ? PQerrorMessage((PGconn *)conn)
					      : "no answer in time");
		PQclear(*r);
		*r = NULL;
		rc = io == PGIO_OK ? EX_USAGE : EX_UNAVAILABLE;
	}
	pgio_finish((PGconn *)conn);
	buf_free(&why);
	return rc;
}

int show_run(const struct options *o, const struct runas *ra)
{
	long long deadline = deadline_now() + SHOW_MS;
	PGresult *res[LOCAL_MAX_PROCESSES] = {NULL};
	struct config none;
	struct local l, one;
	struct buf sql;
	int rc, n;

	/* the console lets in only pgbouncer's own uid */
	if ((rc = runas_drop(ra)))
		return rc;
	memset(&none, 0, sizeof(none)); /* no model: the rendered ini says where */
	local_find(&none, o->config_dir, &l);
	n = local_processes(&l);
	buf_init(&sql);
	if (o->cmd == CMD_CONSOLE)
		buf_puts(&sql, o->sql);
	else
		buf_printf(&sql, "SHOW %s", o->show);
	/* several pgbouncers (PGBOUNCER_PROCESSES): each one's answer */
	for (int i = 0; i < n && rc == EX_OK; i++) {
		local_process(&l, n, i + 1, &one);
		if ((rc = ask(o, &one, buf_str(&sql), deadline, &res[i])) && n > 1)
			log_error("%s: that is pgbouncer %d of %d (PGBOUNCER_PROCESSES)",
				  o->cmd == CMD_CONSOLE ? "console" : "show", i + 1, n);
	}
	for (int i = 0; i < n && rc == EX_OK; i++) {
		/* a command without rows (RELOAD, PAUSE) prints its tag, as psql does */
		if (n > 1 && !o->json)
			printf("%spgbouncer %d of %d:\n", i ? "\n" : "", i + 1, n);
		if (PQresultStatus(res[i]) == PGRES_COMMAND_OK)
			printf("%s\n", PQcmdStatus(res[i]));
		else if (o->json) {
			print_json(res, n);
			break;
		} else
			print_table(res[i]);
	}
	for (int i = 0; i < n; i++)
		PQclear(res[i]);
	buf_free(&sql);
	return fflush(stdout) == 0 ? rc : EX_OSERR;
}
