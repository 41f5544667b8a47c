#include "pg/local.h"

#include <ctype.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "files/fileio.h"
#include "pg/pgio.h"
#include "pg/wait.h"
#include "text/ini.h"

void local_find(const struct config *c, const char *dir, struct local *l)
{
	char path[4096];
	size_t len;
	char *text;
	struct buf v;
	const char *p = config_get(c, "listen_port"), *s = config_get(c, "unix_socket_dir");
	const char *a = config_get(c, "listen_addr");

	snprintf(l->port, sizeof(l->port), "%s", p ? p : "6432");
	snprintf(l->socket_dir, sizeof(l->socket_dir), "%s", s ? s : "/tmp");
	snprintf(l->addr, sizeof(l->addr), "%s", a ? a : "");
	snprintf(path, sizeof(path), "%s/pgbouncer.ini", dir);
	text = file_read_text(path, &len);
	if (!text)
		return;
	buf_init(&v);
	if (ini_get(text, "pgbouncer", "listen_port", &v))
		snprintf(l->port, sizeof(l->port), "%s", buf_str(&v));
	if (ini_get(text, "pgbouncer", "unix_socket_dir", &v))
		snprintf(l->socket_dir, sizeof(l->socket_dir), "%s", buf_str(&v));
	if (ini_get(text, "pgbouncer", "listen_addr", &v))
		snprintf(l->addr, sizeof(l->addr), "%s", buf_str(&v));
	buf_free(&v);
	free(text);
}

int local_processes(const struct local *l)
{
	char path[1200], text[16] = "";
	struct stat st;
	ssize_t n = 0;
	long v;
	int fd;

	if (!l->socket_dir[0])
		return 1;
	snprintf(path, sizeof(path), LOCAL_PROCESSES_FILE, l->socket_dir, l->port);
	/* the run user's own file in the run user's directory: nothing to
	 * guard against, but a FIFO must not hang a probe */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	v = strtol(text, NULL, 10);
	return v >= 2 && v <= LOCAL_MAX_PROCESSES ? (int)v : 1;
}

void local_process(const struct local *l, int n, int i, struct local *one)
{
	*one = *l;
	/* too long for a socket path: procs_check refused such a directory */
	if (n > 1 && snprintf(one->socket_dir, sizeof(one->socket_dir), LOCAL_PROCESS_DIR,
			      l->socket_dir, l->port, i) >= (int)sizeof(one->socket_dir))
		one->socket_dir[0] = '\0';
}

const char *local_loopback(const char *addr)
{
	if (!strcmp(addr, "*") || !strncmp(addr, "0.0.0.0", 7))
		return "127.0.0.1";
	if (!strcmp(addr, "::"))
		return "::1";
	return addr;
}

const char *local_tcp_host(const struct local *l)
{
	/* a list stays a list: libpq tries each host of "a,b" in turn */
	return l->addr[0] ? local_loopback(l->addr) : NULL;
}

PGconn *local_login(const char *host, const char *port, const char *db, const char *user,
		    const char *password, const char *app, long long deadline, struct buf *why)
{
	const char *keys[] = {
		"host", "port", "dbname", "user", "application_name", password ? "password" : NULL,
		NULL};
	const char *vals[] = {host, port, db, user, app, password, NULL};
	PGconn *conn = (PGconn *)wait_connect(keys, vals, deadline);

	if (conn && PQstatus(conn) == CONNECTION_OK)
		return conn;
	buf_printf(why, "could not log in to %s at %s:%s: %s", db, host, port,
		   conn ? PQerrorMessage(conn) : "timed out");
	pgio_finish(conn);
	return NULL;
}

PGconn *local_admin_login(const struct local *l, const char *app, long long deadline,
			  struct buf *why)
{
	if (!l->socket_dir[0]) {
		buf_puts(why, "pgbouncer has no Unix socket (unix_socket_dir is empty): the "
			      "admin console lets its own uid in only there");
		return NULL;
	}
	return local_login(l->socket_dir, l->port, "pgbouncer", "pgbouncer", NULL, app, deadline,
			   why);
}

/* pgbouncer accepts the login itself and then queues the query until a
 * server connection is free, so the query needs the deadline too. */
PGresult *local_query(PGconn *conn, const char *sql, long long deadline, struct buf *why)
{
	PGresult *r;
	enum pgio_result io = pgio_query(conn, sql, deadline, &r);

	if (io == PGIO_OK &&
	    (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK))
		return r;
	if (io == PGIO_TIMEOUT || io == PGIO_STOPPED)
		buf_printf(why, "%s got no answer in time", sql);
	else
		buf_printf(why, "%s failed: %s", sql,
			   r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	PQclear(r);
	return NULL;
}
