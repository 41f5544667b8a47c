"""Helpers of the tests (fixtures are in conftest.py): the binary under test
and its environment, a real PostgreSQL (Debian's package, initdb'd on a free
loopback port), pgbouncer started from what the binary wrote, psql, ports,
the secrets audit."""
import atexit
import itertools
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time


ROOT = pathlib.Path(__file__).resolve().parent.parent


RUN_USER = "postgres"  # unprivileged account the servers run as (tests run as root)


# The binaries are run by the unprivileged account too, which may not be able
# to enter the checkout (a clone under /root): run copies from a directory it
# can read.  The copies are the same bytes.
_BINDIR = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-bin-"))


os.chmod(_BINDIR, 0o755)


atexit.register(shutil.rmtree, _BINDIR, True)


def _runnable_copy(path):
    dst = _BINDIR / pathlib.Path(path).name
    shutil.copy2(path, dst)
    os.chmod(dst, 0o755)
    return dst


BIN = _runnable_copy(os.environ.get("PGBE_BIN", ROOT / "build" / "pgbouncer-entrypoint"))


PGBIN = pathlib.Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))


# PGBE_PGBOUNCER=static runs the tests against the static pgbouncer of the
# image (build/pgbouncer) instead of Debian's package; `run` finds it first
# on PATH.
STATIC = os.environ.get("PGBE_PGBOUNCER") == "static"


PGBOUNCER = str(_runnable_copy(ROOT / "build" / "pgbouncer")) if STATIC else (
    shutil.which("pgbouncer") or "/usr/sbin/pgbouncer")


PATH = (str(_BINDIR) + ":" if STATIC else "") + os.environ.get("PATH", "") + \
    ":/usr/sbin:/usr/bin:/sbin:/bin"


# pgbouncer.ini and userlist.txt are links into the generation directory
# that .pgbe-current names (src/files/pair.c): a user sees the two names
PAIR_ENTRIES = ".pgbe-"


def shown(d):
    """What a user (or pgbouncer) reads in config directory D: each visible
    name to its bytes, through the pair's links."""
    return {p.name: p.read_bytes() for p in d.iterdir() if not p.name.startswith(PAIR_ENTRIES)}


def shown_names(d):
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(PAIR_ENTRIES))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_user_ids():
    pw = pwd.getpwnam(RUN_USER)
    return pw.pw_uid, pw.pw_gid


def as_run_user(cmd):
    """Prefix a command so it runs as the unprivileged account when we are root."""
    if os.geteuid() == 0:
        # setpriv execs the command (runuser would stay as its parent and
        # delay every SIGTERM by two seconds)
        return ["setpriv", f"--reuid={RUN_USER}", f"--regid={RUN_USER}", "--init-groups",
                "--"] + [str(c) for c in cmd]
    return list(cmd)


def wait_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def process_env(env):
    """ENV plus PATH and the sanitizer options of a `make san` binary; nothing
    else is inherited."""
    full = {"PATH": PATH}
    full.update({k: v for k, v in os.environ.items() if k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")})
    full.update(env)
    return full


# The secrets audit (issue 8): every password given to a role, and every byte
# the binary wrote during the session (stdout and stderr of entrypoint() and
# of test_run's Running).  At the end no password may be in that output.
PASSWORDS = set()


OUTPUT = []


AUDIT_MIN_LEN = 6  # shorter test passwords ("pw") occur in ordinary words


def record_output(text):
    """Keep what the binary wrote for the audit.  client-url prints URLs with
    the password by design (that is its job): its stdout is not audited."""
    OUTPUT.append(text or "")


def audit_leaks(passwords, outputs):
    """The passwords (long enough to be unambiguous) found in OUTPUTS."""
    blob = "\n".join(outputs)
    return sorted(p for p in passwords if len(p) >= AUDIT_MIN_LEN and p in blob)


def entrypoint(args, env, check=False, timeout=60):
    """Run the binary under test with exactly ENV (nothing inherited)."""
    full = process_env(env)
    p = subprocess.run([str(BIN)] + list(args), env=full, capture_output=True, text=True,
                       timeout=timeout)
    record_output(p.stderr)
    if not args or args[0] != "client-url":
        record_output(p.stdout)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr}")
    return p


class Postgres:
    def __init__(self, base, encryption="scram-sha-256"):
        self.dir = base / "pgdata"
        self.sock = base / "pgsock"
        self.port = free_port()
        self.encryption = encryption
        self.host = "127.0.0.1"
        self.extra_conf = ""
        self.hba_extra = ""

    def start(self):
        for d in (self.dir, self.sock):
            d.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                uid, gid = run_user_ids()
                os.chown(d, uid, gid)
        subprocess.run(as_run_user([PGBIN / "initdb", "-D", self.dir, "-A", "trust",
                                    "-U", "postgres", "-N"]),
                       check=True, capture_output=True)
        hba = self.dir / "pg_hba.conf"
        hba.write_text("local all postgres trust\n" + (self.hba_extra or
            f"host all all 127.0.0.1/32 {self.encryption}\n"
            f"host all all ::1/128 {self.encryption}\n"))
        conf = self.dir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1,::1'\n"
                    f"unix_socket_directories = '{self.sock}'\n"
                    f"password_encryption = '{self.encryption}'\nfsync = off\n" + self.extra_conf)
        self.ctl("start", "-w", "-l", str(self.dir / "log"))

    def ctl(self, *args):
        subprocess.run(as_run_user([PGBIN / "pg_ctl", "-D", self.dir] + list(args)),
                       check=True, capture_output=True)

    def stop(self):
        subprocess.run(as_run_user([PGBIN / "pg_ctl", "-D", self.dir, "stop", "-m", "immediate"]),
                       capture_output=True)

    def sql(self, query, db="postgres"):
        p = subprocess.run(as_run_user(["psql", "-X", "-q", "-At", "-h", str(self.sock),
                                        "-p", str(self.port), "-U", "postgres", "-d", db,
                                        "-v", "ON_ERROR_STOP=1", "-c", query]),
                           capture_output=True, text=True)
        if p.returncode:
            raise AssertionError(p.stderr)
        return p.stdout.strip()

    def add_users(self, pairs):
        """Many login roles (no database) in one statement: USER, PASSWORD pairs."""
        stmts = [f"SET password_encryption = '{self.encryption}'"]
        for user, password in pairs:
            PASSWORDS.add(password)
            ident = '"' + user.replace('"', '""') + '"'
            stmts.append(f"CREATE ROLE {ident} LOGIN PASSWORD '" + password.replace("'", "''") +
                         "'")
        self.sql("; ".join(stmts))

    def add_user(self, user, password, db=None):
        """Create a login role (password stored per password_encryption) and a database."""
        PASSWORDS.add(password)
        q = "'" + password.replace("'", "''") + "'"
        ident = '"' + user.replace('"', '""') + '"'
        self.sql(f"SET password_encryption = '{self.encryption}'; "
                 f"CREATE ROLE {ident} LOGIN PASSWORD {q}")
        if db:
            self.sql(f'CREATE DATABASE "{db}" OWNER {ident}')


class Bouncer:
    """pgbouncer started on what the entrypoint rendered into CONFIG_DIR."""

    def __init__(self, config_dir, port):
        self.config_dir = pathlib.Path(config_dir)
        self.port = port
        self.proc = None
        self.log = self.config_dir.parent / f"pgbouncer-{port}.log"

    def start(self, binary=PGBOUNCER):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(as_run_user([binary, str(self.config_dir / "pgbouncer.ini")]),
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            self.stop()
            raise AssertionError("pgbouncer did not start:\n" + self.log.read_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()


def psql(port, user, password, db, query, host="127.0.0.1"):
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
    return subprocess.run(["psql", "-X", "-At", "-h", host, "-p", str(port), "-U", user,
                           "-d", db, "-c", query], env=env, capture_output=True, text=True)


def psql_url(url, query):
    env = dict(os.environ, PGCONNECT_TIMEOUT="5")
    env.pop("PGPASSWORD", None)
    return subprocess.run(["psql", "-X", "-At", url, "-c", query], env=env,
                          capture_output=True, text=True)


def run_user_spec():
    uid, gid = run_user_ids()
    return f"{uid}:{gid}"


def base_env(pg, user, password, db, port, **extra):
    env = {"DB_HOST": pg.host, "DB_PORT": str(pg.port), "DB_NAME": db, "DB_USER": user,
           "DB_PASSWORD": password, "LISTEN_ADDR": "127.0.0.1", "LISTEN_PORT": str(port),
           "PGBOUNCER_UNIX_SOCKET_DIR": "", "PGBOUNCER_RUN_USER": run_user_spec()}
    # a server that stores md5 hashes asks for md5: the user opts in to it
    # (tests/test_upstream_auth.py checks the refusal without)
    if getattr(pg, "encryption", None) == "md5":
        env["PGBOUNCER_UPSTREAM_AUTH"] = "md5"
    env.update(extra)
    return env


def make_tls_files(d, cn="localhost"):
    """A CA and a server certificate for CN, made with the openssl CLI."""
    d.mkdir(parents=True, exist_ok=True)
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
         "-keyout", "ca.key", "-out", "ca.crt")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", "server.key",
         "-out", "server.csr")
    (d / "ext.cnf").write_text(f"subjectAltName=DNS:{cn}\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    if os.geteuid() == 0:
        uid, gid = run_user_ids()
        for f in d.iterdir():
            os.chown(f, uid, gid)
    os.chmod(d / "server.key", 0o600)
    return d


def reported_versions(lines):
    """`--version` lines -> {name: (version, Debian version or None)}: e.g.
    "OpenSSL 3.5.7 (Debian 3.5.7-1~deb13u2, 23 patches)" gives
    {"OpenSSL": ("3.5.7", "3.5.7-1~deb13u2")}."""
    out = {}
    for line in lines:
        if not line.strip():
            continue
        name, _, rest = line.partition(" ")
        version, _, how = rest.partition(" (")
        debian = how.split(",")[0][len("Debian "):] if how.startswith("Debian ") else None
        out[name] = (version, debian)
    return out


def expected_sbom_versions(reported):
    """What the SBOM must say for each component the entrypoint reports: the
    Debian version it was built from where there is one, else its version."""
    return {"pgbouncer-entrypoint": reported["pgbouncer-entrypoint"][0],
            "openssl": reported["OpenSSL"][1] or reported["OpenSSL"][0],
            "libpq": reported["libpq"][1] or reported["libpq"][0],
            "musl": reported["musl"][1] or reported["musl"][0]}


_serial = itertools.count(1)


def new_user(pg, password, db=None):
    """A login role with PASSWORD that owns database DB (default: one of its
    own name).  The name is new in the session and says the server's
    password_encryption."""
    user = f"u{next(_serial)}_{pg.encryption.replace('-', '')}"
    pg.add_user(user, password, db or user)
    return user


def write_secret(path, value):
    """Replace the secret file the way Kubernetes does: a new file renamed
    over the old one (a root-only file: the entrypoint reads it as root)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(value)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def kubelet_swap(secret_dir, value):
    """Update a mounted Secret the way the kubelet does: the files go into a
    new timestamped directory, then the ..data symlink is renamed over;
    `password` itself is a symlink to ..data/password and never written."""
    ts = secret_dir / f"..2026_{next(_serial)}"
    ts.mkdir()
    (ts / "password").write_text(value)
    os.chmod(ts / "password", 0o600)
    tmp = secret_dir / "..data_tmp"
    os.symlink(ts.name, tmp)
    os.replace(tmp, secret_dir / "..data")
    if not (secret_dir / "password").is_symlink():
        os.symlink("..data/password", secret_dir / "password")


class Running:
    """`pgbouncer-entrypoint run` (execs pgbouncer) or `watch` in the background."""

    def __init__(self, args, env):
        self.log = []
        self.recorded = False
        self.proc = subprocess.Popen([str(BIN)] + args, env=process_env(env),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.append(line)

    def output(self):
        return "".join(self.log)

    def wait_for(self, text, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            time.sleep(0.05)
        return False

    def finish(self):
        """Stop it, then everything it wrote."""
        self.stop()
        return self.output()

    def stop(self, sig=signal.SIGINT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(2)
        if not self.recorded:
            self.recorded = True
            record_output(self.output())  # the secrets audit


class Pool:
    """A pool started by `run` on a role whose password lives in a file."""

    def __init__(self, pg, config_dir, secret_dir, start, kubelet=False, **extra):
        self.pg = pg
        self.password = "old-Pa55"
        self.user = new_user(pg, self.password)
        self.port = free_port()
        self.config_dir = config_dir
        self.secret = secret_dir / "password"
        self.put = (lambda v: kubelet_swap(secret_dir, v)) if kubelet else \
            (lambda v: write_secret(self.secret, v))
        self.put(self.password)
        uid, gid = run_user_ids()
        self.env = base_env(pg, self.user, self.password, self.user, self.port,
                            PGBOUNCER_UNIX_SOCKET_DIR=str(config_dir),
                            DB_PASSWORD_FILE=str(self.secret), **extra)
        del self.env["DB_PASSWORD"]
        self.run = start(["run", "--config-dir", str(config_dir)], self.env)
        assert wait_port(self.port, 30), self.run.output()

    def query(self, password, sql="select 1"):
        return psql(self.port, self.user, password, self.user, sql)

    def reload(self, **extra):
        return entrypoint(["reload", "--config-dir", str(self.config_dir)],
                          dict(self.env, **extra))

    def health(self, deep=False):
        args = ["health"] + (["--deep"] if deep else []) + ["--config-dir", str(self.config_dir)]
        return entrypoint(args, self.env, timeout=10)


class Session:
    """One psql client connected through the pool for the whole test."""

    def __init__(self, pool, password):
        env = dict(os.environ, PGPASSWORD=password)
        self.proc = subprocess.Popen(["psql", "-X", "-At", "-h", "127.0.0.1", "-p",
                                      str(pool.port), "-U", pool.user, "-d", pool.user],
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.n = 0

    def ask(self):
        self.n += 1
        self.proc.stdin.write(f"select 'alive-{self.n}';\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip() == f"alive-{self.n}"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(5)
