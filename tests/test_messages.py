"""Messages name what the user set and the fix (issue 18): the _FILE
variable the password came from, the uid a secret must be readable by, a
defaulted database name, and check without pgbouncer on PATH."""
import os
import signal
import subprocess
import time

from utils import BIN, as_run_user, base_env, entrypoint, free_port, process_env, run_user_ids
from utils import new_user


def test_wrong_password_from_a_file_names_the_file_variable(pg, workdir):
    user = new_user(pg, "pw-right")
    secret = workdir / f"pw-{user}"
    secret.write_text("pw-wrong")
    env = base_env(pg, user, "unused", user, free_port(), DB_PASSWORD_FILE=str(secret))
    del env["DB_PASSWORD"]
    r = entrypoint(["wait", "--wait-timeout", "10"], env)
    assert r.returncode == 77, r.stderr
    assert "check DB_PASSWORD_FILE" in r.stderr, r.stderr


def test_unreadable_secret_names_the_uid_and_the_fix(pg, workdir):
    """The image runs as uid 70; a 0600 secret of another uid is the usual
    cause.  Here: the run user reading a root-owned 0600 file."""
    secret = workdir / "root-only-secret"
    secret.write_text("pw")
    os.chmod(secret, 0o600)
    os.chown(secret, 0, 0)
    env = base_env(pg, "app", "unused", "app", free_port(), DB_PASSWORD_FILE=str(secret))
    del env["DB_PASSWORD"]
    uid, _ = run_user_ids()
    r = subprocess.run(as_run_user([BIN, "check", "--config-dir", str(workdir / "nowhere")]),
                       env=process_env(env), capture_output=True, text=True, timeout=30)
    assert r.returncode == 78, r.stderr
    assert f"as uid {uid}" in r.stderr and f"chown {uid}" in r.stderr, r.stderr
    assert "chmod 0644" in r.stderr and "--user" in r.stderr


def test_defaulted_database_name_is_said(pg, config_dir):
    user = new_user(pg, "pw-db")
    env = base_env(pg, user, "pw-db", user, free_port())
    del env["DB_NAME"]
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert f'names no database: using the user\'s name "{user}"' in r.stderr
    assert "set DB_NAME" in r.stderr


def test_check_fails_when_pgbouncer_is_not_on_path(pg, config_dir):
    user = new_user(pg, "pw-path")
    env = base_env(pg, user, "pw-path", user, free_port())
    full = process_env(env)
    full["PATH"] = "/nonexistent"
    r = subprocess.run([str(BIN), "check", "--config-dir", str(config_dir)], env=full,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 127, r.stderr
    assert "is not on PATH" in r.stderr and "configuration OK" not in r.stderr


def test_health_probes_leave_no_line_in_pgbouncers_log(pg, config_dir, workdir):
    """A liveness probe every few seconds used to add pgbouncer's three
    login lines each time (25 lines in 30 s); it now asks with an
    SSLRequest, which pgbouncer answers without logging."""
    from utils import Pool, Running
    secrets = workdir / f"hs-{os.getpid()}-{len(os.listdir(workdir))}"
    secrets.mkdir()
    os.chmod(secrets, 0o700)
    started = []
    pool = Pool(pg, config_dir, secrets, lambda a, e: started.append(Running(a, e)) or started[-1])
    try:
        assert pool.health().returncode == 0
        time.sleep(0.5)
        before = pool.run.output().count("\n")
        for _ in range(10):
            r = pool.health()
            assert r.returncode == 0, r.stderr
        time.sleep(0.5)
        assert pool.run.output().count("\n") == before, pool.run.output()[-2000:]
        # the readiness probe logs in through the pool: that is its job
        assert pool.health(deep=True).returncode == 0
        # and liveness still tells a stopped pgbouncer from a running one
        pool.run.proc.send_signal(signal.SIGSTOP)
        try:
            assert pool.health().returncode == 1
        finally:
            pool.run.proc.send_signal(signal.SIGCONT)
    finally:
        for r in started:
            r.stop()
