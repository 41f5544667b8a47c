"""The fault tier: upstreams that misbehave the way a flaky network or a
hostile server does.  Each case ends with the documented exit code within
--wait-timeout plus a margin, and SIGTERM ends a blocked wait.  The bounds
asserted here are generous on purpose (a loaded CI machine); the exact
numbers come from `make bench` (bench/faults.py)."""
import hashlib
import os
import pathlib
import resource
import signal
import subprocess
import tempfile
import time

import pytest

import fakepg
from utils import BIN, base_env, entrypoint, free_port, process_env, run_user_spec

MARGIN = 2.0  # seconds past the deadline a test tolerates


def upstream_env(host, port, **extra):
    server = type("Server", (), {"host": host, "port": port})()
    return base_env(server, "app", "pw-app", "app", free_port(), **extra)


def timed_wait(env, timeout, args=()):
    t = time.monotonic()
    r = entrypoint(["wait", "--wait-timeout", str(timeout)] + list(args), env,
                   timeout=timeout + 30)
    return r, time.monotonic() - t


def waiting_lines(stderr):
    return [l for l in stderr.splitlines() if "waiting for app@" in l]


def sigterm_and_time(p):
    """SIGTERM to P; its exit code and the seconds until it exited."""
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    return rc, time.monotonic() - t


# ---- item 3: the deadline holds ----------------------------------------

SILENT_CASES = [(fakepg.black_hole, "prefer"), (fakepg.black_hole, "require"),
                (fakepg.half_open_tls, "prefer"), (fakepg.half_open_tls, "require"),
                (fakepg.auth_then_silent, "prefer"), (fakepg.auth_then_silent, "disable"),
                (fakepg.garbage, "prefer"), (fakepg.garbage, "require")]


@pytest.mark.parametrize("behave,sslmode", SILENT_CASES,
                         ids=[f"{b.__name__}-{m}" for b, m in SILENT_CASES])
def test_silent_or_broken_server_ends_69_at_the_deadline(behave, sslmode):
    with fakepg.FakeServer(behave) as srv:
        r, took = timed_wait(upstream_env(srv.host, srv.port, SERVER_TLS_SSLMODE=sslmode), 3)
    assert r.returncode == 69, r.stderr
    assert took < 3 + MARGIN, (took, r.stderr)
    assert "not reachable after 3 s" in r.stderr
    assert "reason unknown" not in r.stderr


def test_server_that_says_yes_to_tls_then_closes_ends_69_not_77():
    """A stale message of an earlier try is not the server's answer."""
    def tls_then_close(conn, stop):
        if fakepg.read_packet(conn):
            conn.sendall(b"S")
    with fakepg.FakeServer(tls_then_close) as srv:
        r, took = timed_wait(upstream_env(srv.host, srv.port), 2)
    assert r.returncode == 69, r.stderr
    assert took < 2 + MARGIN, (took, r.stderr)


def test_login_ok_but_query_never_answered_ends_69_at_the_deadline(config_dir):
    """The md5-userlist check queries the server; that query has the deadline too."""
    def login_then_silent(conn, stop):
        if fakepg.startup(conn):
            conn.sendall(b"R" + b"\0\0\0\x08\0\0\0\0" + b"Z\0\0\0\x05I")
        stop.wait()
    md5 = "md5" + hashlib.md5(b"pw-appapp").hexdigest()
    (config_dir / "userlist.txt").write_text(f'"app" "{md5}"\n')
    with fakepg.FakeServer(login_then_silent) as srv:
        env = upstream_env(srv.host, srv.port, PGBOUNCER_UPSTREAM_AUTH="trust")
        t = time.monotonic()
        r = entrypoint(["init", "--config-dir", str(config_dir), "--wait-timeout", "3"], env,
                       timeout=40)
        took = time.monotonic() - t
    assert r.returncode == 69, r.stderr
    assert took < 3 + MARGIN, (took, r.stderr)
    assert "did not answer" in r.stderr


def garbage_then_black_hole():
    """Something unknown on the first connection, silence on the next: the
    old wait pinged after an unknown message, without a timeout."""
    calls = []

    def behave(conn, stop):
        calls.append(1)
        return fakepg.garbage(conn, stop) if len(calls) == 1 else fakepg.black_hole(conn, stop)
    behave.__name__ = "garbage_then_black_hole"
    return behave


def test_server_that_stalls_after_an_unknown_answer_ends_69_at_the_deadline():
    with fakepg.FakeServer(garbage_then_black_hole()) as srv:
        r, took = timed_wait(upstream_env(srv.host, srv.port), 3)
    assert r.returncode == 69, r.stderr
    assert took < 3 + MARGIN, (took, r.stderr)


@pytest.mark.parametrize("behave", [fakepg.black_hole, fakepg.half_open_tls,
                                    fakepg.auth_then_silent, garbage_then_black_hole()],
                         ids=lambda b: b.__name__)
def test_sigterm_during_blocked_login_exits_143(behave):
    with fakepg.FakeServer(behave) as srv:
        p = subprocess.Popen([str(BIN), "wait", "--wait-timeout", "60"],
                             env=process_env(upstream_env(srv.host, srv.port)),
                             stderr=subprocess.PIPE, text=True)
        blocked_at = 2 if behave.__name__ == "garbage_then_black_hole" else 1
        deadline = time.monotonic() + 10
        while srv.accepted < blocked_at and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # now inside the login
        assert p.poll() is None
        rc, took = sigterm_and_time(p)
    assert rc == 128 + signal.SIGTERM, p.stderr.read()
    assert took < 1.0, took


# ---- item 4: a slow server is not a refusal --------------------------------

@pytest.mark.parametrize("behave", [fakepg.too_many_clients, fakepg.too_many_for_role,
                                    fakepg.reserved_slots, fakepg.too_many_german],
                         ids=lambda b: b.__name__)
def test_too_many_connections_is_retried_and_ends_69_with_the_servers_words(behave):
    with fakepg.FakeServer(behave) as srv:
        r, took = timed_wait(upstream_env(srv.host, srv.port), 3)
    assert r.returncode == 69, r.stderr
    assert took < 3 + MARGIN, (took, r.stderr)
    assert srv.accepted >= 2  # retried
    last = r.stderr.strip().splitlines()[-1]
    assert "not reachable after 3 s" in last
    word = {"too_many_german": "zu viele Verbindungen"}.get(behave.__name__, "too many")
    if behave is fakepg.reserved_slots:
        word = "remaining connection slots are reserved"
    assert word in last, last


def test_server_busy_at_the_deadline_reports_what_it_last_said():
    """Busy first ("too many clients"), then silent: 69 with both facts."""
    calls = []

    def busy_then_silent(conn, stop):
        calls.append(1)
        if len(calls) <= 2:
            return fakepg.too_many_clients(conn, stop)
        fakepg.black_hole(conn, stop)
    with fakepg.FakeServer(busy_then_silent) as srv:
        r, took = timed_wait(upstream_env(srv.host, srv.port), 3)
    assert r.returncode == 69, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "did not answer" in last and "sorry, too many clients already" in last, last


# ---- item 5: retries back off ------------------------------------------------

@pytest.mark.parametrize("behave", [fakepg.closes_at_once, fakepg.starting_up],
                         ids=lambda b: b.__name__)
def test_failing_logins_back_off_and_repeated_errors_are_summarised(behave):
    with fakepg.FakeServer(behave) as srv:
        r, took = timed_wait(upstream_env(srv.host, srv.port), 4)
    assert r.returncode == 69, r.stderr
    assert took < 4 + MARGIN
    # doubling from 25 ms to 1 s: about 10 attempts in 4 s, not thousands
    assert 3 <= srv.accepted <= 20, srv.accepted
    lines = waiting_lines(r.stderr)
    assert 2 <= len(lines) <= 6, r.stderr
    assert any("(same error" in l and "times in the last" in l for l in lines), r.stderr


# ---- name lookup ---------------------------------------------------------

def in_own_mount_ns(files, cmd):
    """CMD with /etc/<name> bind-mounted from FILES[name] (musl re-reads them)."""
    mounts = " && ".join(f"mount --bind {path} /etc/{name}" for name, path in files.items())
    return ["unshare", "-m", "--", "sh", "-c", mounts + ' && exec "$@"', "sh"] + \
        [str(c) for c in cmd]


@pytest.fixture
def etc_files():
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-etc-"))
    os.chmod(d, 0o755)

    def make(hosts, resolv):
        for name, text in (("hosts", hosts), ("resolv.conf", resolv)):
            (d / name).write_text(text)
            os.chmod(d / name, 0o644)
        return {"hosts": d / "hosts", "resolv.conf": d / "resolv.conf"}
    yield make
    subprocess.run(["rm", "-rf", str(d)])


def test_name_that_starts_resolving_after_2s_is_waited_for(pg, etc_files):
    from utils import new_user
    user = new_user(pg, "pw-dns")
    dns = fakepg.FakeDNS()
    files = etc_files("127.0.0.1 localhost\n", f"nameserver {dns.addr}\n")
    env = base_env(type("S", (), {"host": "late-db.pgbe.test", "port": pg.port})(),
                   user, "pw-dns", user, free_port())
    t = time.monotonic()
    p = subprocess.Popen(in_own_mount_ns(files, [BIN, "wait", "--wait-timeout", "20"]),
                         env=process_env(env), stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    files["hosts"].write_text("127.0.0.1 localhost\n127.0.0.1 late-db.pgbe.test\n")
    rc = p.wait(timeout=40)
    took = time.monotonic() - t
    err = p.stderr.read()
    dns.close()
    assert rc == 0, err
    assert took < 2 + MARGIN, (took, err)
    assert "could not translate host name" in err.lower() or "resolve" in err.lower(), err


def test_name_server_silent_after_the_wait_stalls_no_later_login(pg, config_dir, etc_files):
    """The login that learns the server's SCRAM secret looks the name up
    again: that lookup has the deadline too."""
    from utils import new_user
    user = new_user(pg, "pw-dns2")
    dns = fakepg.FakeDNS(silent=True, answers=2)  # the wait's A and AAAA queries
    files = etc_files("127.0.0.1 localhost\n",
                      f"nameserver {dns.addr}\noptions timeout:30 attempts:1\n")
    env = base_env(type("S", (), {"host": "db.pgbe.test", "port": pg.port})(),
                   user, "pw-dns2", user, free_port())
    t = time.monotonic()
    p = subprocess.Popen(in_own_mount_ns(files, [BIN, "init", "--config-dir", config_dir,
                                                 "--wait-timeout", "3"]),
                         env=process_env(env), stderr=subprocess.PIPE, text=True)
    rc = p.wait(timeout=60)
    took = time.monotonic() - t
    err = p.stderr.read()
    dns.close()
    assert "accepts logins" in err  # the wait's lookup was answered
    assert rc == 69, err
    assert took < 3 + MARGIN, (took, err)


def test_unanswered_name_lookup_ends_69_at_the_deadline(etc_files):
    dns = fakepg.FakeDNS(silent=True)
    files = etc_files("127.0.0.1 localhost\n",
                      f"nameserver {dns.addr}\noptions timeout:30 attempts:1\n")
    env = upstream_env("db.pgbe.test", 5432)
    t = time.monotonic()
    p = subprocess.Popen(in_own_mount_ns(files, [BIN, "wait", "--wait-timeout", "2"]),
                         env=process_env(env), stderr=subprocess.PIPE, text=True)
    rc = p.wait(timeout=60)
    took = time.monotonic() - t
    err = p.stderr.read()
    dns.close()
    assert dns.queries >= 1  # it really asked the silent server
    assert rc == 69, err
    assert took < 2 + MARGIN, (took, err)
    assert "db.pgbe.test" in err.splitlines()[-1]


def test_sigterm_during_unanswered_name_lookup_exits_143(etc_files):
    dns = fakepg.FakeDNS(silent=True)
    files = etc_files("127.0.0.1 localhost\n",
                      f"nameserver {dns.addr}\noptions timeout:30 attempts:1\n")
    env = upstream_env("db.pgbe.test", 5432)
    p = subprocess.Popen(in_own_mount_ns(files, [BIN, "wait", "--wait-timeout", "60"]),
                         env=process_env(env), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while dns.queries == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    took = time.monotonic() - t
    dns.close()
    assert rc == 128 + signal.SIGTERM, p.stderr.read()
    assert took < 1.0, took



def self_check_env(port):
    """An upstream on the pool's own listen port, listening on every
    address: the check that the pool is not pointed at itself looks the
    name up before the wait."""
    return dict(upstream_env("db.pgbe.test", port), LISTEN_PORT=str(port), LISTEN_ADDR="*")


def test_own_address_check_lookup_ends_at_the_waits_deadline(etc_files):
    """The lookup of that check counts against --wait-timeout: a silent name
    server costs the one deadline, not the check's own 2 s on top of it."""
    dns = fakepg.FakeDNS(silent=True)
    files = etc_files("127.0.0.1 localhost\n",
                      f"nameserver {dns.addr}\noptions timeout:30 attempts:1\n")
    t = time.monotonic()
    p = subprocess.Popen(in_own_mount_ns(files, [BIN, "wait", "--wait-timeout", "1"]),
                         env=process_env(self_check_env(free_port())), stderr=subprocess.PIPE,
                         text=True)
    rc = p.wait(timeout=60)
    took = time.monotonic() - t
    err = p.stderr.read()
    dns.close()
    assert dns.queries >= 1, err
    assert rc == 69, err
    # before, the check's 2 s came first and the wait's 1 s after it
    assert took < 2.5, (took, err)


def test_sigterm_during_own_address_check_lookup_exits_143(etc_files):
    dns = fakepg.FakeDNS(silent=True)
    files = etc_files("127.0.0.1 localhost\n",
                      f"nameserver {dns.addr}\noptions timeout:30 attempts:1\n")
    p = subprocess.Popen(in_own_mount_ns(files, [BIN, "wait", "--wait-timeout", "60"]),
                         env=process_env(self_check_env(free_port())), stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 10
    while dns.queries == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    err = p.stderr.read()
    dns.close()
    assert "waiting for" not in err, err  # it was still the check, not the wait
    assert rc == 128 + signal.SIGTERM, err


# ---- item 6: out of memory ---------------------------------------------------

def address_space_limit(kib):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (kib << 10, kib << 10))


def smallest_limit_that_starts():
    """The address-space limit (KiB) below which the kernel cannot even load
    the static binary: under it no code of ours runs."""
    for kib in range(1024, 64 << 10, 128):
        r = subprocess.run([str(BIN), "--version"], capture_output=True,
                           preexec_fn=address_space_limit(kib), env=process_env({}))
        if r.returncode == 0:
            return kib
    pytest.fail("--version never ran under a 64 MiB address-space limit")


@pytest.mark.parametrize("cmd", ["render", "init"])
def test_out_of_memory_anywhere_is_71_never_a_crash(pg, config_dir, cmd):
    """Every address-space limit from the smallest that loads the program
    up: the program ends 0, or 71 saying it ran out of memory with nothing
    written; never a crash, a hang or another status."""
    from utils import new_user
    user = new_user(pg, "pw-oom")
    env = process_env(base_env(pg, user, "pw-oom", user, free_port()))
    (config_dir / "pgbouncer.ini.template").write_text(
        "[pgbouncer]\nlisten_port = ${LISTEN_PORT}\n;" + "x" * 900_000 + "\n")
    outputs = [config_dir / "pgbouncer.ini", config_dir / "userlist.txt"]
    seen = set()
    low = smallest_limit_that_starts()
    for kib in range(low, low + (24 << 10), 256):
        for f in outputs:
            f.unlink(missing_ok=True)
        r = subprocess.run([str(BIN), cmd, "--config-dir", str(config_dir), "--wait-timeout",
                            "20"], env=env, capture_output=True, text=True, timeout=60,
                           preexec_fn=address_space_limit(kib))
        seen.add(r.returncode)
        assert r.returncode in (0, 71), (kib, r.returncode, r.stderr)
        if r.returncode == 71:
            assert "out of memory" in r.stderr.lower(), (kib, r.stderr)
            assert not any(f.exists() for f in outputs), (kib, r.stderr)
            assert not list(config_dir.glob("*.tmp.*")), kib
        else:
            assert all(f.exists() for f in outputs), (kib, r.stderr)
            break
    assert seen == {0, 71}, (low, seen)

# ---- item 11: the version probe ------------------------------------------------

@pytest.fixture
def fake_pgbouncer():
    """A `pgbouncer` on PATH that records who ran it and with what, then
    answers SCRIPT's way."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-fakebin-"))
    os.chmod(d, 0o777)

    def make(body):
        exe = d / "pgbouncer"
        exe.write_text("#!/bin/sh\n"
                       f"id -u >{d}/uid\nenv >{d}/env\necho $$ >{d}/pid\n" + body)
        os.chmod(exe, 0o755)
        return d
    yield make
    subprocess.run(["rm", "-rf", str(d)])


def check_env(pg, bindir):
    env = base_env(pg, "app", "pw-secret-probe", "app", free_port(),
                   PATH=f"{bindir}:/usr/bin:/bin")
    return env


def test_version_probe_runs_as_run_user_without_secrets(pg, config_dir, fake_pgbouncer):
    d = fake_pgbouncer('echo "PgBouncer 1.24.1"\n')
    r = entrypoint(["check", "--config-dir", str(config_dir)], check_env(pg, d))
    assert r.returncode == 0, r.stderr
    assert (d / "uid").read_text().strip() == run_user_spec().split(":")[0]
    env = (d / "env").read_text()
    assert "pw-secret-probe" not in env and "DB_PASSWORD" not in env


def test_version_probe_that_hangs_does_not_hang_startup(pg, config_dir, fake_pgbouncer):
    d = fake_pgbouncer("exec sleep 600\n")
    t = time.monotonic()
    r = entrypoint(["check", "--config-dir", str(config_dir)], check_env(pg, d), timeout=60)
    took = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    assert took < 5 + MARGIN, took
    assert "pgbouncer --version" in r.stderr  # says why the version is unknown
    pid = int((d / "pid").read_text())
    assert not os.path.exists(f"/proc/{pid}") or \
        open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_sigterm_during_version_probe_exits_143(pg, config_dir, fake_pgbouncer):
    d = fake_pgbouncer("exec sleep 600\n")
    p = subprocess.Popen([str(BIN), "check", "--config-dir", str(config_dir)],
                         env=process_env(check_env(pg, d)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not (d / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    rc, took = sigterm_and_time(p)
    assert rc == 128 + signal.SIGTERM, p.stderr.read()
    assert took < 1.0, took


@pytest.mark.parametrize("release,form", [("1.25.1", "plaintext"), ("1.25.0", "scram"),
                                          ("1.25.2", "scram")])
def test_pgbouncer_that_cannot_pass_a_stored_secret_through_gets_plaintext(
        pg, config_dir, fake_pgbouncer, release, form):
    """pgbouncer 1.25.1 cannot log in to a server anew with a stored SCRAM
    secret (pgbouncer #1501): when `pgbouncer --version` says 1.25.1, run
    writes the plaintext and says why; the releases around it get the
    server's secret.  The fake pgbouncer says which form it was given."""
    user = f"passthrough_{release.replace('.', '_')}"
    pg.add_user(user, "pw-passthrough", db=user)
    d = fake_pgbouncer(
        f'case "$1" in --version) echo "PgBouncer {release}";;\n'
        "*) if grep -qF 'SCRAM-SHA-256$' \"$(dirname \"$1\")/userlist.txt\"; then\n"
        '   echo userlist-form=scram; else echo userlist-form=plaintext; fi;; esac\n')
    env = base_env(pg, user, "pw-passthrough", user, free_port(), PATH=f"{d}:/usr/bin:/bin")
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert ("#1501" in r.stdout) == (form == "plaintext"), r.stdout
    r = entrypoint(["run", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert f"userlist-form={form}" in r.stdout, r.stdout + r.stderr
    assert ("pgbouncer issue #1501" in r.stderr) == (form == "plaintext"), r.stderr
