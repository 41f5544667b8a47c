"""No downgrade (issue 16, items 3 and 4): the wait's libpq login and the
learning login give the password only to a server that completes SCRAM,
unless PGBOUNCER_UPSTREAM_AUTH allows more; a server that cheats in the SCRAM
exchange, or asks for an iteration count above the cap, ends 77 at once.
Each fake server records what the client sent it, so "no password byte
reached it" is checked on the wire, and each case has an opted-in twin that
shows the same server does get the password when allowed."""
import signal
import ssl
import subprocess
import time

import pytest

import fakepg
from utils import BIN, base_env, entrypoint, free_port, make_tls_files, process_env

PASSWORD = "pw-Secr3t-on-the-wire"
QUICK = 5.0  # seconds: "at once", far below the 20 s deadline


def env_for(srv, **extra):
    server = type("Server", (), {"host": srv.host, "port": srv.port})()
    return base_env(server, "app", PASSWORD, "app", free_port(), **extra)


def wait(env, timeout=20, cmd="wait", config_dir=None):
    args = [cmd, "--wait-timeout", str(timeout)]
    if config_dir:
        args += ["--config-dir", str(config_dir)]
    t = time.monotonic()
    r = entrypoint(args, env, timeout=timeout + 30)
    return r, time.monotonic() - t


def password_seen(received):
    return any(PASSWORD.encode() in body for body in received)


@pytest.mark.parametrize("method", ["password", "md5"])
def test_cleartext_or_md5_request_gets_no_password_and_ends_77(method):
    received = []
    behave = fakepg.asks_in_clear(received) if method == "password" else fakepg.asks_md5(received)
    with fakepg.FakeServer(behave) as srv:
        r, took = wait(env_for(srv))
    assert r.returncode == 77, r.stderr
    assert took < QUICK, (took, r.stderr)
    assert "PGBOUNCER_UPSTREAM_AUTH" in r.stderr and f"add {method}" in r.stderr, r.stderr
    assert received == [], "the client answered the request"


@pytest.mark.parametrize("method", ["password", "md5"])
def test_opted_in_the_same_server_gets_the_answer(method):
    """The twin: the fake server does record an answer, so the test above
    can fail."""
    received = []
    behave = fakepg.asks_in_clear(received) if method == "password" else fakepg.asks_md5(received)
    with fakepg.FakeServer(behave) as srv:
        r, _ = wait(env_for(srv, PGBOUNCER_UPSTREAM_AUTH=method))
    assert r.returncode == 77, r.stderr  # the fake refuses every password
    assert "password authentication failed" in r.stderr
    assert len(received) == 1
    if method == "password":
        assert password_seen(received)


def test_trust_ends_77_unless_opted_in():
    with fakepg.FakeServer(fakepg.lets_in) as srv:
        r, took = wait(env_for(srv))
        assert r.returncode == 77, r.stderr
        assert took < QUICK
        assert "trust" in r.stderr and "PGBOUNCER_UPSTREAM_AUTH" in r.stderr
        r, _ = wait(env_for(srv, PGBOUNCER_UPSTREAM_AUTH="trust"))
        assert r.returncode == 0, r.stderr


def test_cleartext_request_under_tls_gets_no_password(tmp_path):
    """TLS without verification (sslmode=require) proves nothing about the
    server: the guard reads the request inside TLS too."""
    tls = make_tls_files(tmp_path / "tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls / "server.crt", tls / "server.key")
    received = []

    def tls_then_clear(conn, stop):
        p = fakepg.read_packet(conn)
        if not p or p[0] != fakepg.SSL_REQUEST:
            return
        conn.sendall(b"S")
        s = ctx.wrap_socket(conn, server_side=True)
        if fakepg.read_packet(s):
            s.sendall(fakepg.auth(3))
            s.settimeout(2)
            try:
                m = fakepg.read_message(s)
                if m:
                    received.append(m[1])
            except OSError:
                pass
            s.sendall(fakepg.error_response("28P01", "password authentication failed"))

    with fakepg.FakeServer(tls_then_clear) as srv:
        r, took = wait(env_for(srv, SERVER_TLS_SSLMODE="require"))
        assert r.returncode == 77, r.stderr
        assert took < QUICK
        assert "the password in clear" in r.stderr
        assert received == []
        r, _ = wait(env_for(srv, SERVER_TLS_SSLMODE="require", PGBOUNCER_UPSTREAM_AUTH="password"))
        assert password_seen(received), r.stderr


@pytest.mark.parametrize("cheat", ["no-signature", "bad-signature", "bad-nonce"])
def test_scram_that_proves_nothing_ends_77_at_once(cheat):
    srv_behave = fakepg.ScramServer(PASSWORD, cheat=cheat)
    with fakepg.FakeServer(srv_behave) as srv:
        r, took = wait(env_for(srv))
    assert r.returncode == 77, r.stderr
    assert took < QUICK, (took, r.stderr)
    assert "prove" in r.stderr, r.stderr
    assert not password_seen(srv_behave.received)


def test_whole_scram_is_a_login():
    """The same fake server, honest: the wait succeeds (the test above can fail)."""
    srv_behave = fakepg.ScramServer(PASSWORD)
    with fakepg.FakeServer(srv_behave) as srv:
        r, _ = wait(env_for(srv))
    assert r.returncode == 0, r.stderr
    assert not password_seen(srv_behave.received)


@pytest.mark.parametrize("iterations", [1_000_001, 10_000_000, 2**31 - 1])
def test_iteration_count_above_the_cap_ends_77_before_any_pbkdf2(iterations):
    srv_behave = fakepg.ScramServer(PASSWORD, iterations=iterations)
    with fakepg.FakeServer(srv_behave) as srv:
        r, took = wait(env_for(srv), timeout=8)
    assert r.returncode == 77, r.stderr
    assert took < QUICK, (took, r.stderr)
    assert "iteration count" in r.stderr and "1000000" in r.stderr
    # the proof was never sent: PBKDF2 did not run
    assert len(srv_behave.received) == 1


def test_sigterm_while_the_server_holds_its_scram_answer_exits_143():
    """The cap bounds the work; SIGTERM still ends a login that waits."""
    with fakepg.FakeServer(fakepg.auth_then_silent) as srv:
        p = subprocess.Popen([BIN, "wait", "--wait-timeout", "30"],
                             env=process_env(env_for(srv)), stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        t = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        took = time.monotonic() - t
    assert rc == 128 + signal.SIGTERM, p.stderr.read()
    assert took < 1.0, took


def test_learning_login_refuses_a_downgrade_after_the_wait_saw_scram(config_dir):
    """The wait's login completes SCRAM; the next connection (the learning
    login) is asked for the password in clear: init ends 77 and writes
    nothing, and nothing of the password goes out."""
    received = []
    srv_behave = fakepg.ScramServer(PASSWORD, then=fakepg.asks_in_clear(received))
    with fakepg.FakeServer(srv_behave) as srv:
        r, took = wait(env_for(srv), cmd="init", config_dir=config_dir)
    assert r.returncode == 77, r.stderr
    assert took < QUICK, (took, r.stderr)
    assert "PGBOUNCER_UPSTREAM_AUTH" in r.stderr, r.stderr
    assert received == []
    assert not (config_dir / "userlist.txt").exists()


def test_bad_value_is_refused_with_64():
    with fakepg.FakeServer(fakepg.lets_in) as srv:
        r, _ = wait(env_for(srv, PGBOUNCER_UPSTREAM_AUTH="md5,cleartext"))
    assert r.returncode == 64, r.stderr
    assert "PGBOUNCER_UPSTREAM_AUTH" in r.stderr


def test_help_and_readme_name_the_variable_and_the_lock():
    from utils import ROOT
    r = entrypoint(["--help"], {})
    readme = (ROOT / "README.md").read_text()
    commands = (ROOT / "docs/commands.md").read_text()
    daytwo = (ROOT / "docs/day-two.md").read_text()
    for word in ["PGBOUNCER_UPSTREAM_AUTH", "scram-sha-256", "md5", "password", "trust", "any"]:
        assert word in r.stdout, word
    assert "PGBOUNCER_UPSTREAM_AUTH" in readme and "### What the upstream may ask for" in commands
    assert "One writer at a time" in daytwo and "another writer held it" in r.stdout


@pytest.mark.parametrize("hidden", ["cleartext", "trust"])
def test_request_hidden_behind_the_answer_to_the_tls_request_is_refused(hidden):
    """'N' and an authentication request in one segment: libpq reads both,
    keeps the request in its buffer past the guard's look, and (before the
    fix) answered it with the password once any allowed byte came."""
    received = []

    def behave(conn, stop):
        p = fakepg.read_packet(conn)
        if not p or p[0] != fakepg.SSL_REQUEST:
            return
        follow = fakepg.auth(3) if hidden == "cleartext" else fakepg.auth(0) + fakepg.READY
        conn.sendall(b"N" + follow)
        if fakepg.read_packet(conn) is None:
            return
        time.sleep(0.05)
        conn.sendall(fakepg.auth(10, b"SCRAM-SHA-256\0\0"))
        conn.settimeout(2)
        try:
            while (m := fakepg.read_message(conn)):
                received.append(m[1])
        except OSError:
            pass

    with fakepg.FakeServer(behave) as srv:
        r, took = wait(env_for(srv))
    assert r.returncode == 77, r.stderr
    assert took < QUICK
    assert "one-byte answer to the TLS request" in r.stderr, r.stderr
    assert not password_seen(received) and received == []


def test_a_sasl_offer_of_a_prefix_of_scram_is_no_scram():
    with fakepg.FakeServer(lambda c, s: fakepg.startup(c) and c.sendall(
            fakepg.auth(10, b"SCRAM\0\0"))) as srv:
        r, took = wait(env_for(srv))
    assert r.returncode == 77 and took < QUICK, r.stderr
    assert "SASL mechanism other than SCRAM-SHA-256" in r.stderr


@pytest.mark.parametrize("hidden", ["cleartext", "trust"])
def test_request_hidden_inside_the_sasl_offer_is_refused(hidden):
    """libpq reads a SASL offer up to the empty name that ends the list and
    takes what follows inside the message as the next one; a guard that
    split by the declared length saw one allowed offer (found by an attack
    run: the password in clear, every retry)."""
    received = []
    inner = fakepg.auth(3) if hidden == "cleartext" else fakepg.auth(0) + fakepg.READY

    def behave(conn, stop):
        if not fakepg.startup(conn):
            return
        conn.sendall(fakepg.auth(10, b"SCRAM-SHA-256\0\0" + inner))
        conn.settimeout(2)
        try:
            while (m := fakepg.read_message(conn)):
                received.append(m[1])
        except OSError:
            pass

    with fakepg.FakeServer(behave) as srv:
        r, took = wait(env_for(srv))
    assert r.returncode == 77, r.stderr
    assert took < QUICK
    assert "hidden inside it" in r.stderr, r.stderr
    assert received == []


def test_too_few_iterations_are_refused_before_the_proof_is_sent():
    """A proof made with 1 iteration is cheap to guess the password from."""
    srv_behave = fakepg.ScramServer(PASSWORD, iterations=1)
    with fakepg.FakeServer(srv_behave) as srv:
        r, took = wait(env_for(srv))
        assert r.returncode == 77 and took < QUICK, r.stderr
        assert "between 4096 and 1000000" in r.stderr
        assert len(srv_behave.received) == 1  # the first message only, no proof
        r, _ = wait(env_for(srv, PGBOUNCER_UPSTREAM_AUTH="any"))
        assert r.returncode == 0, r.stderr
