#include "text/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "files/fileio.h"
#include "files/safefile.h"
#include "model/quote.h"
#include "text/render.h"
#include "text/secret.h"
#include "text/template.h"

static void set_path(struct outfile *f, const char *dir, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
}

static bool exists(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return file_state(path) != FILE_ABSENT;
}

void plan_probe(struct plan *p, const char *dir)
{
	memset(p, 0, sizeof(*p));
	set_path(&p->ini, dir, "pgbouncer.ini");
	set_path(&p->userlist, dir, "userlist.txt");
	p->user_ini =
		exists(dir, "pgbouncer.ini.template") || file_state(p->ini.path) == FILE_USERS;
}

static int expand_file(struct outfile *f, const char *tmpl_path, struct env *e,
		       enum template_kind kind, bool redact)
{
	size_t len;
	char *text = file_read_text(tmpl_path, &len);
	int rc;

	if (!text) {
		int err = errno;
		log_error("could not read template '%s': %s", tmpl_path, safefile_strerror(err));
		return err == ENOMEM ? EX_OSERR : EX_CONFIG;
	}
	rc = template_expand(tmpl_path, text, e, kind, redact, &f->content);
	free(text);
	f->write = true;
	f->source = "template";
	return rc;
}

struct verify_ctx {
	const struct config *c;
	bool *md5;
	const char *path;
	int rc;
};

/* A supplied userlist must let the configured user in with the configured
 * password: the seed hashed md5(user + password), the wrong order (B1). */
static void verify_entry(const char *user, const char *secret, void *arg)
{
	struct verify_ctx *v = arg;

	for (size_t i = 0; i < v->c->nup; i++) {
		const struct upstream *u = &v->c->up[i];
		if (strcmp(u->user, user) != 0)
			continue;
		v->md5[i] = secret_classify(secret) == SECRET_MD5;
		long iter = secret_scram_iterations(secret);
		if (secret_classify(secret) == SECRET_SCRAM &&
		    (iter < 1 || iter > SCRAM_MAX_ITERATIONS)) {
			log_error(
				"'%s': the SCRAM secret for \"%s\" has an iteration count that is "
				"not between 1 and %d; write it again with PostgreSQL's default "
				"(4096)",
				v->path, user, SCRAM_MAX_ITERATIONS);
			v->rc = EX_CONFIG;
			return;
		}
		if (secret_matches(secret, user, u->password))
			continue;
		if (secret_classify(secret) == SECRET_MD5)
			log_error("'%s': the md5 entry for \"%s\" does not match %s; it must be "
				  "\"md5\" + md5(password + user name), in that order",
				  v->path, user, upstream_from(u, UF_PASSWORD));
		else
			log_error("'%s': the entry for \"%s\" does not match %s", v->path, user,
				  upstream_from(u, UF_PASSWORD));
		v->rc = EX_CONFIG;
		return;
	}
}

static int keep_supplied_userlist(struct outfile *f, const struct config *c, bool *md5)
{
	struct verify_ctx v = {c, md5, f->path, EX_OK};
	size_t len;
	char *text = file_read_text(f->path, &len);

	f->write = false;
	f->source = "supplied";
	if (!text)
		return 0; /* unreadable: reported by the permission check */
	if (quote_userlist_parse(text, verify_entry, &v) < 0)
		log_warn("'%s' has a line pgbouncer cannot read; it ignores that line and every "
			 "line after it (only ; starts a comment)",
			 f->path);
	buf_puts(&f->content, text);
	memset(text, 0, len);
	free(text);
	return v.rc;
}

static int plan_userlist(struct plan *p, const struct config *c, struct env *e, bool redact)
{
	const char *dir = c->config_dir;
	const char *auth_file = p->user_ini ? NULL : config_get(c, "auth_file");
	char tmpl[4096];

	if (auth_file)
		snprintf(p->userlist.path, sizeof(p->userlist.path), "%s", auth_file);
	snprintf(tmpl, sizeof(tmpl), "%s/userlist.txt.template", dir);
	if (file_state(tmpl) != FILE_ABSENT)
		return expand_file(&p->userlist, tmpl, e, TEMPLATE_USERLIST, redact);
	if (file_state(p->userlist.path) == FILE_USERS)
		return keep_supplied_userlist(&p->userlist, c, p->userlist_md5);
	if (c->nup == 0)
		return 0;
	render_userlist(c, &p->userlist.content, redact);
	p->userlist.write = true;
	p->userlist.source = "generated";
	return 0;
}

int plan_build(struct plan *p, const struct config *c, struct env *e, bool redact)
{
	char tmpl[4096];
	int rc;

	snprintf(tmpl, sizeof(tmpl), "%s/pgbouncer.ini.template", c->config_dir);
	if (file_state(tmpl) != FILE_ABSENT) {
		if ((rc = expand_file(&p->ini, tmpl, e, TEMPLATE_INI, redact)))
			return rc;
	} else if (p->user_ini) {
		p->ini.write = false;
		p->ini.source = "supplied";
	} else {
		render_ini(c, &p->ini.content, redact);
		p->ini.write = true;
		p->ini.source = "generated";
	}
	return plan_userlist(p, c, e, redact);
}

void plan_free(struct plan *p)
{
	buf_free_secret(&p->ini.content);
	buf_free_secret(&p->userlist.content);
}

static int check_one(const struct outfile *f, const struct runas *ra)
{
	uid_t uid = ra->set ? ra->uid : geteuid();
	gid_t gid = ra->set ? ra->gid : getegid();

	if (!f->write && f->source)
		return file_check_readable(f->path, uid, gid, "supplied file");
	return EX_OK;
}

int plan_check_supplied(const struct plan *p, const struct runas *ra)
{
	int rc = check_one(&p->ini, ra);

	return rc ? rc : check_one(&p->userlist, ra);
}

static void add_out(struct file_out *out, size_t *n, const struct outfile *f)
{
	if (!f->write)
		return;
	out[*n].path = f->path;
	out[*n].data = f->content.data ? f->content.data : "";
	out[*n].len = f->content.len;
	(*n)++;
}

int plan_write(const struct plan *p, const char *dir, const struct runas *ra)
{
	struct file_out out[2];
	size_t n = 0;
	int rc;

	add_out(out, &n, &p->ini);
	add_out(out, &n, &p->userlist);
	/* the pair is one change: both or neither (issue 8, item 12) */
	if ((rc = file_ensure_dir(dir, ra)) || (rc = file_write_set(out, n, ra)))
		return rc;
	if (ra->set)
		file_warn_unsearchable(dir, ra->uid, ra->gid);
	return 0;
}

static void print_one(const struct outfile *f)
{
	if (!f->source)
		return;
	printf("# %s (%s%s)\n", f->path, f->source, f->write ? "" : ", left as it is");
	if (f->write)
		fputs(f->content.data ? f->content.data : "", stdout);
	printf("\n");
}

void plan_print(const struct plan *p)
{
	print_one(&p->ini);
	print_one(&p->userlist);
}
