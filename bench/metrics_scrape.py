"""make bench: what a scrape of `pgbouncer-entrypoint metrics` costs.

A real pgbouncer (Debian's, or the image's with PGBE_PGBOUNCER=static) in front
of PostgreSQL with 50 pools (50 databases, one client login each), `metrics`
on a free port: the median wall time of 100 sequential GET /metrics, and the
metrics process's resident memory (VmRSS after the scrapes, VmHWM its peak).
Also its CPU time per scrape, which a loaded machine disturbs less than wall
time (with its scrape workers').  Then 16 scrapes at once against the same
pgbouncer frozen with SIGSTOP: the median and the longest wait (each scrape
has its own 3 s, so about 3 s, not a queue of 16 x 3 s).  Prints numbers;
asserts nothing."""
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
from utils import BIN, Postgres, base_env, free_port, process_env, wait_port  # noqa: E402

POOLS = int(os.environ.get("BENCH_POOLS", "50"))
SCRAPES = int(os.environ.get("BENCH_SCRAPES", "100"))
CONCURRENT = 16


def proc_kb(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_ms(pid):
    """User + system CPU time of PID so far, with that of the children it
    has reaped (each scrape runs in a worker of its own)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")


def timed_scrape(url):
    """(seconds, body) of one GET URL; the body is None when it failed."""
    t = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read().decode()
    except OSError:
        body = None
    return time.monotonic() - t, body


def frozen_row(pgbouncer_pid, url):
    """16 scrapes at once while pgbouncer is stopped (SIGSTOP)."""
    os.kill(pgbouncer_pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(CONCURRENT) as ex:
            got = list(ex.map(lambda _: timed_scrape(url), range(CONCURRENT)))
    finally:
        os.kill(pgbouncer_pid, signal.SIGCONT)
    secs = [t for t, _ in got]
    down = sum(1 for _, body in got if body and "pgbouncer_up 0" in body)
    print(f"metrics, {CONCURRENT} concurrent scrapes, pgbouncer frozen (SIGSTOP): median "
          f"{statistics.median(secs):.2f} s, max {max(secs):.2f} s, {down} of {CONCURRENT} "
          f"answered pgbouncer_up 0")


def start(args, env):
    return subprocess.Popen([str(BIN)] + args, env=process_env(env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-bench-metrics-"))
    os.chmod(work, 0o777)
    cfg = work / "cfg"
    cfg.mkdir()
    os.chmod(cfg, 0o777)
    pg = Postgres(work / "pg")
    pg.start()
    pg.add_user("app", "pw")
    dbs = [f"db{i}" for i in range(POOLS)]
    for db in dbs:
        pg.sql(f'CREATE DATABASE "{db}" OWNER app')
    port = free_port()
    urls = ",".join(f"postgresql://app:pw@127.0.0.1:{pg.port}/{db}" for db in dbs)
    env = {k: v for k, v in base_env(pg, "app", "pw", "app", port).items()
           if not k.startswith("DB_")}
    env.update(DATABASE_URLS=urls, PGBOUNCER_UNIX_SOCKET_DIR=str(cfg))
    pool = start(["run", "--config-dir", str(cfg)], env)
    metrics = None
    try:
        if not wait_port(port, 120):
            raise RuntimeError("pgbouncer did not start")
        for db in dbs:  # one login per database: a pool each
            subprocess.run(["psql", "-X", "-Atq", "-h", "127.0.0.1", "-p", str(port), "-U", "app",
                            "-d", db, "-c", "select 1"], env=dict(os.environ, PGPASSWORD="pw"),
                           check=True, capture_output=True)
        mport = free_port()
        metrics = start(["metrics", "--config-dir", str(cfg), "--listen", f"127.0.0.1:{mport}"],
                        {"PGBOUNCER_RUN_USER": env["PGBOUNCER_RUN_USER"]})
        wait_port(mport, 10)
        url = f"http://127.0.0.1:{mport}/metrics"
        times, size, cpu0 = [], 0, cpu_ms(metrics.pid)
        for _ in range(SCRAPES):
            t = time.monotonic()
            with urllib.request.urlopen(url, timeout=30) as r:
                body = r.read()
            times.append((time.monotonic() - t) * 1000)
            size = len(body)
        cpu = (cpu_ms(metrics.pid) - cpu0) / SCRAPES
        pools = sum(1 for line in body.decode().splitlines()
                    if line.startswith("pgbouncer_pools_client_active_connections{"))
        up = "pgbouncer_up 1" in body.decode()
        print(f"metrics scrape, {pools} pools, {SCRAPES} scrapes: median "
              f"{statistics.median(times):.2f} ms, max {max(times):.2f} ms, "
              f"{size} bytes, pgbouncer_up {'1' if up else '0'}; CPU of the metrics process "
              f"{cpu:.2f} ms per scrape; load average {os.getloadavg()[0]:.1f}")
        print(f"metrics process memory: VmRSS {proc_kb(metrics.pid, 'VmRSS')} kB, "
              f"peak VmHWM {proc_kb(metrics.pid, 'VmHWM')} kB")
        frozen_row(pool.pid, url)  # `run` exec'd pgbouncer: the same process
    finally:
        for p in (metrics, pool):
            if p and p.poll() is None:
                p.send_signal(signal.SIGINT)
                p.wait(10)
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
