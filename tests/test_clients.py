"""Real clients through a pool the binary started (`run`, transaction mode,
its defaults): Django, asyncpg, pgbench, psycopg2 -- what their users see
(issue 18; docs/clients.md says why each setting matters)."""
import os
import pathlib
import re
import signal
import subprocess
import tempfile

import pytest

from utils import (BIN, PGBOUNCER, ROOT, STATIC, base_env, free_port, make_tls_files,
                   process_env, psql, record_output, wait_port)

PY = "/usr/bin/python3"  # Debian's, with python3-django, -psycopg2, -asyncpg
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
PASSWORD = "pw-clients"
ROWS = 5000


def pgbouncer_version():
    out = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    return int(m.group(1)) * 100 + int(m.group(2))


VERSION = pgbouncer_version()
PREPARES = VERSION >= 121  # pgbouncer keeps named prepared statements (max_prepared_statements)

counter = [0]


class Pool:
    """`pgbouncer-entrypoint run` in the background: the pool a user gets."""

    def __init__(self, pg, config_dir, **extra):
        counter[0] += 1
        self.user = self.db = f"cl{counter[0]}"
        pg.add_user(self.user, PASSWORD, self.db)
        self.port = free_port()
        self.ini = pathlib.Path(config_dir) / "pgbouncer.ini"
        env = base_env(pg, self.user, PASSWORD, self.db, self.port, **extra)
        self.proc = subprocess.Popen([str(BIN), "run", "--config-dir", str(config_dir)],
                                     env=process_env(env), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        if not wait_port(self.port, 30):
            raise AssertionError("the pool did not start:\n" + self.stop())

    def setting(self, name):
        m = re.search(rf"^{name} = (.*)$", self.ini.read_text(), re.M)
        return m.group(1) if m else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        record_output(out)  # the secrets audit (conftest)
        return out


@pytest.fixture
def pool(pg, config_dir):
    started = []

    def start(**extra):
        p = Pool(pg, config_dir, **extra)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def test_the_pool_is_in_transaction_mode_by_default(pool):
    p = pool()
    assert p.setting("pool_mode") == "transaction"
    r = psql(p.port, p.user, PASSWORD, p.db, "select 1")
    assert r.stdout.strip() == "1", r.stderr


# ---- Django ---------------------------------------------------------------

SETTINGS = """\
import os
SECRET_KEY = "test"
INSTALLED_APPS = ["shop"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": "127.0.0.1", "PORT": os.environ["POOL_PORT"],
    "NAME": os.environ["POOL_DB"], "USER": os.environ["POOL_USER"],
    "PASSWORD": os.environ["POOL_PASSWORD"],
    "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "0")),
    "DISABLE_SERVER_SIDE_CURSORS": os.environ.get("DISABLE_SSC") == "1",
}}
"""

MODELS = """\
from django.db import models


class Item(models.Model):
    n = models.IntegerField()
    name = models.CharField(max_length=40)
"""

# One command per run; prints one line a test reads.
WORKER = """\
import sys
import django
django.setup()
from django.db import close_old_connections, transaction
from shop.models import Item

what = sys.argv[1]
if what == "load":
    with transaction.atomic():
        Item.objects.bulk_create(Item(n=i, name=f"item {i}") for i in range(%(rows)d))
    print(Item.objects.count())
elif what == "atomic":
    before = Item.objects.count()
    try:
        with transaction.atomic():
            Item.objects.create(n=-1, name="rolled back")
            inside = Item.objects.count()
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with transaction.atomic():
        Item.objects.create(n=-2, name="kept")
    print(before, inside, Item.objects.count())
    Item.objects.filter(n=-2).delete()
elif what == "iterate":
    total = count = 0
    for item in Item.objects.order_by("id").iterator(chunk_size=100):
        total += item.n
        count += 1
    print(count, total)
elif what == "requests":
    # three "requests": Django closes connections older than CONN_MAX_AGE
    # at each end (close_old_connections)
    from django.db.backends.signals import connection_created
    opened, counts = [], set()
    connection_created.connect(lambda **kw: opened.append(1), weak=False)
    for _ in range(3):
        close_old_connections()
        counts.add(Item.objects.count())
        close_old_connections()
    print(len(counts), len(opened), counts.pop())
""" % {"rows": ROWS}


@pytest.fixture
def django_project(workdir):
    d = pathlib.Path(tempfile.mkdtemp(prefix="django-", dir=workdir))
    (d / "shop").mkdir()
    (d / "shop" / "__init__.py").write_text("")
    (d / "shop" / "models.py").write_text(MODELS)
    (d / "settings.py").write_text(SETTINGS)
    (d / "worker.py").write_text(WORKER)
    return d


def django_env(project, p, **extra):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="settings", PYTHONPATH=str(project),
               POOL_PORT=str(p.port), POOL_DB=p.db, POOL_USER=p.user, POOL_PASSWORD=PASSWORD)
    env.update(extra)
    return env


def django(project, p, *args, **extra):
    return subprocess.run([PY] + list(args), cwd=project, env=django_env(project, p, **extra),
                          capture_output=True, text=True, timeout=120)


def django_ready(project, p):
    """makemigrations, migrate and 5,000 rows, all through the pool."""
    for args in (["-m", "django", "makemigrations", "shop"], ["-m", "django", "migrate"]):
        r = django(project, p, *args)
        assert r.returncode == 0, r.stdout + r.stderr
    r = django(project, p, "worker.py", "load")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(ROWS)]


def iterate_concurrently(project, p, n, **extra):
    """N processes each .iterator() over every row at once: their results."""
    procs = [subprocess.Popen([PY, "worker.py", "iterate"], cwd=project,
                              env=django_env(project, p, **extra), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    return [(q.returncode, out, err) for q in procs for out, err in [q.communicate(timeout=120)]]


def test_django_migrates_and_loads_rows_through_the_pool(pool, django_project):
    p = pool()
    django_ready(django_project, p)
    r = psql(p.port, p.user, PASSWORD, p.db, "select count(*), sum(n) from shop_item")
    assert r.stdout.strip() == f"{ROWS}|{ROWS * (ROWS - 1) // 2}", r.stderr


def test_django_atomic_block_rolls_back_and_commits_as_one_transaction(pool, django_project):
    p = pool()
    django_ready(django_project, p)
    r = django(django_project, p, "worker.py", "atomic")
    assert r.returncode == 0, r.stderr
    # inside the block its own insert is seen; the exception undoes it
    assert r.stdout.split() == [str(ROWS), str(ROWS + 1), str(ROWS + 1)]


def test_django_iterator_from_6_processes_with_server_side_cursors_disabled(pool,
                                                                            django_project):
    p = pool()
    django_ready(django_project, p)
    want = f"{ROWS} {ROWS * (ROWS - 1) // 2}"
    for attempt in range(3):
        results = iterate_concurrently(django_project, p, 6, DISABLE_SSC="1")
        for rc, out, err in results:
            assert rc == 0 and out.strip() == want, f"attempt {attempt}: {err}"


def test_django_iterator_with_server_side_cursors_loses_its_cursor(pool, django_project):
    """Why DISABLE_SERVER_SIDE_CURSORS: each FETCH of the cursor Django
    declared is a transaction of its own, which the pool may give to
    another server connection, where the cursor does not exist."""
    p = pool()
    django_ready(django_project, p)
    lost = ok = 0
    for _ in range(3):
        for rc, out, err in iterate_concurrently(django_project, p, 6):
            if rc == 0:
                ok += 1
            else:
                assert re.search(r'cursor "_django_curs_\w+" does not exist', err), err
                lost += 1
    print(f"server-side cursors: {lost} of {lost + ok} iterations lost their cursor")
    assert lost > 0


@pytest.mark.parametrize("max_age,connections", [(0, 3), (600, 1)])
def test_django_conn_max_age_works_through_the_pool(pool, django_project, max_age,
                                                    connections):
    p = pool()
    django_ready(django_project, p)
    r = django(django_project, p, "worker.py", "requests", CONN_MAX_AGE=str(max_age))
    assert r.returncode == 0, r.stderr
    # every request saw the rows; 0 opens a connection per request, 600 keeps one
    assert r.stdout.split() == ["1", str(connections), str(ROWS)]


# ---- asyncpg --------------------------------------------------------------

ASYNCPG = """\
import asyncio, sys
import asyncpg

async def main(port, db, user, password, cache, conns, queries):
    pool = await asyncpg.create_pool(host="127.0.0.1", port=port, database=db, user=user,
                                     password=password, min_size=conns, max_size=conns,
                                     statement_cache_size=cache)
    async def one(i):
        try:
            # a parameter and a varying text: several statements per connection
            v = await pool.fetchval(f"select $1::int + {i % 7}", i)
            return None if v == i + i % 7 else f"wrong answer {v}"
        except Exception as e:
            return f"{type(e).__name__}: {e}"
    errors = await asyncio.gather(*(one(i) for i in range(queries)))
    await pool.close()
    errors = [e for e in errors if e]
    print(len(errors))
    for e in sorted(set(errors))[:5]:
        print(e)

asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
                 int(sys.argv[6]), int(sys.argv[7])))
"""


def asyncpg_run(p, cache, conns=8, queries=480):
    """QUERIES concurrent queries over CONNS connections: (failures, messages)."""
    args = [PY, "-c", ASYNCPG, str(p.port), p.db, p.user, PASSWORD, str(cache), str(conns),
            str(queries)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    return int(lines[0]), lines[1:]


@pytest.mark.skipif(not PREPARES, reason=f"pgbouncer {VERSION // 100}.{VERSION % 100} has no "
                    "max_prepared_statements (1.21+)")
def test_asyncpg_default_statement_cache_works_with_the_default_max_prepared_statements(pool):
    p = pool()
    assert p.setting("max_prepared_statements") == "200"
    failures, messages = asyncpg_run(p, cache=100)  # asyncpg's default
    assert failures == 0, messages


@pytest.mark.skipif(not PREPARES, reason=f"pgbouncer {VERSION // 100}.{VERSION % 100} has no "
                    "max_prepared_statements (1.21+)")
def test_asyncpg_default_statement_cache_fails_when_max_prepared_statements_is_0(pool):
    p = pool(MAX_PREPARED_STATEMENTS="0")
    assert p.setting("max_prepared_statements") == "0"
    failures, messages = asyncpg_run(p, cache=100)
    print(f"asyncpg cache 100, max_prepared_statements 0: {failures} of 480 failed")
    assert failures > 0
    assert any("prepared statement" in m for m in messages), messages


def test_asyncpg_without_statement_cache_works_on_every_version(pool):
    """statement_cache_size=0, the usual advice for pgbouncer before 1.21."""
    p = pool()
    failures, messages = asyncpg_run(p, cache=0)
    print(f"asyncpg cache 0 on {VERSION}: {failures} of 480 failed")
    assert failures == 0, messages


@pytest.mark.skipif(PREPARES, reason="pgbouncer 1.21+ keeps prepared statements")
def test_asyncpg_default_statement_cache_fails_before_1_21(pool):
    p = pool()
    assert p.setting("max_prepared_statements") is None
    failures, messages = asyncpg_run(p, cache=100)
    print(f"asyncpg cache 100 on {VERSION}: {failures} of 480 failed")
    assert failures > 0
    assert any("prepared statement" in m for m in messages), messages


# ---- pgbench --------------------------------------------------------------

def pgbench(p, *args):
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    return subprocess.run([PGBENCH, "-h", "127.0.0.1", "-p", str(p.port), "-U", p.user]
                          + list(args) + [p.db], env=env, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture
def bench_pool(pool):
    p = pool()
    r = pgbench(p, "-i", "-q", "-s", "1")
    assert r.returncode == 0, r.stderr
    return p


def bench_ok(r):
    m = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    return r.returncode == 0 and m and int(m.group(1)) == 8 * 50


@pytest.mark.parametrize("mode", ["simple", "extended"])
def test_pgbench_simple_and_extended_protocol_work(bench_pool, mode):
    r = pgbench(bench_pool, "-M", mode, "-c", "8", "-j", "2", "-t", "50")
    assert bench_ok(r), r.stdout + r.stderr


# ---- make bench's lean client (bench/loadgen.c) ------------------------------

LOADGEN = ROOT / "build" / "loadgen"


def loadgen(p, *args, password=PASSWORD):
    r = subprocess.run([str(LOADGEN), "-h", "127.0.0.1", "-p", str(p.port), "-U", p.user,
                        "-d", p.db, "-c", "4", "-T", "1"] + list(args),
                       env={"PATH": os.environ["PATH"], "PGPASSWORD": password},
                       capture_output=True, text=True, timeout=60)
    return r, dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)


@pytest.fixture
def tls_bench_pool(pool, workdir):
    tls = make_tls_files(workdir / f"tls-loadgen-{counter[0]}")
    p = pool(PGBOUNCER_CLIENT_TLS_SSLMODE="require",
             PGBOUNCER_CLIENT_TLS_KEY_FILE=str(tls / "server.key"),
             PGBOUNCER_CLIENT_TLS_CERT_FILE=str(tls / "server.crt"))
    assert pgbench(p, "-i", "-q", "-s", "1").returncode == 0
    return p


@pytest.fixture
def quiet_bench_pool(pool):
    """Thousands of logins a second: no log line for each (Pool's output is
    a pipe read only at the end)."""
    p = pool(PGBOUNCER_LOG_CONNECTIONS="0", PGBOUNCER_LOG_DISCONNECTIONS="0")
    assert pgbench(p, "-i", "-q", "-s", "1").returncode == 0
    return p


@pytest.mark.parametrize("args", [[], ["-C"]], ids=["persistent", "login-per-transaction"])
def test_bench_lean_client_runs_pgbench_selects_through_the_pool(quiet_bench_pool, args):
    """make bench's lean client logs in with SCRAM (keeping the salted
    password with -C) and runs pgbench -S's select through the pool."""
    r, got = loadgen(quiet_bench_pool, *args)
    assert r.returncode == 0, r.stderr
    assert int(got["transactions"]) > 0 and float(got["cpu_us_per_transaction"]) > 0, r.stdout


def test_bench_lean_client_over_client_tls(tls_bench_pool):
    r, got = loadgen(tls_bench_pool, "-s")
    assert r.returncode == 0, r.stderr
    assert int(got["transactions"]) > 0, r.stdout


def test_bench_lean_client_says_what_the_server_refused(bench_pool):
    r, _ = loadgen(bench_pool, "-C", password="not-the-password")
    assert r.returncode == 1
    # 1.18 says "SASL authentication failed", 1.24 "password authentication failed"
    assert re.search(r"^loadgen: the server said: \w+ authentication failed$", r.stderr,
                     re.M), r.stderr


def test_pgbench_prepared_works_where_pgbouncer_keeps_prepared_statements(bench_pool):
    r = pgbench(bench_pool, "-M", "prepared", "-c", "8", "-j", "2", "-t", "50")
    if PREPARES:
        assert bench_ok(r), r.stdout + r.stderr
    else:
        # 1.18 passes Parse to whichever server the transaction gets
        assert r.returncode != 0, r.stdout
        assert re.search(r'prepared statement "P_\d+" (does not exist|already exists)',
                         r.stderr), r.stderr


# ---- psycopg2 -------------------------------------------------------------

PSYCOPG2 = """\
import sys, threading
import psycopg2

port, db, user, password = sys.argv[1:5]
errors = []

def work(k):
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=port, dbname=db, user=user,
                                password=password)
        for i in range(50):
            with conn, conn.cursor() as cur:  # one transaction each
                cur.execute("select %s::int + %s", (i, k))
                if cur.fetchone()[0] != i + k:
                    errors.append("wrong answer")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select count(*) from generate_series(1, %s)", (k + 1,))
            assert cur.fetchone()[0] == k + 1
        conn.close()
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")

threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(errors), errors[:3])
"""


def test_psycopg2_transactions_and_autocommit_from_8_threads(pool):
    p = pool()
    r = subprocess.run([PY, "-c", PSYCOPG2, str(p.port), p.db, p.user, PASSWORD],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "0", r.stdout
