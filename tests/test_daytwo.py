"""Day two: reload, watch and drain against a running pgbouncer (Debian's
1.18, and with PGBE_PGBOUNCER=static the image's 1.24), real PostgreSQL,
real clients (psql, pgbench) connected through the pool."""
import os
import pathlib
import re
import signal
import subprocess
import threading
import time

import pytest

from utils import Pool, Session, new_user, write_secret
from utils import (BIN, ROOT, STATIC, base_env, entrypoint, free_port, process_env,
                      psql, wait_port)

counter = [0]
NEW_LOGIN_DEADLINE = 20.0  # s; only a bound for the loop, the measured time is reported


def measure(name, value):
    """Numbers for the report (not assertions): shown with pytest -s."""
    print(f"\nMEASURE {name}: {value}")


class Bench:
    """pgbench, transaction mode through the pool, in the background."""

    def __init__(self, pool, password, seconds):
        env = dict(os.environ, PGPASSWORD=password)
        init = subprocess.run(["pgbench", "-i", "-q", "-h", "127.0.0.1", "-p", str(pool.pg.port),
                               "-U", pool.user, pool.user], env=env, capture_output=True,
                              text=True)
        assert init.returncode == 0, init.stderr
        self.proc = subprocess.Popen(["pgbench", "-n", "-T", str(seconds), "-c", "4", "-j", "2",
                                      "-h", "127.0.0.1", "-p", str(pool.port), "-U", pool.user,
                                      pool.user], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def result(self):
        out = self.proc.communicate(timeout=60)[0]
        done = re.search(r"number of transactions actually processed: (\d+)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        return self.proc.returncode, int(done.group(1)) if done else 0, \
            int(failed.group(1)) if failed else -1, out


def rotate_and_prove(pool, session_ok, trigger):
    """ALTER ROLE and the secret file, then TRIGGER; returns the seconds from
    the file change to the first login with the new password."""
    new = "new-Pa55"
    bench = Bench(pool, pool.password, 10)
    time.sleep(2)
    session_ok.append(pool.session.ask())
    pool.pg.sql(f"ALTER ROLE {pool.user} PASSWORD '{new}'")
    pool.put(new)
    changed = time.monotonic()
    trigger()
    first_ok = None
    while time.monotonic() - changed < NEW_LOGIN_DEADLINE:
        if pool.query(new).stdout.strip() == "1":
            first_ok = time.monotonic() - changed
            break
        time.sleep(0.05)
    session_ok.append(pool.session.ask())
    rc, done, failed, out = bench.result()
    session_ok.append(pool.session.ask())
    return new, first_ok, (rc, done, failed, out)


@pytest.fixture
def kubelet_pool(pg, config_dir, secret_dir, running):
    p = Pool(pg, config_dir, secret_dir, running, kubelet=True)
    p.session = Session(p, p.password)
    assert p.session.ask()
    yield p
    p.session.close()


def check_rotation(pool, name, new, first_ok, bench, session_ok):
    rc, done, failed, out = bench
    label = f"{name} ({'static 1.24' if STATIC else 'Debian 1.18'})"
    measure(f"{label}: file change -> first login with the new password",
            f"{first_ok:.2f} s" if first_ok is not None else "never")
    measure(f"{label}: pgbench transactions / failed / exit", f"{done} / {failed} / {rc}")
    measure(f"{label}: session opened before the rotation, failed queries",
            session_ok.count(False))
    assert first_ok is not None, "the new password never worked:\n" + pool.run.output()
    assert all(session_ok), "the session opened before the rotation broke"
    assert rc == 0 and failed == 0 and done > 0, out
    old = pool.query(pool.password)
    assert old.returncode != 0 and re.search("password authentication failed|SASL authentication failed", old.stderr), old.stderr


def test_reload_rotates_the_password_without_dropping_anyone(pool):
    session_ok = []
    results = {}

    def trigger():
        results["reload"] = pool.reload()

    new, first_ok, bench = rotate_and_prove(pool, session_ok, trigger)
    r = results["reload"]
    assert r.returncode == 0, r.stderr
    assert "reloaded" in r.stderr and new not in r.stderr + r.stdout
    check_rotation(pool, "reload", new, first_ok, bench, session_ok)


def test_watch_notices_the_secret_file_and_reloads(pool, running):
    watch = running(["watch", "--config-dir", str(pool.config_dir), "--interval", "2"],
                    pool.env)
    assert watch.wait_for("watch: "), watch.output()
    session_ok = []
    new, first_ok, bench = rotate_and_prove(pool, session_ok, lambda: None)
    assert "reloaded" in watch.output(), watch.output()
    check_rotation(pool, "watch", new, first_ok, bench, session_ok)
    watch.stop(signal.SIGTERM)
    assert watch.proc.returncode == 0, watch.output()
    assert new not in watch.output()


def test_watch_follows_a_kubernetes_secret_update_by_symlink_swap(kubelet_pool, running):
    pool = kubelet_pool
    # the poll comes only after 30 s, past NEW_LOGIN_DEADLINE: inotify must see it
    watch = running(["watch", "--config-dir", str(pool.config_dir), "--interval", "30"],
                    pool.env)
    assert watch.wait_for("watch: "), watch.output()
    session_ok = []
    new, first_ok, bench = rotate_and_prove(pool, session_ok, lambda: None)
    check_rotation(pool, "watch, kubelet-style ..data swap", new, first_ok, bench, session_ok)


def test_watch_applies_an_edited_template(pg, config_dir, running):
    password = "pw-tmpl"
    user = new_user(pg, password)
    port = free_port()
    template = config_dir / "pgbouncer.ini.template"

    def write_template(pool_size):
        template.write_text(
            "[databases]\n${DB_NAME} = host=${DB_HOST} port=${DB_PORT} dbname=${DB_NAME}\n"
            "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${LISTEN_PORT}\n"
            f"unix_socket_dir = {config_dir}\nauth_type = scram-sha-256\n"
            f"auth_file = {config_dir}/userlist.txt\nadmin_users = ${{DB_USER}}\n"
            f"default_pool_size = {pool_size}\n")
        os.chmod(template, 0o644)
    write_template(3)
    env = base_env(pg, user, password, user, port)
    run = running(["run", "--config-dir", str(config_dir)], env)
    assert wait_port(port, 30), run.output()
    watch = running(["watch", "--config-dir", str(config_dir), "--interval", "30"], env)
    assert watch.wait_for("watch: "), watch.output()
    write_template(9)
    assert watch.wait_for("reloaded", 20), watch.output()
    q = psql(port, user, password, "pgbouncer", "show config")
    assert re.search(r"^default_pool_size\|9\|", q.stdout, re.M), q.stdout + q.stderr
    time.sleep(1.5)  # a reload triggered by its own writes would show by now
    assert watch.output().count("reloaded") == 1, watch.output()


def test_watch_retries_until_the_server_has_the_new_password(pool, running):
    """The secret is updated before the database: the first reload is
    refused (77), watch tries again and succeeds once ALTER ROLE is done."""
    watch = running(["watch", "--config-dir", str(pool.config_dir), "--interval", "1"],
                    pool.env)
    assert watch.wait_for("watch: "), watch.output()
    write_secret(pool.secret, "later-Pa55")
    assert watch.wait_for("reload failed (exit 77"), watch.output()
    assert pool.query(pool.password).stdout.strip() == "1"  # still the old one
    pool.pg.sql(f"ALTER ROLE {pool.user} PASSWORD 'later-Pa55'")
    assert watch.wait_for("reloaded", 20), watch.output()
    assert pool.query("later-Pa55").stdout.strip() == "1"


def snapshot(config_dir):
    return {p.name: p.read_bytes() for p in config_dir.iterdir() if p.is_file()}


def test_reload_with_a_wrong_new_password_is_refused_77_and_changes_nothing(pool):
    before = snapshot(pool.config_dir)
    write_secret(pool.secret, "Wr0ng-new-Pa55")
    r = pool.reload()
    assert r.returncode == 77, r.stderr
    assert "password authentication failed" in r.stderr and "nothing was changed" in r.stderr
    assert "Wr0ng-new-Pa55" not in r.stderr + r.stdout
    assert snapshot(pool.config_dir) == before
    assert pool.query(pool.password).stdout.strip() == "1"
    assert pool.session.ask()


def test_reload_names_a_setting_that_needs_a_restart_and_applies_the_rest(pool):
    r = pool.reload(LISTEN_PORT=str(free_port()), DEFAULT_POOL_SIZE="7")
    assert r.returncode == 0, r.stderr
    assert "listen_port changes from" in r.stderr and "only at a restart" in r.stderr
    assert "default_pool_size" not in r.stderr
    q = psql(pool.port, pool.user, pool.password, "pgbouncer", "show config")
    # the console needs admin_users: the upstream user is one
    assert re.search(r"^default_pool_size\|7\|", q.stdout, re.M), q.stdout + q.stderr


def test_reload_never_makes_a_change_that_crashes_the_running_pgbouncer(pool):
    """pgbouncer 1.18 exits (FATAL put_in_order: found existing elem) at the
    first client after a RELOAD gave a database user=/password=, as
    AUTH_TYPE=any does: refused there; 1.24 takes it."""
    before = snapshot(pool.config_dir)
    r = pool.reload(AUTH_TYPE="any")
    if STATIC:
        assert r.returncode == 0, r.stderr
        assert "user='" in (pool.config_dir / "pgbouncer.ini").read_text()
    else:
        assert r.returncode == 78, r.stderr
        assert "restart instead" in r.stderr and "nothing was changed" in r.stderr
        assert snapshot(pool.config_dir) == before
    assert pool.query(pool.password).stdout.strip() == "1"
    assert pool.session.ask()
    time.sleep(0.5)
    assert pool.run.proc.poll() is None, pool.run.output()
    assert "put_in_order" not in pool.run.output()


def test_reload_without_a_running_pgbouncer_is_69_and_writes_nothing(pool):
    pool.run.stop()
    before = snapshot(pool.config_dir)
    r = pool.reload()
    assert r.returncode == 69, r.stderr
    assert "admin console" in r.stderr
    assert snapshot(pool.config_dir) == before


def test_reload_with_a_newer_setting_than_the_running_pgbouncer_is_78(pool):
    r = pool.reload(PGBOUNCER_TRANSACTION_TIMEOUT="30")
    assert r.returncode == 78, r.stderr
    assert "needs pgbouncer 1.25" in r.stderr


# ---- drain -------------------------------------------------------------------


class Transactions:
    """N psql clients, each running transactions that hold a server for 2 s:
    BEGIN; a marker; pg_sleep(2); INSERT its id; COMMIT.  A transaction is
    'begun' once the server answered the marker."""

    def __init__(self, pool, n, rounds=3):
        pool.pg.sql("CREATE TABLE IF NOT EXISTS drained (id text primary key)", db=pool.user)
        pool.pg.sql(f"GRANT ALL ON drained TO {pool.user}", db=pool.user)
        env = dict(os.environ, PGPASSWORD=pool.password)
        self.procs = []
        for c in range(n):
            script = "".join(f"BEGIN;\nSELECT 'begun-{c}-{k}';\nSELECT pg_sleep(2);\n"
                             f"INSERT INTO drained VALUES ('{c}-{k}');\nCOMMIT;\n"
                             for k in range(rounds))
            p = subprocess.Popen(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                                  "127.0.0.1", "-p", str(pool.port), "-U", pool.user,
                                  "-d", pool.user], env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            p.stdin.write(script)
            p.stdin.close()
            self.procs.append(p)

    def finish(self):
        outs = []
        for p in self.procs:
            outs.append(p.stdout.read())
            p.wait(60)
        begun = set()
        for out in outs:
            begun.update(re.findall(r"^begun-(\d+-\d+)$", out, re.M))
        return begun, outs


class Prober(threading.Thread):
    """Every 100 ms: readiness (health --deep) and a new login through the pool."""

    def __init__(self, pool):
        super().__init__(daemon=True)
        self.pool = pool
        self.stop = False
        self.first_red = None
        self.first_refused = None
        self.logins_ok = 0

    def run(self):
        while not self.stop:
            t = time.monotonic()
            if self.first_red is None and self.pool.health(deep=True).returncode != 0:
                self.first_red = t
            if self.first_refused is None:
                try:
                    q = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p",
                                        str(self.pool.port), "-U", self.pool.user, "-d",
                                        self.pool.user, "-c", "select 1"],
                                       env=dict(os.environ, PGPASSWORD=self.pool.password,
                                                PGCONNECT_TIMEOUT="2"),
                                       capture_output=True, text=True, timeout=3)
                    ok = q.stdout.strip() == "1"
                except subprocess.TimeoutExpired:
                    ok = False  # paused (1.18): accepted but never served
                if ok:
                    self.logins_ok += 1
                else:
                    self.first_refused = t
            time.sleep(0.1)


def test_drain_lets_every_begun_transaction_commit_and_exits_0(pool):
    txs = Transactions(pool, 4)
    time.sleep(1.0)  # every client is inside its first transaction
    prober = Prober(pool)
    prober.start()
    start = time.monotonic()
    d = entrypoint(["drain", "--config-dir", str(pool.config_dir), "--delay", "2",
                    "--timeout", "20"], pool.env, timeout=40)
    took = time.monotonic() - start
    prober.stop = True
    prober.join(10)
    begun, outs = txs.finish()
    committed = set(pool.pg.sql("SELECT id FROM drained", db=pool.user).split())
    cut = begun - committed
    label = "static 1.24" if STATIC else "Debian 1.18"
    measure(f"drain ({label}): transactions begun / committed / cut",
            f"{len(begun)} / {len(committed & begun)} / {len(cut)}")
    measure(f"drain ({label}): seconds to exit (delay 2, timeout 20)", f"{took:.2f}")
    measure(f"drain ({label}): readiness red -> first refused login",
            f"{prober.first_refused - prober.first_red:.2f} s"
            if prober.first_red and prober.first_refused else "n/a")
    assert d.returncode == 0, d.stderr
    assert took < 2 + 20
    assert len(begun) >= 4 and not cut, (begun, committed, outs)
    assert prober.first_red is not None and prober.logins_ok > 0
    assert prober.first_refused is None or prober.first_refused > prober.first_red
    assert pool.run.proc.wait(5) is not None
    assert "no transaction was cut" in d.stderr


def test_drain_readiness_red_liveness_green_until_the_delay_ends(pool):
    d = subprocess.Popen([str(BIN), "drain", "--config-dir", str(pool.config_dir), "--delay",
                          "4", "--timeout", "10"], env=process_env(pool.env),
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 3
    while not (pool.config_dir / "draining").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.health(deep=True).returncode == 1
    assert pool.health().returncode == 0
    assert pool.query(pool.password).stdout.strip() == "1"  # still serving new clients
    assert d.wait(20) == 0, d.stderr.read()
    assert pool.run.proc.wait(5) is not None


def test_run_clears_a_drain_marker_left_from_before(pool, running):
    assert entrypoint(["drain", "--config-dir", str(pool.config_dir), "--delay", "0",
                       "--timeout", "10"], pool.env).returncode == 0
    assert (pool.config_dir / "draining").exists()
    pool.run.proc.wait(10)
    again = running(["run", "--config-dir", str(pool.config_dir)], pool.env)
    assert wait_port(pool.port, 30), again.output()
    assert not (pool.config_dir / "draining").exists()
    assert pool.health(deep=True).returncode == 0


# ---- the examples use them ------------------------------------------------------


def test_kubernetes_manifest_has_watch_sidecar_and_drain_prestop():
    import yaml
    docs = list(yaml.safe_load_all((ROOT / "compose-examples/k8s/pgbouncer.yaml").read_text()))
    spec = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    watch = next(c for c in spec["initContainers"] if c["name"] == "watch")
    assert watch["restartPolicy"] == "Always" and watch["args"][0] == "watch"
    main = spec["containers"][0]
    mounts = {m["mountPath"]: m for m in watch["volumeMounts"]}
    main_mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    for path in ("/etc/pgbouncer", "/tmp"):  # the config and the console's socket
        assert mounts[path]["name"] == main_mounts[path]["name"]
    assert not main_mounts["/etc/pgbouncer"].get("readOnly")  # drain's marker
    cmd = main["lifecycle"]["preStop"]["exec"]["command"]
    assert cmd[:2] == ["/pgbouncer-entrypoint", "drain"]
    delay, timeout = int(cmd[cmd.index("--delay") + 1]), int(cmd[cmd.index("--timeout") + 1])
    assert spec["terminationGracePeriodSeconds"] > delay + timeout
    probe = main["readinessProbe"]
    assert probe["exec"]["command"] == ["/pgbouncer-entrypoint", "health", "--deep"]
    assert probe["periodSeconds"] * probe["failureThreshold"] < delay


def test_compose_watch_example_shares_config_and_socket_volumes():
    import yaml
    doc = yaml.safe_load((ROOT / "compose-examples/docker-compose.watch.yml").read_text())
    pool, watch = doc["services"]["pgbouncer"], doc["services"]["watch"]
    assert watch["command"][0] == "watch"
    assert set(watch["volumes"]) == set(pool["volumes"])
    assert watch["environment"] == pool["environment"]


def test_help_readme_and_contract_name_the_day_two_commands_and_variables():
    r = entrypoint(["--help"], {})
    readme = (ROOT / "README.md").read_text()
    for word in ["reload", "watch", "drain", "--delay", "--timeout", "--interval",
                 "PGBOUNCER_DRAIN_DELAY", "PGBOUNCER_DRAIN_TIMEOUT", "PGBOUNCER_WATCH_INTERVAL"]:
        assert word in r.stdout, word
        assert word in readme, word


def test_day_two_variables_are_known_to_the_unknown_variable_check(pg, config_dir):
    env = {"DB_HOST": "db", "DB_USER": "u", "DB_PASSWORD": "p", "PGBOUNCER_DRAIN_DELAY": "3",
           "PGBOUNCER_DRAIN_TIMEOUT": "9", "PGBOUNCER_WATCH_INTERVAL": "2"}
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    r = entrypoint(["drain", "--config-dir", str(config_dir)],
                   dict(env, PGBOUNCER_DRAIN_TIMEOUT="soon"))
    assert r.returncode == 64 and "PGBOUNCER_DRAIN_TIMEOUT must be a number" in r.stderr
