"""A drain that can be stopped (issue 16, part 2): SIGTERM at each phase of
`drain` leaves pgbouncer serving (ready again) or exited with no transaction
cut; a second drain joins the first; --timeout 0 waits without a limit.
Against Debian's pgbouncer 1.18 (PAUSE, then SHUTDOWN) and, with
PGBE_PGBOUNCER=static, the image's 1.24 (SHUTDOWN WAIT_FOR_SERVERS)."""
import os
import signal
import subprocess
import threading
import time

import pytest

from utils import STATIC, entrypoint
# the day-two fixtures: a pool started by `run`, an idle client on it

SIGTERM_EXIT = 128 + signal.SIGTERM


def drain(running, pool, delay, timeout):
    return running(["drain", "--config-dir", str(pool.config_dir), "--delay", str(delay),
                    "--timeout", str(timeout)], pool.env)


def marker(pool):
    return (pool.config_dir / "draining").exists()


def wait_until(cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def serves(pool):
    """A new client logs in through the pool and runs SELECT 1.  A paused
    pgbouncer lets the login in and never answers: that is a no."""
    try:
        q = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(pool.port),
                            "-U", pool.user, "-d", pool.user, "-c", "select 1"],
                           env=dict(os.environ, PGPASSWORD=pool.password,
                                    PGCONNECT_TIMEOUT="5"),
                           capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return q.stdout.strip() == "1"


def admin(pool, command):
    """COMMAND on the admin console, as an operator would (DB_USER is an
    admin user)."""
    return subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(pool.port),
                           "-U", pool.user, "-d", "pgbouncer", "-c", command],
                          env=dict(os.environ, PGPASSWORD=pool.password),
                          capture_output=True, text=True, timeout=10)


class OpenTransaction:
    """A client inside a transaction through the pool (BEGIN and an INSERT
    done, so it holds a server connection) until commit()."""

    def __init__(self, pool, tag):
        pool.pg.sql("CREATE TABLE IF NOT EXISTS drain_sig (id text primary key)", db=pool.user)
        pool.pg.sql(f"GRANT ALL ON drain_sig TO {pool.user}", db=pool.user)
        self.pool, self.tag, self.lines = pool, tag, []
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                                      "127.0.0.1", "-p", str(pool.port), "-U", pool.user,
                                      "-d", pool.user],
                                     env=dict(os.environ, PGPASSWORD=pool.password),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.proc.stdin.write(f"BEGIN;\nINSERT INTO drain_sig VALUES ('{tag}');\n"
                              f"SELECT 'begun-{tag}';\n")
        self.proc.stdin.flush()
        assert wait_until(lambda: f"begun-{tag}\n" in self.lines), self.lines

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def commit(self):
        """COMMIT; True when the row is in the database afterwards."""
        try:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # psql is gone: the server closed the connection
        self.proc.wait(30)
        n = self.pool.pg.sql(f"SELECT count(*) FROM drain_sig WHERE id = '{self.tag}'",
                             db=self.pool.user)
        return n == "1"


def assert_serving_and_ready(pool):
    assert pool.run.proc.poll() is None, "pgbouncer exited:\n" + pool.run.output()
    assert serves(pool), "a new client is not served"
    assert not marker(pool), "the draining marker is still there"
    assert pool.health(deep=True).returncode == 0
    assert pool.session.ask(), "the client connected before the drain broke"


def test_sigterm_during_the_delay_leaves_pgbouncer_serving_and_ready(pool, running):
    d = drain(running, pool, delay=30, timeout=10)
    assert d.wait_for("readiness is red"), d.output()
    assert marker(pool) and pool.health(deep=True).returncode == 1
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(10) == SIGTERM_EXIT, d.output()
    assert "stopped by signal 15 during --delay" in d.output(), d.output()
    assert "readiness is green again" in d.output(), d.output()
    assert_serving_and_ready(pool)


@pytest.mark.skipif(STATIC, reason="1.24 drains by SHUTDOWN WAIT_FOR_SERVERS, with no PAUSE")
def test_sigterm_while_pause_waits_resumes_pgbouncer_and_the_transaction_commits(pool,
                                                                                  running):
    tx = OpenTransaction(pool, "pause")
    d = drain(running, pool, delay=0, timeout=60)
    assert pool.run.wait_for("PAUSE command issued"), pool.run.output() + d.output()
    time.sleep(0.5)
    assert d.proc.poll() is None, d.output()  # PAUSE waits for the transaction
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(15) == SIGTERM_EXIT, d.output()
    assert "RESUMEd and serves again" in d.output(), d.output()
    assert_serving_and_ready(pool)
    assert tx.commit(), tx.lines


@pytest.mark.skipif(not STATIC, reason="1.18 has no SHUTDOWN WAIT_FOR_SERVERS")
def test_sigterm_after_shutdown_wait_for_servers_cuts_no_transaction(pool, running):
    tx = OpenTransaction(pool, "after-shutdown")
    d = drain(running, pool, delay=0, timeout=60)
    assert pool.run.wait_for("SHUTDOWN WAIT_FOR_SERVERS command issued"), d.output()
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    # it goes on waiting, forcing nothing
    assert pool.run.proc.poll() is None, pool.run.output() + d.output()
    assert d.proc.poll() is None, d.output()
    assert tx.commit(), tx.lines
    # the drain completed after all: 0, not 128+15
    assert d.proc.wait(20) == 0, d.output()
    assert "cannot be taken back" in d.output() and "no transaction was cut" in d.output()
    assert pool.run.proc.wait(10) is not None


@pytest.mark.skipif(not STATIC, reason="1.18 has no SHUTDOWN WAIT_FOR_SERVERS")
def test_a_second_sigterm_after_shutdown_stops_waiting_and_pgbouncer_still_finishes(
        pool, running):
    tx = OpenTransaction(pool, "two-signals")
    d = drain(running, pool, delay=0, timeout=60)
    assert pool.run.wait_for("SHUTDOWN WAIT_FOR_SERVERS command issued"), d.output()
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(1)  # two signals at once would be one
    assert pool.run.proc.poll() is None, pool.run.output() + d.output()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(10) == SIGTERM_EXIT, d.output()
    assert pool.run.proc.poll() is None, pool.run.output()
    assert tx.commit(), tx.lines
    assert pool.run.proc.wait(10) is not None
    assert "a second signal ended the waiting" in d.output(), d.output()


def test_two_drains_at_once_both_exit_0_and_cut_no_transaction(pool, running):
    tx = OpenTransaction(pool, "two-drains")
    first = drain(running, pool, delay=1, timeout=60)
    assert first.wait_for("readiness is red"), first.output()
    second = drain(running, pool, delay=1, timeout=60)
    assert wait_until(lambda: "lets running transactions finish" in first.output())
    time.sleep(1.5)  # both are past their delay: the old code raced here
    assert tx.commit(), (tx.lines, first.output(), second.output())
    assert first.proc.wait(20) == 0, first.output()
    assert second.proc.wait(20) == 0, second.output()
    assert "joining it" in second.output(), second.output()
    assert pool.run.proc.wait(10) is not None


def test_a_drain_that_joined_takes_over_when_the_first_is_stopped(pool, running):
    tx = OpenTransaction(pool, "take-over")
    first = drain(running, pool, delay=30, timeout=60)
    assert first.wait_for("readiness is red"), first.output()
    second = drain(running, pool, delay=1, timeout=60)
    time.sleep(0.5)
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(10) == SIGTERM_EXIT, first.output()
    assert wait_until(lambda: "lets running transactions finish" in second.output())
    assert tx.commit(), tx.lines
    assert second.proc.wait(20) == 0, second.output()
    assert pool.run.proc.wait(10) is not None
    assert "joining it" in second.output() and "draining now" in second.output(), \
        second.output()


def test_timeout_0_waits_for_the_running_transaction_without_limit(pool, running):
    tx = OpenTransaction(pool, "timeout-0")
    d = drain(running, pool, delay=0, timeout=0)
    time.sleep(3)
    assert d.proc.poll() is None, d.output()
    assert pool.run.proc.poll() is None, pool.run.output()
    assert tx.commit(), tx.lines
    assert d.proc.wait(20) == 0, d.output()
    assert pool.run.proc.wait(10) is not None
    assert "no time limit (--timeout 0)" in d.output(), d.output()


def test_help_says_timeout_0_is_no_limit():
    words = " ".join(entrypoint(["--help"], {}).stdout.split())
    assert "--timeout SECS drain: how long running transactions may take, 0 = no limit" in words


@pytest.mark.skipif(STATIC, reason="1.24's SHUTDOWN WAIT_FOR_SERVERS works on a paused "
                    "pgbouncer")
def test_a_drain_refused_before_stopping_anything_turns_readiness_green_again(pool, running):
    """An operator's PAUSE: the drain's own PAUSE is refused.  The old code
    answered with SHUTDOWN."""
    assert admin(pool, "PAUSE").returncode == 0
    try:
        d = drain(running, pool, delay=0, timeout=10)
        assert d.proc.wait(15) == 69, d.output()
        assert pool.run.proc.poll() is None, pool.run.output() + d.output()
        assert not marker(pool)
        assert "already suspended/paused" in d.output(), d.output()
        assert "readiness is green again" in d.output(), d.output()
    finally:
        admin(pool, "RESUME")
    assert_serving_and_ready(pool)
