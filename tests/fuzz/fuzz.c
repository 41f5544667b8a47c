/* Helpers for the fuzz targets, and a self-test of the reader against the
 * behaviour of pgbouncer verified by hand (notes/pgbouncer-facts.md, the
 * items marked [V]): a reader that drifted from pgbouncer would make every
 * invariant meaningless, so each target refuses to start without it. */
#include "fuzz.h"

#include <string.h>

#include "base/log.h"
#include "pgbreader.h"

size_t pieces_split(const uint8_t *data, size_t size, char **out, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= size && n < max; i++) {
		if (i < size && (data[i] != 0 || n + 1 == max))
			continue;
		out[n] = malloc(i - start + 1);
		if (!out[n])
			abort();
		memcpy(out[n], data + start, i - start);
		out[n][i - start] = '\0';
		n++;
		start = i + 1;
		if (i == size)
			break;
	}
	return n;
}

void pieces_free(char **p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i]);
}

size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += len)
		n++;
	return n;
}

char *replace_all(const char *hay, const char *needle, const char *with)
{
	struct buf b;
	size_t len = strlen(needle);
	const char *p;
	char *out;

	buf_init(&b);
	while ((p = strstr(hay, needle)) != NULL) {
		buf_add(&b, hay, (size_t)(p - hay));
		buf_puts(&b, with);
		hay = p + len;
	}
	buf_puts(&b, hay);
	out = strdup(buf_str(&b));
	buf_free(&b);
	if (!out)
		abort();
	return out;
}

char *esc(const char *s)
{
	struct buf b;

	buf_init(&b);
	if (!s)
		buf_puts(&b, "(null)");
	else
		buf_putc(&b, '"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\' || c == '"')
			buf_printf(&b, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			buf_putc(&b, (char)c);
		else
			buf_printf(&b, "\\x%02x", c);
	}
	if (s)
		buf_putc(&b, '"');
	return b.data ? b.data : strdup("?");
}

/* ---- reader self-test ------------------------------------------------------ */

static void selftest_ini(void)
{
	struct ini_doc d;

	ini_read("; c\n[pgbouncer]\nmax_client_conn = 100 ; x\nauth_file = \"/x\"\n"
		 "listen_addr =\n  # c\n%include /etc/x\n[databases]\nfoo = host=x  \r\n",
		 &d);
	INVARIANT(!d.syntax_error && d.n == 4 && d.nsections == 2 && d.includes == 1,
		  "ini self-test: %zu entries, %zu sections", d.n, d.nsections);
	INVARIANT(!strcmp(d.e[0].value, "100 ; x") && !strcmp(d.e[1].value, "\"/x\"") &&
			  !strcmp(d.e[2].value, "") && !strcmp(d.e[3].section, "databases") &&
			  !strcmp(d.e[3].value, "host=x"),
		  "ini self-test values");
	ini_free(&d);
	ini_read("[pgbouncer]\n'my db' = x\n", &d);
	INVARIANT(d.syntax_error, "a quoted key is a syntax error before 1.25");
	ini_free(&d);
}

static void selftest_connstr(void)
{
	struct connstr cs;

	INVARIANT(connstr_read("password='a b''c\"d;e#f=g\\h' host=h", &cs) && cs.n == 2 &&
			  !strcmp(cs.p[0].value, "a b'c\"d;e#f=g\\h"),
		  "connstr self-test: quoting");
	connstr_free(&cs);
	INVARIANT(connstr_read("password='x'port=1", &cs) && cs.n == 2 &&
			  !strcmp(cs.p[1].key, "ort"),
		  "connstr self-test: the character after a closing quote is swallowed");
	connstr_free(&cs);
	INVARIANT(!connstr_read("password=''", &cs), "connstr self-test: empty value");
	connstr_free(&cs);
}

static void selftest_userlist(void)
{
	struct ul_doc d;

	ul_read("\"quo\"\"te\" \"pa\"\"ss\"\n", 128, 2048, &d);
	INVARIANT(d.n == 1 && !strcmp(d.e[0].user, "quo\"te") && !strcmp(d.e[0].password, "pa\"ss"),
		  "userlist self-test: \"\" escapes");
	ul_free(&d);
	ul_read("\"a\" \"x\"\n# hash comment\n\"b\" \"y\"\n", 128, 2048, &d);
	INVARIANT(d.n == 1 && d.stopped, "userlist self-test: a # line stops reading");
	ul_free(&d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	selftest_ini();
	selftest_connstr();
	selftest_userlist();
	fuzz_init();
	return 0;
}
