/* Which form of each user's password userlist.txt holds (issue 10): the
 * server's own SCRAM secret, the md5 hash, or the plaintext with a warning
 * that says why.  The table in README.md is userlist_choose's. */
#ifndef PGBE_USERLIST_H
#define PGBE_USERLIST_H

#include <stdbool.h>

#include "learn/learn.h"
#include "model/config.h"
#include "text/plan.h"

/* What the upstreams of one user answered, taken together. */
enum server_kind {
	KIND_NONE,            /* no login to learn from (render, --wait-timeout 0, no host) */
	KIND_SCRAM,           /* every upstream of the user: the same SCRAM secret */
	KIND_SCRAM_DIFFERENT, /* SCRAM, but different secrets (salts) per upstream */
	KIND_UNSTABLE,        /* SCRAM with a new salt at every login: a pooler, no fixed secret */
	KIND_MD5,             /* the server asks for md5: it stores an md5 hash */
	KIND_CLEARTEXT,       /* the server asks for the cleartext password */
	KIND_TRUST,           /* the server asks for nothing */
	KIND_OTHER,           /* GSS, SSPI, another SASL mechanism, or a mix of kinds */
};

enum form { FORM_PLAIN, FORM_SCRAM, FORM_MD5 };

struct form_rules {
	const char *auth_type; /* pgbouncer's client authentication */
	bool auth_user;        /* this user is auth_user (runs auth_query) */
	bool force_plain;      /* --userlist-plaintext / PGBOUNCER_USERLIST_PLAINTEXT */
	bool no_passthrough;   /* the pgbouncer cannot log in with a stored SCRAM secret */
};

/* Does pgbouncer RELEASE (12501 for 1.25.1) fail to log in to a server anew
 * with a stored SCRAM secret and a client's proof?  1.25.1 does (pgbouncer
 * issue #1501, fixed after it by PR #1504). */
bool userlist_passthrough_broken(int release);

/* The decision for one user.  *WHY says why, for FORM_PLAIN.  Pure. */
enum form userlist_choose(const struct form_rules *r, enum server_kind k, const char **why);

/* run and init, after the login: a generated userlist.txt gets each user's
 * form (a warning per plaintext entry); a supplied one with a SCRAM secret
 * that is not the server's is refused.  Returns 0 or 78. */
int userlist_apply(struct plan *p, const struct config *c, const struct learned *l,
		   bool force_plain, int release);

/* render: one line saying the plaintext stays, as nothing logged in. */
void userlist_note_render(const struct plan *p);

/* check: the form run would write, per user, as "# " lines on stdout. */
void userlist_explain(const struct plan *p, const struct config *c, bool force_plain, long timeout,
		      int release);

#endif
