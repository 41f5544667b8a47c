"""metrics under load (issue 16 part 5): every scrape is answered on its own;
a frozen pgbouncer costs each scrape at most its own timeout, never a queue;
clients that send nothing never cost a scrape whose request has arrived; out
of file descriptors it rests instead of spinning; listen and timeout values
are parsed strictly."""
import os
import pathlib
import resource
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from utils import entrypoint, free_port, record_output
from test_metrics import Pool, idle_client, metrics, value  # noqa: F401 (a fixture)

REQUEST = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


def answer_of(s, timeout):
    """The whole answer on socket S (the server closes after it): (status,
    body), or (None, what happened instead)."""
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except OSError as e:
        return None, f"{e!r} after {len(data)} bytes"
    text = data.decode(errors="replace")
    record_output(text)  # the secrets audit (conftest)
    head, _, body = text.partition("\r\n\r\n")
    if not head.startswith("HTTP/1.1 "):
        return None, f"no answer: {text[:100]!r}"
    return int(head.split(" ", 2)[1]), body


def get(port, timeout=10):
    """One GET /metrics, as answer_of.  10 s: Prometheus's scrape_timeout."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(REQUEST)
            return answer_of(s, timeout)
    except OSError as e:
        return None, repr(e)


def cpu_seconds(pid):
    """User + system CPU time of PID so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_16_concurrent_scrapes_of_a_frozen_pgbouncer_all_answer_up_0_within_5_s(
        pg, config_dir, running, metrics):
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    assert value(m.scrape(), "pgbouncer_up") == 1
    os.kill(pool.r.proc.pid, signal.SIGSTOP)  # accepts on its socket, never answers
    try:
        start = time.monotonic()
        with ThreadPoolExecutor(16) as ex:
            answers = list(ex.map(lambda _: get(m.port), range(16)))
        took = time.monotonic() - start
    finally:
        os.kill(pool.r.proc.pid, signal.SIGCONT)
    for status, body in answers:
        assert status == 200, body
        assert value(body, "pgbouncer_up") == 0
    # each scrape has its own 3 s: side by side, not one after the other
    assert took < 5, f"16 scrapes took {took:.1f} s"
    assert value(m.scrape(), "pgbouncer_up") == 1


def test_50_scrapes_among_bursts_of_idle_connections_all_get_answers(pg, config_dir, running,
                                                                      metrics):
    pool = Pool(pg, config_dir, running)
    m = metrics(config_dir, pool.env)
    scrapes, crowd = [], []
    try:
        for _ in range(10):
            for _ in range(5):
                s = socket.create_connection(("127.0.0.1", m.port), timeout=10)
                s.sendall(REQUEST)  # the request is in before the burst comes
                scrapes.append(s)
            crowd += [socket.create_connection(("127.0.0.1", m.port), timeout=10)
                      for _ in range(17)]
        answers = [answer_of(s, 15) for s in scrapes]
    finally:
        for s in scrapes + crowd:
            s.close()
    lost = [a for a in answers if a[0] != 200 or "pgbouncer_up 1" not in a[1]]
    assert not lost, f"{len(lost)} of 50 scrapes lost, the first: {lost[0]}"
    assert m.proc.poll() is None


@pytest.mark.parametrize("when", ["low-limit", "inherited-descriptors"])
def test_out_of_file_descriptors_it_rests_instead_of_spinning_then_serves_again(
        config_dir, metrics, when):
    """low-limit: RLIMIT_NOFILE 16 from the start.  inherited-descriptors: a
    limit that looks roomy (40) but every descriptor number up to 26 already
    taken when it starts, so accept() itself runs out (EMFILE): prlimit on
    the running process would need CAP_SYS_RESOURCE, which a test container
    lacks.  The numbers are filled in the child itself: descriptors passed
    from pytest keep pytest's numbers, which may lie above the limit, where
    they take nothing from it."""
    limit = (16, 16) if when == "low-limit" else (40, 40)
    # no pgbouncer: pgbouncer_up 0
    if when == "low-limit":
        m = metrics(config_dir, {},
                    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit))
    else:
        # a wrapper that execs the binary with descriptors 3 to 26 open: filled
        # after the wrapper's own exec, where nothing of pytest's is left
        fill = ("import os, resource, sys\n"
                "null = os.open('/dev/null', os.O_RDONLY)\n"
                "for fd in range(3, 27):\n"
                "    if fd != null:\n"
                "        os.dup2(null, fd, inheritable=True)\n"
                "os.set_inheritable(null, True)\n"
                f"resource.setrlimit(resource.RLIMIT_NOFILE, {limit})\n"
                "os.execv(sys.argv[1], sys.argv[1:])\n")
        m = metrics(config_dir, {}, prefix=(sys.executable, "-c", fill))
    crowd = [idle_client(m.port) for _ in range(40)]  # more than its descriptors hold
    try:
        time.sleep(0.5)  # it has taken what it can
        cpu, start = cpu_seconds(m.proc.pid), time.monotonic()
        time.sleep(2)
        share = (cpu_seconds(m.proc.pid) - cpu) / (time.monotonic() - start)
        assert share < 0.3, f"{share:.0%} of a CPU with {len(crowd)} clients waiting"
    finally:
        for s in crowd:
            s.close()
    status, body = get(m.port)
    assert status == 200 and value(body, "pgbouncer_up") == 0, body
    assert m.proc.poll() is None
    if when == "inherited-descriptors":  # the case is what it says: accept() ran out
        assert "could not accept a connection: No file descriptors available" in m.output()


@pytest.mark.parametrize("args,env,named", [
    ([], {"PGBOUNCER_METRICS_LISTEN": ": 19199"}, "PGBOUNCER_METRICS_LISTEN"),
    ([], {"PGBOUNCER_METRICS_LISTEN": "127.0.0.1:19199 "}, "PGBOUNCER_METRICS_LISTEN"),
    ([], {"PGBOUNCER_METRICS_LISTEN": ":+19199"}, "PGBOUNCER_METRICS_LISTEN"),
    ([], {"PGBOUNCER_METRICS_LISTEN": " 127.0.0.1:19199"}, "PGBOUNCER_METRICS_LISTEN"),
    (["--listen", ": 19199"], {}, "--listen"),
    ([], {"PGBOUNCER_WAIT_TIMEOUT": " 20"}, "PGBOUNCER_WAIT_TIMEOUT"),
    ([], {"PGBOUNCER_WAIT_TIMEOUT": "+20"}, "PGBOUNCER_WAIT_TIMEOUT"),
    ([], {"PGBOUNCER_WAIT_TIMEOUT": "20 "}, "PGBOUNCER_WAIT_TIMEOUT"),
    (["--wait-timeout", " 20"], {}, "--wait-timeout"),
    (["--timeout= 20"], {}, "--timeout"),
], ids=["listen-space-port", "listen-trailing-space", "listen-plus", "listen-leading-space",
        "listen-option", "timeout-leading-space", "timeout-plus", "timeout-trailing-space",
        "wait-timeout-option", "timeout-option"])
def test_listen_and_timeout_values_with_spaces_or_signs_are_refused_naming_them(
        config_dir, args, env, named):
    env = {"PGBOUNCER_METRICS_LISTEN": f"127.0.0.1:{free_port()}", **env}
    try:
        p = entrypoint(["metrics", "--config-dir", str(config_dir)] + args, env, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{args} {env} was accepted: metrics started serving")
    assert p.returncode == 64, p.stderr
    assert named in p.stderr, p.stderr
