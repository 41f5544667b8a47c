"""make bench: how fast the entrypoint notices the upstream and how fast it stops.

1. Detection latency: PostgreSQL is started at a random moment while
   `pgbouncer-entrypoint run -- date` waits for it.  Latency = exec time of the
   COMMAND minus the server's "ready to accept connections" log timestamp
   (both CLOCK_REALTIME, millisecond resolution).  Target: median <= 100 ms.
2. Stop latency: SIGTERM during the wait until the process has exited.
Prints medians; asserts nothing (numbers, not tests)."""
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import pathlib
from datetime import datetime

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
from utils import BIN, Postgres, base_env, free_port  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def ready_time(log):
    for line in log.read_text().splitlines():
        if "ready to accept connections" in line:
            stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})", line).group(1)
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    raise RuntimeError("no ready line in " + str(log))


def detection(pg, work):
    lat = []
    for i in range(RUNS):
        log = work / f"pg-{i}.log"
        env = dict(base_env(pg, "app", "pw", "app", free_port()), PATH=os.environ["PATH"],
                   TZ="UTC")
        p = subprocess.Popen([str(BIN), "run", "--config-dir", str(work / f"cfg{i}"),
                              "--", "date", "-u", "+%s.%N"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(random.uniform(0.2, 1.0))
        pg.ctl("start", "-w", "-l", str(log), "-o", "-c log_line_prefix='%m ' -c log_timezone=UTC")
        out, _ = p.communicate(timeout=60)
        lat.append((float(out.strip()) - ready_time(log)) * 1000)
        pg.ctl("stop", "-m", "fast")
    return lat


def stop_latency(work):
    lat = []
    for i in range(RUNS):
        env = dict(base_env(type("X", (), {"host": "127.0.0.1", "port": free_port()})(),
                            "app", "pw", "app", free_port()), PATH=os.environ["PATH"])
        p = subprocess.Popen([str(BIN), "wait", "--wait-timeout", "60"], env=env,
                             stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.2, 0.6))
        t = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        lat.append((time.monotonic() - t) * 1000)
    return lat


def measure(work):
    """Both measurements on a fresh cluster under WORK: (detection, stop) in ms."""
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o777)
    pg = Postgres(work / "pg")
    pg.start()
    try:
        pg.add_user("app", "pw", "app")
        pg.ctl("stop", "-m", "fast")
        return detection(pg, work), stop_latency(work)
    finally:
        pg.stop()


def main():
    d, s = measure(pathlib.Path(tempfile.mkdtemp(prefix="pgbe-bench-")))
    print(f"detection latency (upstream ready -> exec), {RUNS} runs: median "
          f"{statistics.median(d):.1f} ms, min {min(d):.1f}, max {max(d):.1f} (target <= 100 ms)")
    print(f"SIGTERM during wait -> exit, {RUNS} runs: median {statistics.median(s):.1f} ms, "
          f"max {max(s):.1f} ms (target well under 100 ms)")


if __name__ == "__main__":
    main()
