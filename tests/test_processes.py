"""PGBOUNCER_PROCESSES=N (issue 20): N peered pgbouncers on one port under a
small PID 1, through the static pgbouncer of the image (1.23+ is needed);
Debian's 1.18 is refused."""
import json
import re
import urllib.request
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import psycopg2
import pytest

from utils import (BIN, ROOT, base_env, entrypoint, free_port, new_user, process_env,
                   wait_port, _runnable_copy)

STATIC_PGBOUNCER = ROOT / "build" / "pgbouncer"
DEBIAN_PGBOUNCER = "/usr/sbin/pgbouncer"

pytestmark = pytest.mark.skipif(not STATIC_PGBOUNCER.exists(),
                                reason="build/pgbouncer (make build/pgbouncer) is not built")


def multi_env(pg, config_dir, n, **extra):
    password = "multi-Pa55"
    user = new_user(pg, password)
    port = free_port()
    extra = dict({"PGBOUNCER_UNIX_SOCKET_DIR": str(config_dir / "sock")}, **extra)
    env = base_env(pg, user, password, user, port, PGBOUNCER_PROCESSES=str(n), **extra)
    (config_dir / "sock").mkdir(exist_ok=True)
    os.chown(config_dir / "sock", *map(int, env["PGBOUNCER_RUN_USER"].split(":")))
    return env, user, password, port


def start(running, config_dir, env, binary=None):
    pgb = str(_runnable_copy(STATIC_PGBOUNCER)) if binary is None else binary
    r = running(["run", "--config-dir", str(config_dir), "--", pgb,
                 str(config_dir / "pgbouncer.ini")], env)
    assert wait_port(int(env["LISTEN_PORT"]), 30), r.output()
    return r


def process_dir(env, i):
    return pathlib.Path(env["PGBOUNCER_UNIX_SOCKET_DIR"]) / f"pgbouncer-{env['LISTEN_PORT']}-{i}"


def admin(env, i, sql):
    """SQL on the admin console of process I, as the run user."""
    out = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-h", str(process_dir(env, i)),
         "-p", env["LISTEN_PORT"], "-U", "pgbouncer", "pgbouncer", "-c", sql],
        capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout


def client_count(env, i, user):
    return sum(1 for line in admin(env, i, "SHOW CLIENTS").splitlines()
               if line.split("|")[1:2] == [user])


@pytest.mark.parametrize("n", [2, 3])
def test_logins_spread_over_every_process(pg, config_dir, running, n):
    env, user, password, port = multi_env(pg, config_dir, n)
    run = start(running, config_dir, env)
    conns = [psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password,
                              dbname=user) for _ in range(8 * n)]
    try:
        for c in conns:
            with c.cursor() as cur:
                cur.execute("select 1")
                assert cur.fetchone() == (1,)
        counts = [client_count(env, i, user) for i in range(1, n + 1)]
        assert sum(counts) == 8 * n, counts
        assert sum(1 for k in counts if k) >= 2, counts  # more than one process serves
    finally:
        for c in conns:
            c.close()
    assert run.wait_for(f"pgbouncer {n} of {n}: pid"), run.output()


def test_cancel_reaches_the_process_running_the_query(pg, config_dir, running):
    """psycopg2's cancel opens a new connection, which so_reuseport hands to
    any process: the peering forwards it to the one that runs the query."""
    env, user, password, port = multi_env(pg, config_dir, 3)
    start(running, config_dir, env)
    conns = [psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password,
                              dbname=user) for _ in range(6)]
    outcome = {}

    def sleep(i, c):
        try:
            with c.cursor() as cur:
                cur.execute("select pg_sleep(60)")
            outcome[i] = "finished"
        except psycopg2.errors.QueryCanceled:
            outcome[i] = "canceled"
        except Exception as e:  # anything else is a failure to report
            outcome[i] = repr(e)

    threads = [threading.Thread(target=sleep, args=(i, c)) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    time.sleep(1)
    for c in conns:
        c.cancel()
    for t in threads:
        t.join(30)
    try:
        assert outcome == {i: "canceled" for i in range(6)}, outcome
    finally:
        for c in conns:
            c.close()


def test_health_show_reload_and_drain_act_on_every_process(pg, config_dir, running):
    env, user, password, port = multi_env(pg, config_dir, 2)
    run = start(running, config_dir, env)
    args = ["--config-dir", str(config_dir)]
    assert entrypoint(["health"] + args, env).returncode == 0
    deep = entrypoint(["health", "--deep"] + args, env)
    assert deep.returncode == 0, deep.stderr

    shown = entrypoint(["show", "pools", "--json"] + args, env)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert {r["process"] for r in rows} == {1, 2}, rows
    table = entrypoint(["show", "version"] + args, env).stdout
    assert "pgbouncer 1 of 2:" in table and "pgbouncer 2 of 2:" in table, table

    # a new password, proven and RELOADed in both: each process's own
    # socket lets the new one in
    new = "multi-New-Pa55"
    pg.sql(f"alter role {user} password '{new}'")
    env["DB_PASSWORD"] = new
    rel = entrypoint(["reload"] + args, env)
    assert rel.returncode == 0, rel.stderr
    for i in (1, 2):
        c = psycopg2.connect(host=str(process_dir(env, i)), port=port, user=user,
                             password=new, dbname=user)
        c.close()

    # a transaction open through the pool is not cut: drain waits for it
    busy = psycopg2.connect(host="127.0.0.1", port=port, user=user, password=new, dbname=user)
    cur = busy.cursor()
    cur.execute("select 1")
    drain = subprocess.Popen([str(BIN), "drain", "--delay", "0", "--timeout", "60"] + args,
                             env=process_env(env), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)
    assert drain.poll() is None, drain.stdout.read()  # still waiting for our transaction
    cur.execute("select 2")
    assert cur.fetchone() == (2,)
    busy.commit()
    out, _ = drain.communicate(timeout=30)
    assert drain.returncode == 0, out
    assert "sent to 2 of 2 pgbouncers" in out, out
    run.proc.wait(15)
    assert run.proc.returncode == 0, run.output()
    busy.close()


def test_one_process_dying_stops_the_container_with_its_status(pg, config_dir, running):
    env, user, password, port = multi_env(pg, config_dir, 3)
    run = start(running, config_dir, env)
    assert run.wait_for("pgbouncer 3 of 3: pid")
    pid = int(run.output().split("pgbouncer 2 of 3: pid ")[1].split(",")[0])
    os.kill(pid, signal.SIGKILL)
    run.proc.wait(30)
    assert run.proc.returncode == 128 + signal.SIGKILL, run.output()
    assert "pgbouncer 2 of 3" in run.output() and "stopping the other 2" in run.output()
    # the supervisor is the process `run` was: nothing of it, or of them, is left
    left = subprocess.run(["pgrep", "-af", str(config_dir)], capture_output=True, text=True)
    assert left.returncode == 1, left.stdout


def test_supervisor_killed_takes_its_pgbouncers_with_it(pg, config_dir, running):
    """kill -9 of the supervisor outside a container (no PID namespace to
    end the rest): every pgbouncer gets SIGINT and leaves the port, so a
    restarted run does not serve beside stale ones."""
    env, user, password, port = multi_env(pg, config_dir, 2)
    run = start(running, config_dir, env)
    assert run.wait_for("pgbouncer 2 of 2: pid")
    out = run.output()
    pids = [int(out.split(f"pgbouncer {i} of 2: pid ")[1].split(",")[0]) for i in (1, 2)]
    run.proc.kill()
    run.proc.wait(10)
    deadline = time.monotonic() + 20
    while any(pathlib.Path(f"/proc/{p}").exists() and
              pathlib.Path(f"/proc/{p}/stat").read_text().split()[2] != "Z" for p in pids):
        assert time.monotonic() < deadline, f"pgbouncers {pids} outlived their supervisor"
        time.sleep(0.2)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the port still answers"


def test_two_drains_at_once_over_two_processes(pg, config_dir, running):
    """preStop and an operator's drain together: the second joins the first,
    the open transaction finishes, both say so and exit 0, so does run."""
    env, user, password, port = multi_env(pg, config_dir, 2)
    run = start(running, config_dir, env)
    busy = psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password,
                            dbname=user)
    cur = busy.cursor()
    cur.execute("select 1")
    drains = [subprocess.Popen([str(BIN), "drain", "--delay", "0", "--timeout", "60",
                                "--config-dir", str(config_dir)], env=process_env(env),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for _ in range(2)]
    time.sleep(1.5)
    assert [d.poll() for d in drains] == [None, None]  # both wait for our transaction
    cur.execute("select 2")
    assert cur.fetchone() == (2,)
    busy.commit()
    outs = [d.communicate(timeout=30)[0] for d in drains]
    assert [d.returncode for d in drains] == [0, 0], outs
    both = "".join(outs)
    assert "SHUTDOWN WAIT_FOR_SERVERS sent to 2 of 2 pgbouncers" in both, both
    assert "joining it" in both and "no transaction was cut" in both, both
    run.proc.wait(20)
    assert run.proc.returncode == 0, run.output()


def test_sigterm_stops_every_process(pg, config_dir, running):
    env, user, password, port = multi_env(pg, config_dir, 2)
    run = start(running, config_dir, env)
    assert run.wait_for("pgbouncer 2 of 2: pid")
    run.proc.send_signal(signal.SIGTERM)
    run.proc.wait(30)
    assert run.proc.returncode == 0, run.output()
    assert run.output().count("got SIGTERM") == 2, run.output()


def test_supervisor_holds_no_secret(pg, config_dir, running):
    """PID 1 of the processes is a fresh image: the password is neither in
    its environment nor in its memory."""
    env, user, password, port = multi_env(pg, config_dir, 2)
    run = start(running, config_dir, env)
    assert run.wait_for("pgbouncer 2 of 2: pid")
    pid = run.proc.pid
    assert b"multi-Pa55" not in pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    assert b"supervise" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    found = False
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if "r" not in perms:
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(lo)
                found |= b"multi-Pa55" in mem.read(hi - lo)
            except OSError:
                pass
    assert not found


@pytest.mark.parametrize("value", ["0", "two", " 2", "+2", "65"])
def test_bad_processes_value_is_refused(value):
    p = entrypoint(["check"], {"DATABASE_URL": "postgresql://u:p@h/d",
                               "PGBOUNCER_PROCESSES": value})
    assert p.returncode == 78, p.stderr
    assert "PGBOUNCER_PROCESSES must be" in p.stderr and "auto" in p.stderr


def test_pgbouncer_before_1_23_is_refused(pg, config_dir):
    if not os.path.exists(DEBIAN_PGBOUNCER):
        pytest.skip("Debian's pgbouncer is not installed")
    env, user, password, port = multi_env(pg, config_dir, 2)
    p = entrypoint(["run", "--config-dir", str(config_dir), "--", DEBIAN_PGBOUNCER,
                    str(config_dir / "pgbouncer.ini")], env)
    assert p.returncode == 78, p.stderr
    assert "PGBOUNCER_PROCESSES=2" in p.stderr and "1.23" in p.stderr, p.stderr
    assert not (config_dir / "pgbouncer.ini").exists()  # nothing written


def test_no_unix_socket_is_refused(pg, config_dir):
    env, user, password, port = multi_env(pg, config_dir, 2, PGBOUNCER_UNIX_SOCKET_DIR="")
    p = entrypoint(["run", "--config-dir", str(config_dir), "--",
                    str(_runnable_copy(STATIC_PGBOUNCER)), str(config_dir / "pgbouncer.ini")],
                   env)
    assert p.returncode == 78, p.stderr
    assert "unix_socket_dir is empty" in p.stderr and "PGBOUNCER_UNIX_SOCKET_DIR" in p.stderr


@pytest.mark.parametrize("cpus,expect", [("0", 1), ("0,1", 2)])
def test_auto_is_the_cpus_this_container_may_use(pg, config_dir, cpus, expect):
    """auto follows the affinity mask (and the cgroup's quota), not the
    host's core count; check says what run would start."""
    if len(os.sched_getaffinity(0)) < expect:
        pytest.skip(f"this machine has fewer than {expect} CPUs")
    env, user, password, port = multi_env(pg, config_dir, "auto")
    p = subprocess.run(["taskset", "-c", cpus, str(BIN), "check", "--config-dir",
                        str(config_dir), "--", str(_runnable_copy(STATIC_PGBOUNCER)),
                        str(config_dir / "pgbouncer.ini")],
                       env=process_env(env), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert f"PGBOUNCER_PROCESSES=auto: {expect} pgbouncer process" in p.stderr, p.stderr


def test_metrics_label_each_process_and_pass_promtool(pg, config_dir, running):
    """One scrape asks every process: each series carries process="i";
    pgbouncer_up has no such label and is 1 only when all answered."""
    env, user, password, port = multi_env(pg, config_dir, 2)
    start(running, config_dir, env)
    conns = [psycopg2.connect(host=str(process_dir(env, i)), port=port, user=user,
                              password=password, dbname=user) for i in (1, 2)]
    mport = free_port()
    server = running(["metrics", "--config-dir", str(config_dir), "--listen",
                      f"127.0.0.1:{mport}"], env)
    assert wait_port(mport, 10), server.output()
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=30) as r:
        body = r.read().decode()
    for c in conns:
        c.close()
    assert "\npgbouncer_up 1\n" in body, body
    for i in (1, 2):
        assert re.search(rf'^pgbouncer_pools_client_active_connections\{{database="{user}",'
                         rf'user="{user}",process="{i}"\}} 1$', body, re.M), body
        assert re.search(rf'^pgbouncer_config_max_client_connections\{{process="{i}"\}} ',
                         body, re.M), body
    assert body.count("# TYPE pgbouncer_pools_client_active_connections ") == 1
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr + check.stdout
