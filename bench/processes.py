"""make bench, PGBOUNCER_PROCESSES (issue 20): one pgbouncer against N peered
ones on the same port, for the two workloads where pgbouncer's own CPU is
the limit: persistent connections with client TLS, and pooled logins (-C)
with the learned SCRAM secret.  Medians of interleaved runs, with pgbouncer
CPU per transaction summed over every process.  Replaces its section of
bench/results.md (bench.py writes the rest).  Asserts nothing."""
import os
import pathlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from utils import (BIN, ROOT, Postgres, as_run_user, base_env,  # noqa: E402
                   free_port, make_tls_files, process_env, run_user_ids, wait_port)

SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
REPS = int(os.environ.get("BENCH_REPS", "5"))
CLIENTS = 16
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
USER, DB, PASSWORD = "bench", "bench", "bench-pw-Zq7"
BEGIN, END = "<!-- processes: bench/processes.py -->", "<!-- /processes -->"


def log(msg):
    print(f"bench-processes: {msg}", file=sys.stderr, flush=True)


class Run:
    """`pgbouncer-entrypoint run` with PGBOUNCER_PROCESSES=N (the image's
    static pgbouncer), its log in WORK."""

    def __init__(self, work, name, pgbouncer, pg, n, tlsdir):
        self.port = free_port()
        self.dir = work / f"cfg-{name}"
        sock = work / f"sock-{name}"
        for d in (self.dir, sock):
            d.mkdir()
            os.chown(d, *run_user_ids())
        env = base_env(pg, USER, PASSWORD, DB, self.port, PGBOUNCER_PROCESSES=str(n),
                       PGBOUNCER_UNIX_SOCKET_DIR=str(sock), PGBOUNCER_POOL_MODE="transaction",
                       PGBOUNCER_LOG_CONNECTIONS="0", PGBOUNCER_LOG_DISCONNECTIONS="0",
                       PGBOUNCER_LOG_STATS="0", PGBOUNCER_MAX_CLIENT_CONN="700",
                       PGBOUNCER_DEFAULT_POOL_SIZE="20",
                       PGBOUNCER_CLIENT_TLS_SSLMODE="allow",
                       PGBOUNCER_CLIENT_TLS_KEY_FILE=str(tlsdir / "server.key"),
                       PGBOUNCER_CLIENT_TLS_CERT_FILE=str(tlsdir / "server.crt"))
        self.log = open(work / f"run-{name}.log", "w")
        self.proc = subprocess.Popen([str(BIN), "run", "--config-dir", str(self.dir), "--",
                                      str(pgbouncer), str(self.dir / "pgbouncer.ini")],
                                     env=process_env(env), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if not wait_port(self.port, 60):
            raise RuntimeError(f"{name} did not start: see {self.log.name}")
        time.sleep(0.5)  # every process listening
        self.n = len(self.pids())
        if isinstance(n, int) and self.n != n:
            raise RuntimeError(f"{name}: {self.n} pgbouncers, not {n}")

    def pids(self):
        """The pgbouncers: the children of the supervisor, or the process
        itself when pgbouncer was exec'd (N 1)."""
        kids = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        found = [int(p) for p in kids.read_text().split()] if kids.exists() else []
        return found or [self.proc.pid]

    def cpu_ns(self):
        return sum(int(pathlib.Path(f"/proc/{p}/schedstat").read_text().split()[0])
                   for p in self.pids())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def pgbench(port, args, sslmode):
    cmd = as_run_user([PGBENCH, "-n", "-S", "-h", "127.0.0.1", "-p", str(port), "-U", USER]
                      + args + ["-T", str(SECONDS), DB])
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "PGPASSWORD": PASSWORD,
           "PGSSLMODE": sslmode, "PGCONNECT_TIMEOUT": "10"}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=SECONDS + 120)
    m = re.search(r"^tps = ([\d.]+)", p.stdout, re.M)
    done = re.search(r"actually processed: (\d+)", p.stdout)
    if not m or not done:
        raise RuntimeError("pgbench failed:\n" + p.stdout + p.stderr)
    return float(m.group(1)), int(done.group(1))


def interleaved(runs, args, sslmode):
    """{name: (median tps, median pgbouncer CPU us per transaction)}."""
    tps = {n: [] for n in runs}
    cpu = {n: [] for n in runs}
    for r in range(REPS):
        for name, run in runs.items():
            before = run.cpu_ns()
            t, done = pgbench(run.port, args, sslmode)
            tps[name].append(t)
            cpu[name].append((run.cpu_ns() - before) / 1000 / max(done, 1))
            log(f"{name} rep {r + 1}: {t:.0f} tps, {cpu[name][-1]:.1f} us/txn")
    return {n: (statistics.median(tps[n]), statistics.median(cpu[n])) for n in runs}


def section(rows, auto_n):
    cores = len(os.sched_getaffinity(0))
    out = [BEGIN, "", "## Several pgbouncers on one port (`PGBOUNCER_PROCESSES`)", "",
           f"- {cores} CPUs; PostgreSQL, pgbench (-c{CLIENTS} -j2) and pgbouncer share them; "
           f"`auto` came to {auto_n} here; {SECONDS} s per run, median of {REPS} runs per "
           "variant, variants interleaved",
           "- pgbouncer CPU per transaction: every process's, summed", "",
           "| workload | variant | median | ratio to N=1 | goal | pgbouncer CPU per transaction |",
           "|---|---|---:|---|---|---:|"]
    out += rows + ["", END]
    return "\n".join(out)


def write(text):
    path = HERE / "results.md"
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        old = old.split(BEGIN)[0].rstrip("\n") + "\n" + old.split(END, 1)[1].lstrip("\n")
    path.write_text(old.rstrip("\n") + "\n\n" + text + "\n")


def main():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    static = ROOT / "build" / "pgbouncer"
    work = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-bench-procs-"))
    os.chmod(work, 0o755)
    runs, pg = {}, None
    try:
        bindir = work / "bin"
        bindir.mkdir()
        os.chmod(bindir, 0o755)
        pgb = bindir / "pgbouncer"
        shutil.copy2(static, pgb)
        tlsdir = make_tls_files(work / "tls")
        pg = Postgres(work / "pg")
        pg.extra_conf = "max_connections = 200\nshared_buffers = 64MB\n"
        pg.start()
        pg.add_user(USER, PASSWORD, DB)
        subprocess.run(as_run_user([PGBENCH, "-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p",
                                    str(pg.port), "-U", USER, DB]),
                       env=dict(os.environ, PGPASSWORD=PASSWORD), check=True,
                       capture_output=True, timeout=120)
        for name, n in (("N=1", 1), ("N=2", 2), ("auto", "auto")):
            runs[name] = Run(work, name.replace("=", ""), pgb, pg, n, tlsdir)
        auto_n = runs["auto"].n
        rows = []
        for label, args, sslmode, goal in (
                (f"persistent, client TLS: pgbench -S -c{CLIENTS}", ["-c", str(CLIENTS), "-j",
                                                                    "2"], "require", ">= 1.4x"),
                (f"pooled logins, learned secret: pgbench -C -S -c{CLIENTS}",
                 ["-C", "-c", str(CLIENTS), "-j", "2"], "disable", ">= 1.5x")):
            log(label)
            res = interleaved(runs, args, sslmode)
            base = res["N=1"][0]
            for i, (name, (t, c)) in enumerate(res.items()):
                rows.append(f"| {label if i == 0 else ''} | {name}"
                            f"{f' ({auto_n})' if name == 'auto' else ''} | {t:.0f} tps | "
                            f"{t / base:.2f}x | {goal if name == 'N=2' else ''} | {c:.0f} us |")
        text = section(rows, auto_n)
        print(text)
        write(text)
    finally:
        for r in runs.values():
            r.stop()
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
