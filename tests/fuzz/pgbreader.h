/* An independent reader of the files this program writes, following
 * pgbouncer 1.24's own parsers (lib/usual/cfparser.c parse_ini_file,
 * src/loader.c cstr_get_pair and load_auth_file; notes/pgbouncer-facts.md
 * sections 1-3).  The fuzz targets read every rendered file back with it: what
 * this reader sees is what pgbouncer would see.  It shares no code with src/. */
#ifndef PGBE_FUZZ_PGBREADER_H
#define PGBE_FUZZ_PGBREADER_H

#include <stdbool.h>
#include <stddef.h>

/* ---- pgbouncer.ini -------------------------------------------------------- */

struct ini_entry {
	char *section; /* the section in force; NULL before the first header */
	char *key;
	char *value;   /* trailing white space trimmed, as pgbouncer does */
};

struct ini_doc {
	struct ini_entry *e;
	size_t n;
	char **sections; /* every header, in order (repeats kept) */
	size_t nsections;
	size_t includes; /* %include lines seen */
	bool syntax_error; /* pgbouncer stops loading: "syntax error in configuration" */
};

void ini_read(const char *text, struct ini_doc *d);
void ini_free(struct ini_doc *d);

/* ---- [databases] / [users] connection strings ----------------------------- */

struct cs_pair {
	char *key;
	char *value;
	bool quoted;
};

struct connstr {
	struct cs_pair *p;
	size_t n;
};

/* Returns false where pgbouncer says "syntax error in connection string";
 * the pairs read before the error stay in CS. */
bool connstr_read(const char *text, struct connstr *cs);
void connstr_free(struct connstr *cs);
/* The value of KEY (the last one, as pgbouncer keeps), or NULL. */
const char *connstr_get(const struct connstr *cs, const char *key);

/* ---- userlist.txt (auth_file) ------------------------------------------- */

struct ul_entry {
	char *user;     /* unquoted: "" -> " */
	char *password;
	size_t raw_user_len, raw_password_len; /* as written, "" counted twice */
};

struct ul_doc {
	struct ul_entry *e;
	size_t n;
	bool stopped;    /* pgbouncer logged an error and ignored the rest */
	const char *why; /* "broken auth file", "username too long", ... */
};

/* MAX_USER / MAX_PASSWORD: pgbouncer's buffer sizes (128 and 2048 in
 * 1.18-1.24); 0 means no limit. */
void ul_read(const char *text, size_t max_user, size_t max_password, struct ul_doc *d);
void ul_free(struct ul_doc *d);

#endif
