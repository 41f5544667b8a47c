"""run / init / wait / health / client-url: the binary as an entrypoint, with
real PostgreSQL and real pgbouncer."""
import hashlib
import os
import signal
import subprocess
import time
import urllib.parse

import pytest

from utils import new_user
from utils import (BIN, PATH, PGBOUNCER, STATIC, Postgres, base_env, entrypoint, free_port,
                      process_env, psql, psql_url, run_user_ids, run_user_spec,
                      wait_port)

counter = [0]


@pytest.fixture
def late_pg(workdir):
    """A PostgreSQL that has a role and database but is stopped."""
    counter[0] += 1
    p = Postgres(workdir / f"late{counter[0]}")
    p.start()
    p.add_user("late", "pw-late", "late")
    p.stop()
    yield p
    p.stop()


def test_upstream_down_at_start_then_up_pool_serves(late_pg, config_dir, running):
    port = free_port()
    env = base_env(late_pg, "late", "pw-late", "late", port)
    r = running(["run", "--config-dir", str(config_dir), "--wait-timeout", "60"], env)
    time.sleep(1.0)
    assert r.proc.poll() is None, "gave up while the upstream was down"
    late_pg.ctl("start", "-w", "-l", str(late_pg.dir / "log"))
    assert wait_port(port, 30), r.output()
    q = psql(port, "late", "pw-late", "late", "select 'served'")
    out = r.finish()
    assert q.stdout.strip() == "served", q.stderr + out
    assert "waiting for late@127.0.0.1" in out and "accepts logins" in out


def test_upstream_never_up_exits_69_at_deadline(config_dir):
    env = base_env(type("X", (), {"host": "127.0.0.1", "port": free_port()})(),
                   "app", "pw", "app", free_port())
    r = entrypoint(["run", "--config-dir", str(config_dir), "--wait-timeout", "2"], env)
    assert r.returncode == 69, r.stderr
    assert "not reachable after 2 s" in r.stderr
    assert r.stderr.count("waiting for app@") >= 2  # one progress line per attempt


def test_wrong_password_77_after_one_attempt_and_password_nowhere(pg, config_dir):
    user = new_user(pg, "right-pw")
    env = base_env(pg, user, "Wr0ng-Pa55word", user, free_port())
    r = entrypoint(["run", "--config-dir", str(config_dir), "--wait-timeout", "30"], env)
    assert r.returncode == 77
    assert "password authentication failed" in r.stderr and "check DB_PASSWORD" in r.stderr
    assert f'user "{user}"' in r.stderr and f"127.0.0.1:{pg.port}" in r.stderr
    assert "waiting for" not in r.stderr  # no retry
    assert "Wr0ng-Pa55word" not in r.stdout + r.stderr


def test_unknown_database_77(pg, config_dir):
    user = new_user(pg, "pw")
    r = entrypoint(["wait", "--wait-timeout", "30"], base_env(pg, user, "pw", "nosuchdb", 6432))
    assert r.returncode == 77
    assert 'database "nosuchdb" does not exist' in r.stderr and "check DB_NAME" in r.stderr


def test_sslmode_require_against_server_without_tls_77(pg, config_dir):
    user = new_user(pg, "pw")
    env = base_env(pg, user, "pw", user, free_port(), SERVER_TLS_SSLMODE="require")
    r = entrypoint(["run", "--config-dir", str(config_dir), "--wait-timeout", "30"], env)
    assert r.returncode == 77
    assert "server does not support SSL, but SSL was required" in r.stderr
    assert "use sslmode=prefer or disable" in r.stderr


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_tls_upstream_pool_serves_over_tls(pg_tls, config_dir, running, mode):
    user = new_user(pg_tls, "pw-tls")
    port = free_port()
    env = base_env(pg_tls, user, "pw-tls", user, port, SERVER_TLS_SSLMODE=mode,
                   DB_HOST="localhost")
    if mode == "verify-full":
        env["SERVER_TLS_CA_FILE"] = str(pg_tls.ca_file)
    r = running(["run", "--config-dir", str(config_dir)], env)
    assert wait_port(port, 30), r.output()
    q = psql(port, user, "pw-tls", user,
             "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert q.stdout.strip() == "t", q.stderr + r.output()


def test_verify_full_with_wrong_ca_is_refused_77(pg_tls, config_dir, workdir):
    from utils import make_tls_files
    other = make_tls_files(workdir / "other-ca")
    user = new_user(pg_tls, "pw")
    env = base_env(pg_tls, user, "pw", user, free_port(), DB_HOST="localhost",
                   SERVER_TLS_SSLMODE="verify-full", SERVER_TLS_CA_FILE=str(other / "ca.crt"))
    r = entrypoint(["wait", "--wait-timeout", "20"], env)
    assert r.returncode == 77, r.stderr
    assert "certificate verify failed" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_started_as_root_pgbouncer_runs_as_run_user_without_secrets(pg, config_dir, running):
    user = new_user(pg, "s3cret-in-env")
    port = free_port()
    env = base_env(pg, user, "s3cret-in-env", user, port,
                   DATABASE_URL=f"postgresql://{user}:s3cret-in-env@127.0.0.1:{pg.port}/{user}")
    r = running(["run", "--config-dir", str(config_dir), "--user", run_user_spec()], env)
    assert wait_port(port, 30), r.output()
    pid = r.proc.pid
    status = open(f"/proc/{pid}/status").read()
    uid, gid = run_user_ids()
    assert "Name:\tpgbouncer" in status  # exec'd: same PID
    assert os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(PGBOUNCER)
    assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status
    assert f"Gid:\t{gid}\t{gid}\t{gid}\t{gid}" in status
    environ = open(f"/proc/{pid}/environ", "rb").read().decode()
    assert "s3cret-in-env" not in environ
    assert "DB_PASSWORD" not in environ and "DATABASE_URL" not in environ
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode()
    assert "s3cret-in-env" not in cmdline
    for name in ("pgbouncer.ini", "userlist.txt"):
        st = (config_dir / name).stat()
        assert (st.st_uid, st.st_gid) == (uid, gid)
    assert psql(port, user, "s3cret-in-env", user, "select 1").stdout.strip() == "1"


def test_sigterm_during_wait_ends_it(config_dir):
    env = base_env(type("X", (), {"host": "127.0.0.1", "port": free_port()})(),
                   "app", "pw", "app", free_port())
    full = process_env(env)
    p = subprocess.Popen([str(BIN), "run", "--config-dir", str(config_dir), "--wait-timeout",
                          "60"], env=full, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=5)
    assert rc == 128 + signal.SIGTERM
    assert "received signal 15" in p.stderr.read()


def test_health_with_pgbouncer_up_and_down(pg, config_dir, running):
    user = new_user(pg, "pw-h")
    port = free_port()
    env = base_env(pg, user, "pw-h", user, port, PGBOUNCER_UNIX_SOCKET_DIR=str(config_dir))
    r = running(["run", "--config-dir", str(config_dir)], env)
    assert wait_port(port, 30), r.output()
    h = entrypoint(["health", "--config-dir", str(config_dir)], env)
    assert h.returncode == 0, h.stderr
    d = entrypoint(["health", "--deep", "--config-dir", str(config_dir)], env)
    assert d.returncode == 0, d.stderr
    r.stop()
    h = entrypoint(["health", "--config-dir", str(config_dir)], env, timeout=10)
    assert h.returncode == 1
    d = entrypoint(["health", "--deep", "--config-dir", str(config_dir)], env, timeout=10)
    assert d.returncode == 1


@pytest.mark.parametrize("addr", ["localhost", "localhost,127.0.0.2"])
def test_health_by_name_without_a_unix_socket(pg, config_dir, running, addr):
    """listen_addr a name (or a list) and no Unix socket: health looks each
    name up under its deadline and asks each address, live and deep alike."""
    user = new_user(pg, "pw-hn")
    port = free_port()
    env = base_env(pg, user, "pw-hn", user, port, LISTEN_ADDR=addr)
    r = running(["run", "--config-dir", str(config_dir)], env)
    assert wait_port(port, 30), r.output()
    for deep in ([], ["--deep"]):
        h = entrypoint(["health", *deep, "--config-dir", str(config_dir)], env)
        assert h.returncode == 0, h.stderr
    r.stop()
    for deep in ([], ["--deep"]):
        h = entrypoint(["health", *deep, "--config-dir", str(config_dir)], env, timeout=10)
        assert h.returncode == 1
        assert f"does not answer on {addr}:{port}" in h.stderr


def test_health_deep_fails_when_upstream_is_gone(late_pg, config_dir, running):
    port = free_port()
    late_pg.ctl("start", "-w", "-l", str(late_pg.dir / "log"))
    env = base_env(late_pg, "late", "pw-late", "late", port)
    r = running(["run", "--config-dir", str(config_dir)], env)
    assert wait_port(port, 30), r.output()
    assert entrypoint(["health", "--deep", "--config-dir", str(config_dir)], env).returncode == 0
    late_pg.stop()
    assert entrypoint(["health", "--config-dir", str(config_dir)], env).returncode == 0
    assert entrypoint(["health", "--deep", "--config-dir", str(config_dir)],
                      env, timeout=10).returncode == 1


def test_client_url_round_trip_with_every_url_special_character(pg, config_dir, running):
    password = "p@ss:w/rd?#%&=+ '\"\\[]"
    user = new_user(pg, password)
    port = free_port()
    env = base_env(pg, user, password, user, port)
    r = running(["run", "--config-dir", str(config_dir)], env)
    assert wait_port(port, 30), r.output()
    u = entrypoint(["client-url", "--host", "127.0.0.1"], env)
    assert u.returncode == 0, u.stderr
    url = u.stdout.strip()
    assert url == (f"postgresql://{user}:{urllib.parse.quote(password, safe='-._~')}"
                   f"@127.0.0.1:{port}/{user}")
    q = psql_url(url, "select current_user")
    assert q.stdout.strip() == user, q.stderr


def test_init_renders_waits_and_exits(pg, config_dir):
    user = new_user(pg, "pw-init")
    r = entrypoint(["init", "--config-dir", str(config_dir)],
                   base_env(pg, user, "pw-init", user, free_port()))
    assert r.returncode == 0, r.stderr
    assert "accepts logins" in r.stderr
    assert (config_dir / "pgbouncer.ini").exists() and (config_dir / "userlist.txt").exists()


def test_command_not_found_127_and_not_executable_126(pg, config_dir, workdir):
    user = new_user(pg, "pw")
    env = base_env(pg, user, "pw", user, free_port())
    r = entrypoint(["run", "--config-dir", str(config_dir), "--", "no-such-program-xyz"], env)
    assert r.returncode == 127 and "not found" in r.stderr
    f = workdir / "not-executable"
    f.write_text("x")
    os.chmod(f, 0o644)
    r = entrypoint(["run", "--config-dir", str(config_dir), "--", str(f)], env)
    assert r.returncode == 126


def test_multi_database_every_upstream_is_checked(pg, config_dir):
    a, b = new_user(pg, "pa"), new_user(pg, "pb")
    urls = (f"postgres://{a}:pa@127.0.0.1:{pg.port}/{a}, "
            f"postgres://{b}:WRONG@127.0.0.1:{pg.port}/{b}")
    r = entrypoint(["wait", "--wait-timeout", "20"], {"DATABASE_URLS": urls})
    assert r.returncode == 77 and f'user "{b}"' in r.stderr


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5", "plain"])
def test_seed_setup_md5_userlist_against_scram_server_fails_at_startup(pg, config_dir, auth_type):
    """The seed's userlist (a correct md5 hash, even) cannot log in to a SCRAM
    server: caught before pgbouncer starts, with the fix named."""
    user = new_user(pg, "pw-seed")
    md5 = "md5" + hashlib.md5(("pw-seed" + user).encode()).hexdigest()
    (config_dir / "userlist.txt").write_text(f'"{user}" "{md5}"\n')
    env = base_env(pg, user, "pw-seed", user, free_port(), AUTH_TYPE=auth_type)
    r = entrypoint(["run", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78, r.stderr
    assert "cannot log in to it with an md5 hash" in r.stderr
    assert "put the plaintext password in userlist.txt" in r.stderr


def test_md5_userlist_against_md5_server_serves(pg_md5, config_dir, running):
    user = new_user(pg_md5, "pw-m")
    md5 = "md5" + hashlib.md5(("pw-m" + user).encode()).hexdigest()
    (config_dir / "userlist.txt").write_text(f'"{user}" "{md5}"\n')
    port = free_port()
    r = running(["run", "--config-dir", str(config_dir)],
                base_env(pg_md5, user, "pw-m", user, port, AUTH_TYPE="md5"))
    assert wait_port(port, 30), r.output()
    assert psql(port, user, "pw-m", user, "select 1").stdout.strip() == "1"


def test_raises_open_files_limit_for_max_client_conn(pg, config_dir, running):
    user = new_user(pg, "pw")
    port = free_port()
    env = base_env(pg, user, "pw", user, port, MAX_CLIENT_CONN="3000")
    r = running(["run", "--config-dir", str(config_dir)], env)
    assert wait_port(port, 30), r.output()
    limits = open(f"/proc/{r.proc.pid}/limits").read()
    line = [l for l in limits.splitlines() if l.startswith("Max open files")][0]
    assert int(line.split()[3]) >= 3000 + 20 + 64


def test_the_pgbouncer_under_test_is_the_intended_one():
    v = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True)
    if STATIC:
        assert "PgBouncer 1.24" in v.stdout and "evdns" in v.stdout
        assert "statically linked" in subprocess.run(["file", os.path.realpath(PGBOUNCER)],
                                                     capture_output=True, text=True).stdout
    else:
        assert "PgBouncer 1.18" in v.stdout  # Debian 12's package


def test_own_ini_with_only_credentials_runs_without_waiting(pg, config_dir, running):
    """A user's own pgbouncer.ini names the servers; DB_USER and DB_PASSWORD
    only feed userlist.txt, and there is nothing to wait for."""
    user = new_user(pg, "pw-own-run")
    port = free_port()
    (config_dir / "pgbouncer.ini").write_text(
        f"[databases]\n{user} = host=127.0.0.1 port={pg.port}\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {config_dir}/userlist.txt\n")
    os.chmod(config_dir / "pgbouncer.ini", 0o644)
    r = running(["run", "--config-dir", str(config_dir)],
                {"DB_USER": user, "DB_PASSWORD": "pw-own-run",
                 "PGBOUNCER_RUN_USER": run_user_spec()})
    assert wait_port(port, 30), r.output()
    assert psql(port, user, "pw-own-run", user, "select 1").stdout.strip() == "1"
    assert "not waiting" in r.output()


def test_upstream_resolving_to_own_address_on_listen_port_is_refused(config_dir):
    """127.0.0.2 is this machine too (all of 127/8 is), though no name list
    says so: the pool would connect to itself.  The seed's deploy script did
    this with DB_HOST=pgbouncer-test."""
    port = free_port()
    env = {"DB_HOST": "127.0.0.2", "DB_PORT": str(port), "DB_NAME": "app", "DB_USER": "app",
           "DB_PASSWORD": "pw", "LISTEN_ADDR": "*", "LISTEN_PORT": str(port),
           "PGBOUNCER_RUN_USER": run_user_spec()}
    r = entrypoint(["run", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78, r.stderr
    assert "the pool would connect to itself" in r.stderr


def test_setting_newer_than_the_pgbouncer_is_refused_before_writing(pg, config_dir):
    user = new_user(pg, "pw")
    env = base_env(pg, user, "pw", user, free_port(), PGBOUNCER_TRANSACTION_TIMEOUT="30")
    r = entrypoint(["run", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78, r.stderr
    version = "1.24" if STATIC else "1.18"
    assert (f"PGBOUNCER_TRANSACTION_TIMEOUT sets transaction_timeout, which needs pgbouncer "
            f"1.25; the pgbouncer here is {version}") in r.stderr
    assert list(config_dir.iterdir()) == []


def test_check_refuses_a_setting_newer_than_the_pgbouncer_as_run_does(pg, config_dir):
    user = new_user(pg, "pw")
    env = base_env(pg, user, "pw", user, free_port(), PGBOUNCER_TRANSACTION_TIMEOUT="30")
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78, r.stderr
    assert "configuration OK" not in r.stderr
    assert "PGBOUNCER_TRANSACTION_TIMEOUT sets transaction_timeout" in r.stderr


def test_bare_setting_newer_than_the_pgbouncer_names_the_bare_variable(pg, config_dir):
    user = new_user(pg, "pw")
    env = base_env(pg, user, "pw", user, free_port(), MAX_PREPARED_STATEMENTS="10")
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    if STATIC:  # 1.24 has max_prepared_statements (1.21+)
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode == 78, r.stderr
        assert "MAX_PREPARED_STATEMENTS sets max_prepared_statements" in r.stderr
        assert "PGBOUNCER_MAX_PREPARED_STATEMENTS" not in r.stderr
