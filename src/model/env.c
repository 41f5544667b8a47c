#include "model/env.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/exitcodes.h"
#include "base/log.h"
#include "files/safefile.h"

struct envvar *env_find(struct env *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->v[i].name, name) == 0)
			return &e->v[i];
	return NULL;
}

const char *env_get(struct env *e, const char *name)
{
	struct envvar *v = env_find(e, name);

	if (!v)
		return NULL;
	v->used = true;
	return v->value;
}

const char *env_origin(struct env *e, const char *name, char *out, size_t outlen)
{
	struct envvar *v = env_find(e, name);

	if (v && v->file)
		snprintf(out, outlen, "%s_FILE", name);
	else
		snprintf(out, outlen, "%s", name);
	return out;
}

static int add_var(struct env *e, const char *name, size_t namelen, const char *value)
{
	struct envvar *v = realloc(e->v, (e->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	e->v = v;
	v = &e->v[e->n];
	memset(v, 0, sizeof(*v));
	v->name = strndup(name, namelen);
	v->value = strdup(value);
	if (!v->name || !v->value)
		return -1;
	e->n++;
	return 0;
}

/* Docker and Kubernetes secret files usually end in one newline that is not
 * part of the secret; exactly one (LF or CRLF) is dropped. */
static void chomp(struct buf *b)
{
	if (b->len > 0 && b->data[b->len - 1] == '\n')
		b->data[--b->len] = '\0';
	if (b->len > 0 && b->data[b->len - 1] == '\r')
		b->data[--b->len] = '\0';
}

static int load_file_var(struct env *e, struct envvar *fv, env_reader rd)
{
	size_t baselen = strlen(fv->name) - 5;
	struct envvar *base;
	struct buf content;
	int err;

	fv->name[baselen] = '\0'; /* temporarily the base name */
	base = env_find(e, fv->name);
	if (base && base != fv) {
		log_error("%s and %s_FILE are both set; set only one of them", fv->name, fv->name);
		fv->name[baselen] = '_';
		return EX_CONFIG;
	}
	fv->name[baselen] = '_';
	buf_init(&content);
	err = rd(fv->value, &content);
	if (err == EACCES) {
		/* the image runs as uid 70: a secret made 0600 by the host's own
		 * user is the usual cause; say whose read failed and the fixes */
		log_error("could not read %s '%s': %s as uid %u: make it readable by uid %u (chown "
			  "%u '%s', or chmod 0644 '%s'), or run the container as the file's owner "
			  "(--user / runAsUser)",
			  fv->name, fv->value, strerror(err), (unsigned)geteuid(),
			  (unsigned)geteuid(), (unsigned)geteuid(), fv->value, fv->value);
		buf_free_secret(&content);
		return EX_CONFIG;
	}
	if (err) {
		log_error("could not read %s '%s': %s", fv->name, fv->value,
			  safefile_strerror(err));
		buf_free_secret(&content);
		return err == ENOMEM ? EX_OSERR : EX_CONFIG;
	}
	chomp(&content);
	if (memchr(buf_str(&content), '\0', content.len)) {
		log_error("%s '%s' contains a NUL byte; a secret file must hold text", fv->name,
			  fv->value);
		buf_free_secret(&content);
		return EX_CONFIG;
	}
	fv->file = fv->value;
	fv->value = strdup(buf_str(&content));
	buf_free_secret(&content);
	fv->name[baselen] = '\0';
	fv->used = false;
	return fv->value ? EX_OK : EX_OSERR;
}

static bool is_file_twin(const char *name, env_file_capable capable)
{
	size_t n = strlen(name);
	char base[256];

	if (n <= 5 || n - 5 >= sizeof(base) || strcmp(name + n - 5, "_FILE") != 0)
		return false;
	if (capable(name)) /* AUTH_FILE, CLIENT_TLS_KEY_FILE: names of their own */
		return false;
	memcpy(base, name, n - 5);
	base[n - 5] = '\0';
	return capable(base);
}

int env_load(struct env *e, const char *const *envp, env_reader rd, env_file_capable capable)
{
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; envp && envp[i]; i++) {
		const char *eq = strchr(envp[i], '=');
		if (!eq || eq == envp[i])
			continue;
		if (add_var(e, envp[i], (size_t)(eq - envp[i]), eq + 1) < 0) {
			log_error("out of memory");
			return EX_OSERR;
		}
	}
	for (size_t i = 0; i < e->n; i++) {
		if (!is_file_twin(e->v[i].name, capable))
			continue;
		int rc = load_file_var(e, &e->v[i], rd);
		if (rc)
			return rc;
	}
	return 0;
}

void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].value)
			OPENSSL_cleanse(e->v[i].value, strlen(e->v[i].value));
		free(e->v[i].name);
		free(e->v[i].value);
		free(e->v[i].file);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}
