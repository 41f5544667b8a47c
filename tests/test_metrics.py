"""metrics: Prometheus metrics with pgbouncer_exporter's names, read from a real
pgbouncer's admin console over its Unix socket, served over HTTP."""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from utils import (BIN, ROOT, STATIC, base_env, entrypoint, free_port, process_env,
                      record_output, run_user_ids, wait_port)
from utils import new_user

# The names the issue promises, with their types (pgbouncer_exporter's newest
# release, PGBOUNCER_METRICS_NAMES's default).
PROMISED = {
    "pgbouncer_up": "gauge",
    "pgbouncer_version_info": "gauge",
    "pgbouncer_pools_client_active_connections": "gauge",
    "pgbouncer_pools_client_waiting_connections": "gauge",
    "pgbouncer_pools_client_maxwait_seconds": "gauge",
    "pgbouncer_pools_server_active_connections": "gauge",
    "pgbouncer_pools_server_idle_connections": "gauge",
    "pgbouncer_stats_totals_queries_pooled_total": "counter",
    "pgbouncer_stats_totals_sql_transactions_pooled_total": "counter",
    "pgbouncer_stats_totals_client_wait_seconds_total": "counter",
    "pgbouncer_stats_totals_queries_duration_seconds_total": "counter",
    "pgbouncer_stats_totals_received_bytes_total": "counter",
    "pgbouncer_stats_totals_sent_bytes_total": "counter",
    "pgbouncer_client_connections": "gauge",
    "pgbouncer_databases_current_connections": "gauge",
    "pgbouncer_databases_pool_size": "gauge",
    "pgbouncer_databases_reserve_pool": "gauge",
    "pgbouncer_config_max_client_connections": "gauge",
    "pgbouncer_config_max_user_connections": "gauge",
    # SHOW LISTS
    "pgbouncer_databases": "gauge",
    "pgbouncer_users": "gauge",
    "pgbouncer_pools": "gauge",
    "pgbouncer_free_clients": "gauge",
    "pgbouncer_used_clients": "gauge",
    "pgbouncer_login_clients": "gauge",
    "pgbouncer_free_servers": "gauge",
    "pgbouncer_used_servers": "gauge",
}


# Every metric name pgbouncer_exporter serves from pgbouncer (not Go's or
# promhttp's own), with its type and label names, read from collector.go of
# github.com/prometheus-community/pgbouncer_exporter at the tags named
# (metricMaps, listsMap, configMap and the descriptors).  Data, not code: a
# name we serve under PGBOUNCER_METRICS_NAMES=exporter-X must be in EXPORTER[X].
_DATABASES = ("name", "host", "port", "database", "force_user", "pool_mode")
_COMMON = {
    "pgbouncer_up": ("gauge", ()),
    "pgbouncer_version_info": ("gauge", ("version",)),
    **{f"pgbouncer_{n}": ("gauge", ()) for n in (
        "databases", "users", "pools", "free_clients", "used_clients", "login_clients",
        "free_servers", "used_servers", "cached_dns_names", "cached_dns_zones",
        "in_flight_dns_queries")},
    "pgbouncer_config_max_client_connections": ("gauge", ()),
    "pgbouncer_config_max_user_connections": ("gauge", ()),
    **{f"pgbouncer_databases_{n}": ("gauge", _DATABASES) for n in (
        "pool_size", "reserve_pool", "max_connections", "current_connections", "paused",
        "disabled")},
    **{f"pgbouncer_pools_{n}": ("gauge", ("database", "user")) for n in (
        "client_active_connections", "client_active_cancel_connections",
        "client_waiting_connections", "client_waiting_cancel_connections",
        "server_active_connections", "server_active_cancel_connections",
        "server_being_canceled_connections", "server_idle_connections",
        "server_used_connections", "server_testing_connections", "server_login_connections",
        "client_maxwait_seconds")},
}
_STATS = ("queries_pooled_total", "queries_duration_seconds_total", "received_bytes_total",
          "queries_total", "sent_bytes_total", "client_wait_seconds_total",
          "sql_transactions_pooled_total", "server_in_transaction_seconds_total")
_TOTALS = _STATS + ("client_parses_total", "server_parses_total", "binds_total",
                    "server_assignments_total")
EXPORTER = {
    # tag v0.10.2: SHOW STATS as pgbouncer_stats_*
    "exporter-0.10": {**_COMMON, **{f"pgbouncer_stats_{n}": ("counter", ("database",))
                                    for n in _STATS}},
    # tag v0.11.1: SHOW STATS_TOTALS as pgbouncer_stats_totals_* (PR #194, #208)
    "exporter-0.11": {**_COMMON, **{f"pgbouncer_stats_totals_{n}": ("counter", ("database",))
                                    for n in _TOTALS}},
}
# tag v0.12.1 (the newest release): 0.11's, and SHOW CLIENTS counted (PR #250)
EXPORTER["exporter-0.12"] = {**EXPORTER["exporter-0.11"], "pgbouncer_client_connections": (
    "gauge", ("database", "user", "application_name", "state"))}
NEWEST = "exporter-0.12"

# Names we served once that no exporter release has (issue 19).
NO_EXPORTER_HAS = ["pgbouncer_stats_server_assignments_total",
                   "pgbouncer_stats_client_parses_total", "pgbouncer_stats_server_parses_total",
                   "pgbouncer_stats_binds_total"]


class Metrics:
    """`pgbouncer-entrypoint metrics` in the background."""

    def __init__(self, config_dir, env, args=None, prefix=(), **popen):
        self.port = free_port()
        self.log = None
        env = dict(env, PGBOUNCER_METRICS_LISTEN=f"127.0.0.1:{self.port}")
        self.proc = subprocess.Popen(
            [*prefix, str(BIN), "metrics", "--config-dir", str(config_dir)] + (args or []),
            env=process_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            **popen)
        if not wait_port(self.port, 10):
            raise AssertionError("metrics did not listen: " + self.output())

    def get(self, path="/metrics", method="GET", timeout=30):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, headers, body = r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, dict(e.headers), e.read().decode()
        record_output(body)  # the secrets audit (conftest): no password in a scrape
        return status, headers, body

    def scrape(self):
        status, headers, body = self.get()
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return body

    def raw(self, data, timeout=10):
        """Send DATA as it is; the status code of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        record_output(answer.decode(errors="replace"))  # the secrets audit (conftest)
        return int(answer.split(b" ", 2)[1]), answer

    def output(self):
        self.stop()
        return self.log

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is None:
            self.log = self.proc.stdout.read()
            record_output(self.log)  # the secrets audit (conftest)
        return self.proc.returncode


def samples(body, name):
    """{labels text: value} of NAME's samples."""
    out = {}
    for line in body.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{.*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def value(body, metric, **labels):
    """The one sample of METRIC with LABELS (exposition-escaped values)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = [v for lab, v in samples(body, metric).items() if all(
        re.search(rf'[{{,]{k}="{re.escape(v)}"', lab) for k, v in labels.items())]
    assert len(found) == 1, f"{metric}{{{want}}} in:\n{body}"
    return found[0]


def types(body):
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M))


def series(body):
    """[(name, {label: unescaped value}, value)] of every sample."""
    unescape = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
    out = []
    for line in body.splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.match(r'^(\w+)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = {k: re.sub(r'\\[\\"n]', lambda e: unescape[e.group(0)], v)
                  for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def promtool(body):
    return subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                          text=True)


class Pool:
    """pgbouncer (through `run`) with its Unix socket in CONFIG_DIR, and metrics."""

    def __init__(self, pg, config_dir, running, user=None, db=None, password="pw-metrics-1",
                 **extra):
        self.user = user or new_user(pg, password)
        self.db = db or self.user
        self.password = password
        self.port = free_port()
        self.config_dir = config_dir
        self.env = base_env(pg, self.user, password, self.db, self.port,
                            PGBOUNCER_UNIX_SOCKET_DIR=str(config_dir), **extra)
        self.running = running
        self.alias = extra.get("PGBOUNCER_DATABASE", self.db)  # the pool's name
        self.start()

    def start(self):
        self.r = self.running(["run", "--config-dir", str(self.config_dir)], self.env)
        assert wait_port(self.port, 30), self.r.output()

    def psql(self, query):
        env = dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="5")
        return subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", self.user, "-d", self.alias, "-c", query], env=env,
                              capture_output=True, text=True)


@pytest.fixture
def metrics():
    started = []

    def start(config_dir, env, args=None, prefix=(), **popen):
        m = Metrics(config_dir, env, args, prefix, **popen)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


def pgbench(pool, *args, port=None, host="127.0.0.1"):
    env = dict(os.environ, PGPASSWORD=pool.password)
    p = subprocess.run(["pgbench", "-h", host, "-p", str(port or pool.port), "-U", pool.user]
                       + list(args) + [pool.db], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_counters_move_by_what_pgbench_sent(pg, config_dir, running, metrics):
    pool = Pool(pg, config_dir, running)
    pgbench(pool, "-i", "-q", "-s", "1", port=pg.port)  # tables, straight to PostgreSQL
    m = metrics(config_dir, pool.env)
    assert pool.psql("select 1").returncode == 0  # the pool and its stats exist
    before = m.scrape()
    q0 = value(before, "pgbouncer_stats_totals_queries_pooled_total", database=pool.db)
    x0 = value(before, "pgbouncer_stats_totals_sql_transactions_pooled_total", database=pool.db)
    sent0 = value(before, "pgbouncer_stats_totals_sent_bytes_total", database=pool.db)
    clients, per_client = 4, 50
    pgbench(pool, "-n", "-c", str(clients), "-t", str(per_client))
    after = m.scrape()
    xacts = clients * per_client
    assert value(after, "pgbouncer_stats_totals_sql_transactions_pooled_total",
                 database=pool.db) - x0 >= xacts
    assert value(after, "pgbouncer_stats_totals_queries_pooled_total",
                 database=pool.db) - q0 >= xacts
    assert value(after, "pgbouncer_stats_totals_sent_bytes_total", database=pool.db) > sent0
    assert value(after, "pgbouncer_stats_totals_queries_duration_seconds_total",
                 database=pool.db) > 0
    assert value(after, "pgbouncer_up") == 1
    assert value(after, "pgbouncer_pools_server_idle_connections",
                 database=pool.db, user=pool.user) >= 1
    assert value(after, "pgbouncer_config_max_client_connections") == 100
    version = samples(after, "pgbouncer_version_info")
    assert len(version) == 1 and re.match(r'\{version="PgBouncer 1\.\d+', next(iter(version)))


def test_promtool_accepts_it_and_every_promised_metric_has_its_type(pg, config_dir, running,
                                                                   metrics):
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    assert pool.psql("select 1").returncode == 0
    body = m.scrape()
    check = promtool(body)
    assert check.returncode == 0, check.stdout + check.stderr + body
    t = types(body)
    missing = {n: ty for n, ty in PROMISED.items() if t.get(n) != ty}
    assert not missing, body
    for name in PROMISED:
        assert samples(body, name), f"{name} has no sample:\n{body}"
    # microseconds are exposed as seconds
    assert re.search(r'^pgbouncer_pools_client_maxwait_seconds\{.*\} \d+\.\d{6}$', body, re.M)


def test_columns_are_found_by_name_in_each_pgbouncer_version(pg, config_dir, running, metrics):
    """1.24 (the image's) renamed reserve_pool and added prepared-statement and
    assignment counters; 1.18 (Debian's) has neither."""
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    assert pool.psql("select 1").returncode == 0
    body = m.scrape()
    version = next(iter(samples(body, "pgbouncer_version_info")))
    assert ("1.24" in version) == STATIC, version
    assert value(body, "pgbouncer_databases_reserve_pool", name=pool.db) == 0
    newer = ["pgbouncer_stats_totals_client_parses_total", "pgbouncer_stats_totals_binds_total",
             "pgbouncer_stats_totals_server_assignments_total"]
    for name in newer:
        assert bool(samples(body, name)) == STATIC, name
    if STATIC:
        assert value(body, "pgbouncer_stats_totals_server_assignments_total",
                     database=pool.db) >= 1


# What a set may lack of its release's names: total_requests went with
# pgbouncer 1.8; Debian's 1.18 has no prepared-statement or assignment counters.
def absent_here(names):
    out = {"pgbouncer_stats_queries_total", "pgbouncer_stats_totals_queries_total"}
    if not STATIC:
        out |= {f"pgbouncer_stats_totals_{n}" for n in (
            "client_parses_total", "server_parses_total", "binds_total",
            "server_assignments_total")}
    return out


@pytest.mark.parametrize("names", [None, *EXPORTER], ids=["unset", *EXPORTER])
def test_each_names_set_serves_its_exporter_releases_names_types_and_labels(
        pg, config_dir, running, metrics, names):
    pool = Pool(pg, config_dir, running)
    env = pool.env if names is None else dict(pool.env, PGBOUNCER_METRICS_NAMES=names)
    m = metrics(config_dir, env)
    assert pool.psql("select 1").returncode == 0  # the pool and its stats exist
    body = m.scrape()
    check = promtool(body)
    assert check.returncode == 0, check.stdout + check.stderr + body
    want = EXPORTER[names or NEWEST]
    served = types(body)
    wrong = {n: t for n, t in served.items() if want.get(n, ("absent",))[0] != t}
    assert not wrong, f"not in pgbouncer_exporter {names or NEWEST} with that type: {wrong}"
    for name, labels, _ in series(body):
        assert sorted(labels) == sorted(want[name][1]), f"{name}{labels}"
    assert set(want) - set(served) <= absent_here(names), "a name of the release is missing"
    assert not set(NO_EXPORTER_HAS) & set(served)
    # the counters its dashboards query, and SHOW CLIENTS's series from 0.12 on
    stats = "pgbouncer_stats" if names == "exporter-0.10" else "pgbouncer_stats_totals"
    assert value(body, f"{stats}_queries_pooled_total", database=pool.db) >= 1
    assert bool(samples(body, "pgbouncer_client_connections")) == (names in (None, NEWEST))
    release = (names or NEWEST).removeprefix("exporter-")
    assert f"with pgbouncer_exporter {release}'s names" in m.output()


def test_a_names_set_that_is_not_one_is_a_usage_error_naming_the_variable(config_dir):
    for bad in ["0.11", "exporter-0.13", "Exporter-0.12", "exporter-0.12 "]:
        p = entrypoint(["metrics", "--config-dir", str(config_dir)],
                       {"PGBOUNCER_METRICS_NAMES": bad}, timeout=10)
        assert p.returncode == 64, p.stderr
        assert f'PGBOUNCER_METRICS_NAMES must be exporter-0.10, exporter-0.11 or ' \
               f'exporter-0.12' in p.stderr and f'got "{bad}"' in p.stderr
    # only metrics reads it
    assert entrypoint(["--help"], {"PGBOUNCER_METRICS_NAMES": "bad"}).returncode == 0


class Clients:
    """Clients of POOL that stay connected (psql reading from a pipe), one
    per application_name in APPS."""

    def __init__(self, pool, apps):
        self.procs = []
        for app in apps:
            env = dict(os.environ, PGPASSWORD=pool.password, PGAPPNAME=app,
                       PGCONNECT_TIMEOUT="10")
            self.procs.append(subprocess.Popen(
                ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pool.port), "-U", pool.user,
                 "-d", pool.alias], env=env, stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def close(self):
        for p in self.procs:
            p.stdin.close()
        for p in self.procs:
            p.wait(30)


def clients_when(m, connected):
    """pgbouncer_client_connections once CONNECTED clients (ours and the
    scrape's own admin console login) are counted."""
    deadline = time.monotonic() + 60
    while True:
        body = m.scrape()
        got = [(labels, v) for name, labels, v in series(body)
               if name == "pgbouncer_client_connections"]
        if sum(v for _, v in got) == connected or time.monotonic() > deadline:
            return body, got
        time.sleep(0.2)


def test_client_connections_count_each_application_name_escaped(pg, config_dir, running,
                                                                 metrics):
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    weird = 'we"ird\\app\nname'
    clients = Clients(pool, ["reporting"] * 3 + [weird])
    try:
        body, got = clients_when(m, 4 + 1)
    finally:
        clients.close()
    check = promtool(body)
    assert check.returncode == 0, check.stdout + check.stderr + body
    by_app = {}
    for labels, v in got:
        if (labels["database"], labels["user"]) == (pool.alias, pool.user):
            by_app[labels["application_name"]] = by_app.get(labels["application_name"], 0) + v
    assert by_app == {"reporting": 3, weird: 1}, body
    # the scrape's own login to the admin console is a client too
    assert [labels for labels, _ in got if labels["database"] == "pgbouncer"] == [
        {"database": "pgbouncer", "user": "pgbouncer",
         "application_name": "pgbouncer-entrypoint-metrics", "state": "active"}], body


def test_past_100_label_sets_the_smallest_are_counted_per_state_as_other(
        pg, config_dir, running, metrics):
    pool = Pool(pg, config_dir, running, PGBOUNCER_MAX_CLIENT_CONN="300")
    m = metrics(config_dir, pool.env)
    # 104 applications with one client each, one with three, and the
    # scrape's own: 106 label sets, 108 clients
    apps = [f"app-{i:03d}" for i in range(104)] + ["zzz-big"] * 3
    clients = Clients(pool, apps)
    try:
        body, got = clients_when(m, len(apps) + 1)
    finally:
        clients.close()
    check = promtool(body)
    assert check.returncode == 0, check.stdout + check.stderr + body
    other = [(labels, v) for labels, v in got if
             (labels["database"], labels["user"], labels["application_name"]) == ("", "", "other")]
    kept = [(labels, v) for labels, v in got if (labels, v) not in other]
    assert len(kept) == 100, body
    assert sum(v for _, v in got) == len(apps) + 1, body  # every client counted once
    assert sum(v for _, v in other) == 6, body
    assert len({labels["state"] for labels, _ in other}) == len(other), body  # one per state
    # the biggest label set keeps its labels, though its name sorts last
    assert ({"database": pool.alias, "user": pool.user, "application_name": "zzz-big",
             "state": "active"}, 3) in kept, body


def test_every_metric_in_the_binary_is_in_readme():
    readme = (ROOT / "docs/metrics.md").read_text()
    m = re.search(r"<!-- metrics:begin -->\n(.*?)<!-- metrics:end -->", readme, re.S)
    assert m, "docs/metrics.md has no metrics section"
    table = entrypoint(["metrics-doc"], {}).stdout
    assert m.group(1) == table, "README metrics table is stale: run `make readme-settings`"
    for name in PROMISED:
        assert f"| `{name}` |" in table


def test_pgbouncer_stopped_gives_up_0_and_200_then_1_again(pg, config_dir, running, metrics):
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    assert value(m.scrape(), "pgbouncer_up") == 1
    pool.r.stop()
    body = m.scrape()
    assert value(body, "pgbouncer_up") == 0
    assert promtool(body).returncode == 0
    assert m.proc.poll() is None
    pool.start()
    assert value(m.scrape(), "pgbouncer_up") == 1
    out = m.output()
    assert "pgbouncer_up 0" in out and "answers again" in out


def test_pgbouncer_not_answering_gives_up_0_and_the_process_stays(pg, config_dir, running,
                                                                  metrics):
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    os.kill(pool.r.proc.pid, signal.SIGSTOP)  # accepts on its socket, never answers
    try:
        status, _, body = m.get()
        assert status == 200 and value(body, "pgbouncer_up") == 0
    finally:
        os.kill(pool.r.proc.pid, signal.SIGCONT)
    assert value(m.scrape(), "pgbouncer_up") == 1


def test_quote_and_backslash_in_user_and_database_names_keep_the_exposition_valid(
        pg, config_dir, running, metrics):
    user, db = 'we"ird\\user', 'we"ird\\db'
    pg.add_user(user, "pw-quoted-1")
    pg.sql('CREATE DATABASE "we""ird\\db" OWNER "we""ird\\user"')
    # pgbouncer before 1.25 cannot quote a pool name: the pool gets a plain
    # one, the upstream database and the user keep theirs
    pool = Pool(pg, config_dir, running, user=user, db=db, password="pw-quoted-1",
                PGBOUNCER_DATABASE="plain")
    m = metrics(config_dir, pool.env)
    q = pool.psql("select current_user, current_database()")
    assert q.stdout.strip() == f"{user}|{db}", q.stderr
    body = m.scrape()
    check = promtool(body)
    assert check.returncode == 0, check.stdout + check.stderr + body
    assert value(body, "pgbouncer_pools_client_active_connections",
                 database="plain", user='we\\"ird\\\\user') >= 0
    assert value(body, "pgbouncer_databases_pool_size",
                 name="plain", database='we\\"ird\\\\db') > 0


def idle_client(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    return s


def still_open(s):
    """Nothing from the server yet: neither an answer, nor a close."""
    try:
        s.recv(1)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_a_silent_and_a_slow_client_do_not_stop_a_scrape(pg, config_dir, running, metrics):
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    silent = idle_client(m.port)
    slow = idle_client(m.port)
    slow.send(b"GET /metr")
    try:
        assert value(m.scrape(), "pgbouncer_up") == 1
        # answered while both were still connected, not after they timed out
        assert still_open(silent) and still_open(slow)
    finally:
        silent.close()
        slow.close()


def test_more_idle_clients_than_it_keeps_give_way_to_a_scrape(config_dir, metrics):
    m = metrics(config_dir, {})
    crowd = [idle_client(m.port) for _ in range(20)]
    try:
        status, _, body = m.get()
        assert status == 200 and "pgbouncer_up 0" in body
        # the oldest idle clients gave way; the newest are still waiting
        assert all(still_open(s) for s in crowd[-10:])
        assert not all(still_open(s) for s in crowd[:4])
    finally:
        for s in crowd:
            s.close()
    assert m.proc.poll() is None


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    (b"GET /metrics HTTP/1.0\r\n\r\n", 200),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    (b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", 405),
    (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /metrics HTTP/1.1\r\n\r\n", 400),  # 1.1 without Host
    (b"GET /metrics\r\n\r\n", 400),
    (b"hello\r\n\r\n", 400),
    (b"GET metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n\r\n", 431),
], ids=["get", "http10", "index", "404", "post-405", "delete-405", "http2-505", "no-host-400",
        "no-version-400", "garbage-400", "relative-400", "bad-header-400", "long-uri-414",
        "long-headers-431"])
def test_status_codes(config_dir, metrics, request_bytes, status):
    m = metrics(config_dir, {})  # no pgbouncer: /metrics still answers, pgbouncer_up 0
    got, answer = m.raw(request_bytes)
    assert got == status, answer[:300]
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert "Connection: close" in head
    if status == 405:
        assert "Allow: GET, HEAD" in head
    if request_bytes.startswith(b"GET / "):
        assert b'href="/metrics"' in answer


def test_a_request_never_finished_gets_408_and_the_next_is_served(config_dir, metrics):
    m = metrics(config_dir, {})
    status, _ = m.raw(b"GET /metr", timeout=30)  # then nothing: the read deadline ends it
    assert status == 408
    assert m.get()[0] == 200


def test_head_has_the_headers_and_no_body(config_dir, metrics):
    m = metrics(config_dir, {})
    status, answer = m.raw(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert status == 200 and body == b""
    assert int(re.search(rb"Content-Length: (\d+)", head).group(1)) > 0


def test_sigterm_ends_it_with_0(config_dir, metrics):
    m = metrics(config_dir, {})
    assert m.stop() == 0


@pytest.mark.parametrize("listen,hosts", [
    (":{port}", ["127.0.0.1", "[::1]"]),  # every address, v4 and v6
    ("[::1]:{port}", ["[::1]"]),
    ("127.0.0.1:{port}", ["127.0.0.1"]),
], ids=["any", "v6", "v4"])
def test_listen_forms(config_dir, listen, hosts):
    port = free_port()
    p = subprocess.Popen([str(BIN), "metrics", "--config-dir", str(config_dir), "--listen",
                          listen.format(port=port)], env=process_env({}),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for host in hosts:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as r:
                        assert r.status == 200
                    break
                except urllib.error.URLError:
                    time.sleep(0.05)
            else:
                raise AssertionError(f"nothing on {host}:{port}: " + p.stderr.read())
    finally:
        p.terminate()
        assert p.wait(10) == 0


def test_bad_listen_is_a_usage_error_naming_the_variable(config_dir):
    p = entrypoint(["metrics", "--config-dir", str(config_dir)],
                   {"PGBOUNCER_METRICS_LISTEN": "localhost"}, timeout=10)
    assert p.returncode == 64
    assert "PGBOUNCER_METRICS_LISTEN" in p.stderr and '"localhost"' in p.stderr
    p = entrypoint(["metrics", "--listen", "127.0.0.1:99999"], {}, timeout=10)
    assert p.returncode == 64


def test_started_as_root_it_serves_as_the_run_user(pg, config_dir, running, metrics):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, {"PGBOUNCER_RUN_USER": pool.env["PGBOUNCER_RUN_USER"]})
    with open(f"/proc/{m.proc.pid}/status") as f:
        uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
    assert {int(u) for u in uids} == {run_user_ids()[0]}
    # no DB_* variables: the socket and port come from the rendered pgbouncer.ini
    assert value(m.scrape(), "pgbouncer_up") == 1


def test_scrape_config_example_is_valid_for_promtool():
    p = subprocess.run(["promtool", "check", "config", str(ROOT / "compose-examples/prometheus.yml")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_kubernetes_sidecar_shares_the_socket_dir_and_is_annotated():
    import yaml
    docs = list(yaml.safe_load_all((ROOT / "compose-examples/k8s/pgbouncer.yaml").read_text()))
    tmpl = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]
    pod = tmpl["spec"]
    pool, side = pod["containers"][0], next(c for c in pod["containers"] if c["name"] == "metrics")
    assert side["args"][0] == "metrics" and side["image"] == pool["image"]
    assert tmpl["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert tmpl["metadata"]["annotations"]["prometheus.io/port"] == "9127"
    assert {"containerPort": 9127, "name": "metrics"} in side["ports"]
    # the same /tmp volume (pgbouncer's unix_socket_dir), the same uid as pgbouncer
    tmp = lambda c: {m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/tmp"}
    assert tmp(pool) == tmp(side) and tmp(side)
    assert pod["securityContext"]["runAsUser"] == 70
    assert "runAsUser" not in side.get("securityContext", {})
    job = yaml.safe_load((ROOT / "compose-examples/k8s/prometheus-pods.yml").read_text())
    assert job["scrape_configs"][0]["kubernetes_sd_configs"] == [{"role": "pod"}]


def test_compose_examples_run_a_metrics_sidecar_on_the_socket_volume():
    import yaml
    for example, pool in (("staging", "pgbouncer-test"), ("prod", "pgbouncer-prod"),
                          ("init", "pgbouncer")):
        services = yaml.safe_load(
            (ROOT / f"compose-examples/docker-compose.{example}.yml").read_text())["services"]
        side = services[f"{pool}-metrics"]
        assert side["command"] == ["metrics"]
        assert "pgbouncer-socket:/tmp" in side["volumes"]
        assert "pgbouncer-socket:/tmp" in services[pool]["volumes"]
        assert "user" not in side  # the image's uid 70, as pgbouncer
