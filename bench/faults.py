"""make bench: how well the deadline and SIGTERM hold against a hostile network
(issue 8; targets <= 100 ms each).

1. Deadline overshoot: `wait --wait-timeout 2` against a port that accepts
   and never answers (and against a name server that never answers): exit
   time minus the 2 s (process start included, so an upper bound).
2. SIGTERM to exit during a blocked login (black-holed port, half-open TLS,
   unanswered name lookup): from the signal until the process is reaped.
3. The SCRAM iteration cap (issue 16): a server asking for 2^31-1
   iterations is refused before any PBKDF2 (time to exit 77); at the cap
   itself (1,000,000) libpq computes it, and SIGTERM then waits for it.
Prints medians; asserts nothing (numbers, not tests)."""
import os
import pathlib
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import fakepg  # noqa: E402
from utils import BIN, base_env, free_port, process_env  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "9"))
TIMEOUT = 2


def env_for(host, port):
    return process_env(base_env(type("S", (), {"host": host, "port": port})(),
                                "app", "pw", "app", free_port()))


def reap(p):
    """Popen.wait() without a timeout blocks in waitpid (exact); a watchdog
    kills a process that would hang the bench."""
    guard = threading.Timer(60, p.kill)
    guard.start()
    p.wait()
    guard.cancel()


def own_dns_namespace(work, dns):
    """unshare + bind mounts: this process's lookups go to the silent DNS."""
    hosts, resolv = work / "hosts", work / "resolv.conf"
    hosts.write_text("127.0.0.1 localhost\n")
    resolv.write_text(f"nameserver {dns.addr}\noptions timeout:30 attempts:1\n")
    for f in (hosts, resolv):
        os.chmod(f, 0o644)
    return ["unshare", "-m", "--", "sh", "-c",
            f"mount --bind {hosts} /etc/hosts && mount --bind {resolv} /etc/resolv.conf && "
            'exec "$@"', "sh"]


def overshoot(prefix, host, port):
    t = time.monotonic()
    p = subprocess.Popen(prefix + [str(BIN), "wait", "--wait-timeout", str(TIMEOUT)],
                         env=env_for(host, port), stderr=subprocess.DEVNULL)
    reap(p)
    return (time.monotonic() - t - TIMEOUT) * 1000


def sigterm(prefix, host, port, count):
    """COUNT(): connections or queries the fake has seen; one more = blocked."""
    before = count()
    p = subprocess.Popen(prefix + [str(BIN), "wait", "--wait-timeout", "60"],
                         env=env_for(host, port), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while count() == before and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.uniform(0.2, 0.5))
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    reap(p)
    return (time.monotonic() - t) * 1000


def refused_after(host, port):
    t = time.monotonic()
    p = subprocess.Popen([str(BIN), "wait", "--wait-timeout", "30"],
                         env=env_for(host, port), stderr=subprocess.DEVNULL)
    reap(p)
    return (time.monotonic() - t) * 1000


def report(what, ms):
    print(f"{what}, {len(ms)} runs: median {statistics.median(ms):.1f} ms, "
          f"max {max(ms):.1f} ms (target <= 100 ms)")


def main(report=report):
    """REPORT(what, ms) receives each measurement (bench.py puts them in its table)."""
    work = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-bench-faults-"))
    with fakepg.FakeServer(fakepg.black_hole) as hole, \
            fakepg.FakeServer(fakepg.half_open_tls) as half:
        report("deadline overshoot, black-holed port",
               [overshoot([], hole.host, hole.port) for _ in range(RUNS)])
        report("SIGTERM -> exit, login blocked on a black-holed port",
               [sigterm([], hole.host, hole.port, lambda: hole.accepted) for _ in range(RUNS)])
        report("SIGTERM -> exit, TLS handshake blocked (half-open TLS)",
               [sigterm([], half.host, half.port, lambda: half.accepted) for _ in range(RUNS)])
    huge = fakepg.ScramServer("pw", iterations=2**31 - 1)
    with fakepg.FakeServer(huge) as srv:
        report("SCRAM iteration count 2^31-1: wait refused it (77) after",
               [refused_after(srv.host, srv.port) for _ in range(RUNS)])
    cap = fakepg.ScramServer("pw", iterations=1_000_000)
    with fakepg.FakeServer(cap) as srv:
        report("SIGTERM -> exit, during libpq's PBKDF2 at the cap (1,000,000)",
               [sigterm([], srv.host, srv.port, lambda: len(cap.received)) for _ in range(RUNS)])
    dns = fakepg.FakeDNS(silent=True)
    ns = own_dns_namespace(work, dns)
    report("deadline overshoot, name server never answers",
           [overshoot(ns, "db.pgbe.test", 5432) for _ in range(RUNS)])
    report("SIGTERM -> exit, name lookup blocked",
           [sigterm(ns, "db.pgbe.test", 5432, lambda: dns.queries) for _ in range(RUNS)])
    dns.close()
    subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
