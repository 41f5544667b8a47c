"""Issue 10: userlist.txt holds the server's own SCRAM secret, learned in a
SCRAM exchange of the entrypoint's own during the wait of run and init, never
the plaintext password where a secret or an md5 hash serves.  Every row of the
README table against a real PostgreSQL through a real pgbouncer (this file
runs against Debian's pgbouncer and the static one of the image)."""
import base64
import hashlib
import hmac
import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading

import pytest

from utils import new_user
from utils import (Postgres, base_env, entrypoint, free_port, psql, psql_url, run_user_ids,
                      run_user_spec)

counter = [0]


def userlist_entries(config_dir):
    """{user: secret} as pgbouncer reads userlist.txt ("" is one ")."""
    out = {}
    for line in (config_dir / "userlist.txt").read_text().splitlines():
        m = re.match(r'^"((?:[^"]|"")*)" "((?:[^"]|"")*)"', line)
        if m:
            out[m.group(1).replace('""', '"')] = m.group(2).replace('""', '"')
    return out


def rolpassword(pg, user):
    return pg.sql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{user}'")


def files_with(directory, needle):
    """Every file under DIRECTORY whose bytes contain NEEDLE."""
    hits = []
    for p in pathlib.Path(directory).rglob("*"):
        if p.is_file() and needle.encode() in p.read_bytes():
            hits.append(p.name)
    return hits


def init(config_dir, env, *extra):
    return entrypoint(["init", "--config-dir", str(config_dir), *extra], env)


PASSWORDS = ["pw-plain", "p@ss:w/rd?#%&=", "it's \"quoted\" \\ back", " lead and trail ",
             "\u00fcn\u00efc\u00f6d\u00e9-\u5bc6\u7801-\u00df", "\uff21\uff22\uff23-fullwidth",
             "soft\u00adhyphen"]


@pytest.mark.parametrize("password", PASSWORDS, ids=range(len(PASSWORDS)))
def test_init_writes_the_servers_own_scram_secret_byte_for_byte(pg, config_dir, password):
    user = db = new_user(pg, password)
    r = init(config_dir, base_env(pg, user, password, db, free_port()))
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg, user)
    assert f'userlist.txt holds the server\'s SCRAM secret of "{user}"' in r.stderr
    assert files_with(config_dir, password) == []
    assert password not in r.stdout + r.stderr


@pytest.mark.parametrize("mode", ["allow", "prefer", "require", "verify-ca", "verify-full"])
def test_secret_learned_over_tls_as_server_tls_sslmode_asks(pg_tls, config_dir, mode):
    user = db = new_user(pg_tls, "pw-tls-learn")
    env = base_env(pg_tls, user, "pw-tls-learn", db, free_port(), DB_HOST="localhost",
                   SERVER_TLS_SSLMODE=mode, SERVER_TLS_CA_FILE=str(pg_tls.ca_file))
    r = init(config_dir, env)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg_tls, user)


# (server fixture, AUTH_TYPE, form userlist.txt holds) -- the README table
ROWS = [
    ("pg", "scram-sha-256", "scram"),
    ("pg", "md5", "scram"),
    ("pg", "plain", "plain"),
    ("pg", "trust", "plain"),
    ("pg", "any", "scram"),
    ("pg_md5", "scram-sha-256", "plain"),
    ("pg_md5", "md5", "md5"),
    ("pg_md5", "plain", "md5"),
    ("pg_md5", "trust", "md5"),
    ("pg_md5", "any", "md5"),
]


@pytest.mark.parametrize("server,auth_type,form", ROWS,
                         ids=[f"{s}-{a}" for s, a, _ in ROWS])
def test_every_auth_type_gets_the_form_that_logs_in(request, config_dir, bouncers, server,
                                                     auth_type, form):
    server_pg = request.getfixturevalue(server)
    password = "pw-row's \"x\""
    user = db = new_user(server_pg, password)
    port = free_port()
    r = init(config_dir, base_env(server_pg, user, password, db, port, AUTH_TYPE=auth_type))
    assert r.returncode == 0, r.stderr
    stored = userlist_entries(config_dir)[user]
    if form == "plain":
        assert stored == password
        assert f'userlist.txt holds the plaintext password of "{user}": ' in r.stderr
    else:
        # the server's own: pg_authid holds the SCRAM secret or the md5 hash
        assert stored == rolpassword(server_pg, user)
        assert stored.startswith("SCRAM-SHA-256$" if form == "scram" else "md5")
        assert "userlist.txt holds the plaintext password" not in r.stderr
    ini_has_password = password.replace("'", "''") in (config_dir / "pgbouncer.ini").read_text()
    assert ini_has_password == (auth_type == "any")
    if auth_type == "any":
        assert "auth_type any: pgbouncer.ini holds the plaintext password" in r.stderr
    b = bouncers(config_dir, port)
    client_pw = "not-checked" if auth_type in ("trust", "any") else password
    for _ in range(2):  # a new server login, then a pooled one
        q = psql(port, user, client_pw, db, "select 'ok'")
        assert q.stdout.strip() == "ok", q.stderr + b.log.read_text()
    assert "wrong password type" not in b.log.read_text()


def client_cert(tls, user):
    """A client certificate for USER (its CN), signed by TLS's CA, with a key
    only its owner reads, as libpq wants."""
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=tls)
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={user}", "-keyout",
         f"{user}.key", "-out", f"{user}.csr")
    ossl("x509", "-req", "-in", f"{user}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-out", f"{user}.crt")
    os.chmod(tls / f"{user}.key", 0o600)
    return tls / f"{user}.crt", tls / f"{user}.key"


@pytest.mark.parametrize("auth_type", ["hba", "cert"])
def test_hba_and_cert_get_plaintext_and_log_in_as_they_allow(pg, config_dir, workdir, bouncers,
                                                             auth_type):
    """The README row "hba, cert": pgbouncer checks these clients by its hba
    file or their certificate, then logs in to the server for them with the
    userlist entry, which must be the password (no client SCRAM proof to pass
    through).  A client the hba file or the CA does not allow stays out."""
    from utils import make_tls_files
    password = "pw-hba-cert's"
    user = db = new_user(pg, password)
    port = free_port()
    d = pathlib.Path(tempfile.mkdtemp(prefix=f"{auth_type}-", dir=workdir))
    os.chmod(d, 0o755)  # pgbouncer, as the run user, reads the hba file and its own key
    tls = make_tls_files(d)
    extra = {"AUTH_TYPE": auth_type}
    if auth_type == "hba":
        hba = tls / "pgbouncer_hba.conf"
        hba.write_text(f"host all {user} 127.0.0.1/32 scram-sha-256\n"
                       "host all all 127.0.0.1/32 reject\n")
        os.chmod(hba, 0o644)
        extra["PGBOUNCER_AUTH_HBA_FILE"] = str(hba)
    else:
        extra.update(PGBOUNCER_CLIENT_TLS_SSLMODE="verify-full",
                     PGBOUNCER_CLIENT_TLS_CA_FILE=str(tls / "ca.crt"),
                     PGBOUNCER_CLIENT_TLS_CERT_FILE=str(tls / "server.crt"),
                     PGBOUNCER_CLIENT_TLS_KEY_FILE=str(tls / "server.key"))
    r = init(config_dir, base_env(pg, user, password, db, port, **extra))
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == password
    assert f'userlist.txt holds the plaintext password of "{user}": ' in r.stderr
    b = bouncers(config_dir, port)
    if auth_type == "hba":
        ok = psql(port, user, password, db, "select 'ok'")
        other = psql(port, "postgres", "whatever", db, "select 'ok'")  # rejected by the file
    else:
        crt, key = client_cert(tls, user)
        base = (f"host=127.0.0.1 port={port} dbname={db} user={user} sslmode=verify-ca "
                f"sslrootcert={tls / 'ca.crt'}")
        ok = psql_url(f"{base} sslcert={crt} sslkey={key}", "select 'ok'")
        other = psql_url(base + " sslcert=/nonexistent sslkey=/nonexistent", "select 'ok'")
    assert ok.stdout.strip() == "ok", ok.stderr + b.log.read_text()
    assert other.returncode != 0 and other.stdout.strip() != "ok", other.stdout

def test_min_pool_size_fills_the_pool_with_the_servers_secret(pg, config_dir, bouncers):
    """pgbouncer opens min_pool_size connections only while the pool has
    clients (or a forced user): it has their SCRAM keys then, so the server's
    secret serves and no plaintext is needed."""
    user = db = new_user(pg, "pw-minpool")
    port = free_port()
    env = base_env(pg, user, "pw-minpool", db, port, PGBOUNCER_MIN_POOL_SIZE="3",
                   POOL_MODE="session")
    r = init(config_dir, env)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg, user)
    b = bouncers(config_dir, port)
    env_pw = dict(os.environ, PGPASSWORD="pw-minpool")
    holder = subprocess.Popen(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U",
                               user, "-d", db, "-c", "select pg_sleep(4)"], env=env_pw,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    count = "0"
    for _ in range(60):
        count = pg.sql(f"select count(*) from pg_stat_activity where usename = '{user}'")
        if count == "3":
            break
        subprocess.run(["sleep", "0.1"])
    holder.wait(10)
    assert count == "3", b.log.read_text()
    assert psql(port, user, "pw-minpool", db, "select 'ok'").stdout.strip() == "ok"
    assert "did not provide SCRAM keys" not in b.log.read_text()


@pytest.fixture(scope="module")
def pg_second(workdir):
    p = Postgres(workdir / "scram-second")
    p.start()
    yield p
    p.stop()


def test_one_user_on_two_servers_with_different_salts_gets_plaintext(pg, pg_second, config_dir,
                                                                     bouncers):
    user = db = new_user(pg, "pw-two")
    pg_second.add_user(user, "pw-two", f"{db}_two")
    assert rolpassword(pg, user) != rolpassword(pg_second, user)  # same password, two salts
    port = free_port()
    urls = (f"postgres://{user}:pw-two@127.0.0.1:{pg.port}/{db}, "
            f"postgres://{user}:pw-two@127.0.0.1:{pg_second.port}/{db}_two")
    env = {"DATABASE_URLS": urls, "LISTEN_ADDR": "127.0.0.1", "LISTEN_PORT": str(port),
           "PGBOUNCER_UNIX_SOCKET_DIR": "", "PGBOUNCER_RUN_USER": run_user_spec()}
    r = init(config_dir, env)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == "pw-two"
    assert "different SCRAM secrets" in r.stderr
    ini = (config_dir / "pgbouncer.ini").read_text()
    aliases = re.findall(r"^(\S+) = host=", ini, re.M)
    assert len(aliases) == 2, ini
    b = bouncers(config_dir, port)
    for alias in aliases:
        q = psql(port, user, "pw-two", alias, "select 'ok'")
        assert q.stdout.strip() == "ok", q.stderr + b.log.read_text()


def test_one_user_two_databases_on_one_server_share_its_secret(pg, config_dir, bouncers):
    user = db = new_user(pg, "pw-same")
    pg.sql(f'CREATE DATABASE "{db}_b" OWNER "{user}"')
    port = free_port()
    urls = (f"postgres://{user}:pw-same@127.0.0.1:{pg.port}/{db}, "
            f"postgres://{user}:pw-same@127.0.0.1:{pg.port}/{db}_b")
    env = {"DATABASE_URLS": urls, "LISTEN_ADDR": "127.0.0.1", "LISTEN_PORT": str(port),
           "PGBOUNCER_UNIX_SOCKET_DIR": "", "PGBOUNCER_RUN_USER": run_user_spec()}
    r = init(config_dir, env)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg, user)
    b = bouncers(config_dir, port)
    for alias in (db, f"{db}_b"):
        q = psql(port, user, "pw-same", alias, "select current_database()")
        assert q.stdout.strip() == alias, q.stderr + b.log.read_text()


def test_supplied_plaintext_userlist_is_left_as_it_is_and_serves(pg, config_dir, bouncers):
    user = db = new_user(pg, "pw-supplied")
    (config_dir / "userlist.txt").write_text(f'"{user}" "pw-supplied"\n')
    port = free_port()
    r = init(config_dir, base_env(pg, user, "pw-supplied", db, port))
    assert r.returncode == 0, r.stderr
    assert (config_dir / "userlist.txt").read_text() == f'"{user}" "pw-supplied"\n'
    bouncers(config_dir, port)
    assert psql(port, user, "pw-supplied", db, "select 1").stdout.strip() == "1"


def test_supplied_userlist_with_the_servers_secret_serves(pg, config_dir, bouncers):
    user = db = new_user(pg, "pw-supplied-s")
    (config_dir / "userlist.txt").write_text(f'"{user}" "{rolpassword(pg, user)}"\n')
    port = free_port()
    r = init(config_dir, base_env(pg, user, "pw-supplied-s", db, port))
    assert r.returncode == 0, r.stderr
    bouncers(config_dir, port)
    assert psql(port, user, "pw-supplied-s", db, "select 1").stdout.strip() == "1"


def test_supplied_scram_secret_that_is_not_the_servers_is_refused(pg, config_dir):
    """A secret of one's own making (another salt) verifies the password, but
    pgbouncer's pass-through login fails at the first client."""
    user = db = new_user(pg, "pw-own-salt")
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", b"pw-own-salt", salt, 4096)
    ck = hmac.new(salted, b"Client Key", "sha256").digest()
    sk = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()
    own = f"SCRAM-SHA-256$4096:{b64(salt)}${b64(hashlib.sha256(ck).digest())}:{b64(sk)}"
    (config_dir / "userlist.txt").write_text(f'"{user}" "{own}"\n')
    r = init(config_dir, base_env(pg, user, "pw-own-salt", db, free_port()))
    assert r.returncode == 78, r.stderr
    assert f'the SCRAM secret of "{user}" is not the server\'s own' in r.stderr


@pytest.mark.parametrize("how", ["env", "option"])
def test_plaintext_can_be_forced_and_says_why(pg, config_dir, bouncers, how):
    user = db = new_user(pg, "pw-forced")
    port = free_port()
    env = base_env(pg, user, "pw-forced", db, port)
    extra = []
    if how == "env":
        env["PGBOUNCER_USERLIST_PLAINTEXT"] = "yes"
    else:
        extra = ["--userlist-plaintext"]
    r = init(config_dir, env, *extra)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == "pw-forced"
    assert "PGBOUNCER_USERLIST_PLAINTEXT) asks for it" in r.stderr
    assert "learned its secret" not in r.stderr  # the escape hatch skips our own exchange
    bouncers(config_dir, port)
    assert psql(port, user, "pw-forced", db, "select 1").stdout.strip() == "1"


def test_no_wait_means_plaintext_with_a_warning(pg, config_dir):
    user = db = new_user(pg, "pw-nowait")
    r = init(config_dir, base_env(pg, user, "pw-nowait", db, free_port()), "--wait-timeout", "0")
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == "pw-nowait"
    assert "nothing logged in to the upstream" in r.stderr


def test_render_keeps_plaintext_and_says_so_in_one_line(pg, config_dir):
    user = db = new_user(pg, "pw-render")
    r = entrypoint(["render", "--config-dir", str(config_dir)],
                   base_env(pg, user, "pw-render", db, free_port()))
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == "pw-render"
    assert r.stderr.count("render does not log in to the upstream") == 1


def backend_pids(pg, user):
    return set(pg.sql(f"select pid from pg_stat_activity where usename = '{user}'").split())


@pytest.mark.parametrize("how", ["RECONNECT", "server_lifetime", "pg_terminate_backend"])
def test_learned_secret_logs_in_again_after_the_server_connection_is_replaced(pg, config_dir,
                                                                             bouncers, how):
    """The userlist form depends on pgbouncer passing a client's proof
    through to a server it connects to anew: pgbouncer 1.25.1 broke that once
    its first server connection was gone (pgbouncer #1501, "password is SCRAM
    secret but client authentication did not provide SCRAM keys").  The
    server connection is replaced three ways, then a new client logs in."""
    user = db = new_user(pg, "pw-reconnect")
    port = free_port()
    extra = {"PGBOUNCER_SERVER_LIFETIME": "1"} if how == "server_lifetime" else {}
    env = base_env(pg, user, "pw-reconnect", db, port, **extra)
    r = init(config_dir, env)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg, user)
    b = bouncers(config_dir, port)
    first = psql(port, user, "pw-reconnect", db, "select pg_backend_pid()")
    assert first.returncode == 0, first.stderr + b.log.read_text()
    old = first.stdout.strip()
    if how == "RECONNECT":
        r = psql(port, user, "pw-reconnect", "pgbouncer", "RECONNECT")
        assert r.returncode == 0, r.stderr
    elif how == "pg_terminate_backend":
        pg.sql(f"select pg_terminate_backend({old})")
    for _ in range(100):  # the old server connection is gone
        if old not in backend_pids(pg, user):
            break
        subprocess.run(["sleep", "0.1"])
    assert old not in backend_pids(pg, user), b.log.read_text()
    again = psql(port, user, "pw-reconnect", db, "select pg_backend_pid()")
    assert again.returncode == 0, again.stderr + b.log.read_text()
    assert again.stdout.strip() != old
    assert "did not provide SCRAM keys" not in b.log.read_text()


def test_check_says_which_form_run_writes(pg, config_dir):
    user = db = new_user(pg, "pw-check")
    env = base_env(pg, user, "pw-check", db, free_port())
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert f'# run writes for "{user}": the server\'s SCRAM secret' in r.stdout
    r = entrypoint(["check", "--config-dir", str(config_dir)], dict(env, AUTH_TYPE="trust"))
    assert f'# run writes for "{user}": the plaintext password, because' in r.stdout
    assert list(config_dir.iterdir()) == []
    assert "pw-check" not in r.stdout + r.stderr


def test_wrong_password_is_refused_and_nothing_is_written(pg, config_dir):
    user = db = new_user(pg, "right-pw")
    r = init(config_dir, base_env(pg, user, "Wr0ng-learn", db, free_port()))
    assert r.returncode == 77, r.stderr
    assert "password authentication failed" in r.stderr
    assert list(config_dir.iterdir()) == []


def test_upstream_pgbouncer_with_a_new_salt_per_login_gets_plaintext(pg, config_dir, workdir,
                                                                     bouncers):
    """A pooler in front of the server that keeps the plaintext answers each
    login with a new salt: no fixed secret exists, so plaintext it is."""
    user = db = new_user(pg, "pw-chain")
    front = pathlib.Path(tempfile.mkdtemp(prefix="front-", dir=workdir))
    front_port = free_port()
    (front / "userlist.txt").write_text(f'"{user}" "pw-chain"\n')
    (front / "pgbouncer.ini").write_text(
        f"[databases]\n{db} = host=127.0.0.1 port={pg.port}\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {front_port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {front}/userlist.txt\n")
    if os.geteuid() == 0:
        uid, gid = run_user_ids()
        for p in (front, front / "userlist.txt", front / "pgbouncer.ini"):
            os.chown(p, uid, gid)
    bouncers(front, front_port)
    port = free_port()
    env = base_env(pg, user, "pw-chain", db, port, DB_PORT=str(front_port))
    r = init(config_dir, env)
    assert r.returncode == 0, r.stderr
    assert "a new salt at every login" in r.stderr
    assert userlist_entries(config_dir)[user] == "pw-chain"
    bouncers(config_dir, port)
    q = psql(port, user, "pw-chain", db, "select 'ok'")
    assert q.stdout.strip() == "ok", q.stderr


class FakeScramServer(threading.Thread):
    """Just enough of PostgreSQL's protocol for a SCRAM login.  The first
    login (the wait's, through libpq) gets the right server signature; every
    later one (the entrypoint's own exchange) a wrong one, or, with HANG, no
    answer at all after its startup packet."""

    def __init__(self, password, hang=False):
        super().__init__(daemon=True)
        self.hang = hang
        self.password = password.encode()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.logins = 0

    @staticmethod
    def exact(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def message(self, conn):
        kind = self.exact(conn, 1)
        n = struct.unpack("!I", self.exact(conn, 4))[0]
        return kind, self.exact(conn, n - 4)

    @staticmethod
    def send(conn, kind, body):
        conn.sendall(kind + struct.pack("!I", len(body) + 4) + body)

    def serve(self, conn, bad):
        while True:  # SSLRequest / GSSENCRequest: no; then the startup packet
            n = struct.unpack("!I", self.exact(conn, 4))[0]
            body = self.exact(conn, n - 4)
            if struct.unpack("!I", body[:4])[0] not in (80877103, 80877104):
                break
            conn.sendall(b"N")
        if bad and self.hang:
            while conn.recv(4096):
                pass
            return
        self.send(conn, b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0")
        _, body = self.message(conn)
        rest = body.split(b"\0", 1)[1]
        first = rest[4:4 + struct.unpack("!I", rest[:4])[0]].decode()
        bare = first.split(",", 2)[2]
        nonce = dict(kv.split("=", 1) for kv in bare.split(","))["r"] + "fake"
        salt = b"0123456789abcdef"
        server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i=4096"
        self.send(conn, b"R", struct.pack("!I", 11) + server_first.encode())
        _, final = self.message(conn)
        auth = f"{bare},{server_first},{final.decode().rsplit(',p=', 1)[0]}".encode()
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, 4096)
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        sig = hmac.new(server_key, auth, "sha256").digest()
        if bad:
            sig = bytes(b ^ 1 for b in sig)
        self.send(conn, b"R", struct.pack("!I", 12) + b"v=" + base64.b64encode(sig))
        self.send(conn, b"R", struct.pack("!I", 0))
        self.send(conn, b"S", b"server_version\x0015.0\x00")
        self.send(conn, b"K", struct.pack("!II", 1, 2))
        self.send(conn, b"Z", b"I")
        while conn.recv(4096):
            pass

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.logins += 1
            try:
                self.serve(conn, bad=self.logins > 1)
            except (EOFError, OSError, KeyError, IndexError):
                pass
            finally:
                conn.close()


def test_server_signature_that_does_not_verify_is_refused_and_nothing_written(config_dir):
    fake = FakeScramServer("pw-fake")
    fake.start()
    env = base_env(type("X", (), {"host": "127.0.0.1", "port": fake.port})(), "app", "pw-fake",
                   "app", free_port(), SERVER_TLS_SSLMODE="disable")
    r = init(config_dir, env)
    fake.sock.close()
    assert "accepts logins" in r.stderr  # libpq's login got the right signature
    assert r.returncode == 77, r.stderr
    assert "the server's SCRAM signature does not verify" in r.stderr
    assert list(config_dir.iterdir()) == []


def test_run_as_root_writes_no_password_anywhere_and_pool_serves(pg, config_dir):
    """The whole path: run (root when the tests are) learns the secret in an
    unprivileged child, writes it, drops privileges and execs pgbouncer."""
    from utils import BIN, process_env, wait_port
    password = "s3cret-nowhere"
    user = db = new_user(pg, password)
    port = free_port()
    env = process_env(base_env(pg, user, password, db, port))
    p = subprocess.Popen([str(BIN), "run", "--config-dir", str(config_dir)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_port(port, 30)
        assert psql(port, user, password, db, "select 'ok'").stdout.strip() == "ok"
        assert userlist_entries(config_dir)[user] == rolpassword(pg, user)
        assert files_with(config_dir, password) == []
        assert password not in open(f"/proc/{p.pid}/environ", "rb").read().decode()
    finally:
        p.send_signal(signal.SIGINT)
        out = p.communicate(timeout=10)[0]
    assert password not in out


def fake_env(fake):
    return base_env(type("X", (), {"host": "127.0.0.1", "port": fake.port})(), "app",
                    "pw-fake", "app", free_port(), SERVER_TLS_SSLMODE="disable")


def test_learning_login_is_bounded_by_the_waits_deadline(config_dir):
    """A server that accepts and never answers the learning login: the one
    deadline of --wait-timeout ends it with 69, and nothing is written."""
    fake = FakeScramServer("pw-fake", hang=True)
    fake.start()
    r = entrypoint(["init", "--config-dir", str(config_dir), "--wait-timeout", "3"],
                   fake_env(fake), timeout=30)
    fake.sock.close()
    assert "accepts logins" in r.stderr
    assert r.returncode == 69, r.stderr
    assert "could not learn the SCRAM secret" in r.stderr and "timeout expired" in r.stderr
    assert list(config_dir.iterdir()) == []


def test_sigterm_during_the_learning_login_ends_it(config_dir):
    from utils import BIN, process_env
    fake = FakeScramServer("pw-fake", hang=True)
    fake.start()
    p = subprocess.Popen([str(BIN), "init", "--config-dir", str(config_dir), "--wait-timeout",
                          "60"], env=process_env(fake_env(fake)), stderr=subprocess.PIPE,
                         text=True)
    for _ in range(200):
        if fake.logins >= 2 or p.poll() is not None:
            break
        subprocess.run(["sleep", "0.05"])
    assert fake.logins >= 2 and p.poll() is None
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=10)
    fake.sock.close()
    assert rc == 128 + signal.SIGTERM
    assert "received signal 15 while learning" in p.stderr.read()
    assert list(config_dir.iterdir()) == []


def test_init_as_an_unprivileged_user_learns_in_process(pg, config_dir):
    """Not root (OpenShift, the image's default user): no child, the same
    secret."""
    from utils import BIN, as_run_user, process_env
    user = db = new_user(pg, "pw-nonroot")
    env = process_env(base_env(pg, user, "pw-nonroot", db, free_port()))
    env.pop("PGBOUNCER_RUN_USER")
    r = subprocess.run(as_run_user([BIN, "init", "--config-dir", str(config_dir)]), env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg, user)
    assert files_with(config_dir, "pw-nonroot") == []


@pytest.fixture(scope="module", params=["password", "trust"])
def pg_method(request, workdir):
    """A server whose pg_hba asks for the cleartext password, or for none."""
    p = Postgres(workdir / f"hba-{request.param}")
    p.hba_extra = (f"host all all 127.0.0.1/32 {request.param}\n"
                   f"host all all ::1/128 {request.param}\n")
    p.method = request.param
    p.start()
    yield p
    p.stop()


def test_server_asking_for_cleartext_or_nothing_gets_plaintext(pg_method, config_dir, bouncers):
    user = db = new_user(pg_method, "pw-method")
    port = free_port()
    # a server that asks for these is allowed only when the user says so
    refused = init(config_dir, base_env(pg_method, user, "pw-method", db, port))
    assert refused.returncode == 77 and "PGBOUNCER_UPSTREAM_AUTH" in refused.stderr, \
        refused.stderr
    r = init(config_dir, base_env(pg_method, user, "pw-method", db, port,
                                  PGBOUNCER_UPSTREAM_AUTH=pg_method.method))
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == "pw-method"
    want = "cleartext password" if pg_method.method == "password" else "asks for no password"
    assert want in r.stderr
    b = bouncers(config_dir, port)
    q = psql(port, user, "pw-method", db, "select 'ok'")
    assert q.stdout.strip() == "ok", q.stderr + b.log.read_text()


def test_auth_user_gets_plaintext(pg, config_dir, bouncers):
    """pgbouncer logs in as auth_user to run auth_query, with no client
    proof (pgbouncer issues 774, 1186)."""
    user = db = new_user(pg, "pw-authuser")
    port = free_port()
    r = init(config_dir, base_env(pg, user, "pw-authuser", db, port, PGBOUNCER_AUTH_USER=user))
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == "pw-authuser"
    assert "it is auth_user" in r.stderr
    bouncers(config_dir, port)
    assert psql(port, user, "pw-authuser", db, "select 1").stdout.strip() == "1"
