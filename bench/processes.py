"""make bench, PGBOUNCER_PROCESSES (issue 20): one pgbouncer against N peered
ones on the same port, for the two workloads where pgbouncer's own CPU is
the limit: persistent connections with client TLS, and pooled logins (-C)
with the learned SCRAM secret, each driven by pgbench and by the lean
client (bench/loadgen.c).  Medians of interleaved runs, with the CPU per
transaction of pgbouncer (every process summed), PostgreSQL and the client,
and from them the most a second process can add on this machine's cores.
Replaces its section of bench/results.md (bench.py writes the rest).
Asserts nothing."""
import os
import pathlib
import re
import resource
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
LOADGEN = ROOT / "build" / "loadgen"
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


def postgres_cpu_ns(pg):
    """PostgreSQL's CPU: the postmaster's and every child's (the pool's
    server connections stay open through a run, so none is lost)."""
    pid = int((pathlib.Path(pg.dir) / "postmaster.pid").read_text().split()[0])
    kids = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for p in [pid] + [int(k) for k in kids]:
        try:
            total += int(pathlib.Path(f"/proc/{p}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def client(cmd, env):
    """Run one client to its end: (its stdout, the CPU seconds it used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(as_run_user(cmd), env=env, capture_output=True, text=True,
                       timeout=SECONDS + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n" + p.stdout + p.stderr)
    return p.stdout, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def client_env(sslmode="disable"):
    return {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "PGPASSWORD": PASSWORD,
            "PGSSLMODE": sslmode, "PGCONNECT_TIMEOUT": "10"}


def pgbench(port, per_login, tls):
    """pgbench -S: (tps, transactions, client CPU seconds)."""
    out, cpu = client([PGBENCH, "-n", "-S", "-h", "127.0.0.1", "-p", str(port), "-U", USER,
                       "-c", str(CLIENTS), "-j", "2"] + (["-C"] if per_login else [])
                      + ["-T", str(SECONDS), DB], client_env("require" if tls else "disable"))
    m = re.search(r"^tps = ([\d.]+)", out, re.M)
    done = re.search(r"actually processed: (\d+)", out)
    if not m or not done:
        raise RuntimeError("pgbench printed no tps:\n" + out)
    return float(m.group(1)), int(done.group(1)), cpu


def lean(port, per_login, tls):
    """bench/loadgen (the lean client): (tps, transactions, client CPU seconds)."""
    out, _ = client([LOADGEN, "-h", "127.0.0.1", "-p", str(port), "-U", USER, "-d", DB,
                     "-c", str(CLIENTS), "-T", str(SECONDS)]
                    + (["-C"] if per_login else []) + (["-s"] if tls else []), client_env())
    got = dict(line.split(" ", 1) for line in out.split("\n") if " " in line)
    done = int(got["transactions"])
    # its own figure covers the timed window only, not its untimed first
    # logins (a PBKDF2 and a TLS handshake per thread)
    return float(got["tps"]), done, float(got["cpu_us_per_transaction"]) * done / 1e6


def interleaved(runs, pg, drive, per_login, tls):
    """{name: medians (tps, pgbouncer, PostgreSQL, client CPU us per transaction)}."""
    got = {n: [] for n in runs}
    for r in range(REPS):
        for name, run in runs.items():
            b0, p0 = run.cpu_ns(), postgres_cpu_ns(pg)
            t, done, c = drive(run.port, per_login, tls)
            done = max(done, 1)
            row = (t, (run.cpu_ns() - b0) / 1000 / done,
                   (postgres_cpu_ns(pg) - p0) / 1000 / done, c * 1e6 / done)
            got[name].append(row)
            log(f"{name} rep {r + 1}: {t:.0f} tps, us/txn pgbouncer {row[1]:.1f} "
                f"PostgreSQL {row[2]:.1f} client {row[3]:.1f}")
    return {n: tuple(statistics.median(v[i] for v in got[n]) for i in range(4)) for n in runs}


def ceiling(cores, tps1, b, p, c):
    """The most N=2 can reach over N=1's TPS1 on CORES shared by all three:
    it cannot use more than every core, at its own CPU per transaction
    (b + p + c, measured at N=2), nor serve more than 1/b per process."""
    return min(2 / b, cores / (b + p + c)) * 1e6 / tps1


def section(rows, auto_n, cores, scaling):
    out = [BEGIN, "", "## Several pgbouncers on one port (`PGBOUNCER_PROCESSES`)", "",
           f"- {cores} CPUs; PostgreSQL, the client (-c{CLIENTS}) and pgbouncer share them; "
           f"`auto` came to {auto_n} here; {SECONDS} s per run, median of {REPS} runs per "
           "variant, variants interleaved",
           "- CPU per transaction: pgbouncer's (every process's, summed), PostgreSQL's "
           "(postmaster and backends), the client's",
           "- clients: pgbench -S (-j2), and the lean client bench/loadgen.c (one blocking "
           "thread per connection, pgbench -S's select; with -C it keeps the SCRAM salted "
           "password after its first login, where libpq runs the PBKDF2 at every login)",
           "- ceiling: the most N=2 can reach over N=1 on these cores: min(2/b, "
           "cores/(b+p+c)) over N=1's tps, with b, p, c the CPU per transaction of "
           "pgbouncer, PostgreSQL and the client at N=2 (it cannot use more than every core)",
           "",
           "| workload | variant | median | ratio to N=1 | goal | ceiling | CPU per transaction "
           "(pgbouncer / PostgreSQL / client) |",
           "|---|---|---:|---|---|---|---:|"]
    out += rows + [""] + scaling + ["", END]
    return "\n".join(out)


def scaling_note(per_process, needs, cores):
    """How many cores the goals need when PostgreSQL and the client share
    them, and what N processes on cores of their own should give, from the
    measured growth of pgbouncer's CPU per transaction from N=1 to N=2."""
    lines = ["Cores the goal needs when PostgreSQL and the client run beside the pool. "
             "Here: R times N=1's tps at N=2's CPU per transaction (b+p+c) is R x tps x "
             "(b+p+c) of CPU a second. In general: one pgbouncer serves at most 1/b "
             "transactions a second, so for it to be what limits and a second one to give "
             "R, the machine needs R x (b+p+c)/b cores (b, p, c of N=1, if pgbouncer's CPU "
             "per transaction stays at N=1's; it grew at N=2 here, see below, and two "
             "processes then top out at 2 x b(N=1)/b(N=2)).", ""]
    for label, one, two, goal in needs:
        here = goal * one[0] * sum(two[1:]) / 1e6
        lines.append(f"- {label}: pgbouncer {100 * one[1] / sum(one[1:]):.0f} % of the CPU "
                     f"per transaction; {goal:.1f}x needs {here:.1f} cores here "
                     f"({cores} exist); in general {goal * sum(one[1:]) / one[1]:.1f} cores "
                     f"for {goal:.1f}x, {2 * sum(one[1:]) / one[1]:.1f} for 2x")
    lines += ["", "What to expect on 8 and 16 cores, with the clients and PostgreSQL on "
              "other machines (as in production): each pgbouncer is then limited by its own "
              "core, so N processes serve about N x (CPU per transaction at N=1) / (at N); "
              "with the per-process cost measured at N=2 here:", ""]
    for label, (b1, b2) in per_process.items():
        r = b2 / b1
        lines.append(f"- {label}: {b1:.0f} us at N=1, {b2:.0f} us at N=2 ({r:.2f}x): "
                     f"8 cores about {8 / r:.1f}x, 16 cores about {16 / r:.1f}x")
    lines += ["", "The cost per transaction grows with N where processes share a core with "
              "PostgreSQL and the client (caches, more switches between processes); on "
              "cores of their own it should stay near N=1's, so these are the low end. "
              "so_reuseport spreads connections by a hash of the address pair, not by "
              "load, so with few long-lived connections one process can get more than "
              "its share."]
    return lines


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
        global LOADGEN  # run as the run user, which may not reach the checkout
        LOADGEN = shutil.copy2(LOADGEN, bindir / "loadgen")
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
        cores = len(os.sched_getaffinity(0))
        rows, per_process, needs = [], {}, []
        for label, drive, per_login, tls, goal in (
                (f"persistent, client TLS: pgbench -S -c{CLIENTS}", pgbench, False, True,
                 ">= 1.4x"),
                (f"persistent, client TLS: lean client -c{CLIENTS}", lean, False, True,
                 ">= 1.4x"),
                (f"pooled logins, learned secret: pgbench -C -S -c{CLIENTS}", pgbench, True,
                 False, ">= 1.5x"),
                (f"pooled logins, learned secret: lean client -C -c{CLIENTS}", lean, True,
                 False, ">= 1.5x"),
                (f"pooled logins, learned secret, client TLS: lean client -C -s -c{CLIENTS}",
                 lean, True, True, ">= 1.5x")):
            log(label)
            res = interleaved(runs, pg, drive, per_login, tls)
            base = res["N=1"]
            if drive is lean:
                per_process[label.split(":")[0]] = (base[1], res["N=2"][1])
            needs.append((label, base, res["N=2"], float(goal.split()[1][:-1])))
            for i, (name, (t, b, p, c)) in enumerate(res.items()):
                most = (f"{ceiling(cores, base[0], b, p, c):.2f}x" if name == "N=2" else "")
                rows.append(f"| {label if i == 0 else ''} | {name}"
                            f"{f' ({auto_n})' if name == 'auto' else ''} | {t:.0f} tps | "
                            f"{t / base[0]:.2f}x | {goal if name == 'N=2' else ''} | {most} | "
                            f"{b:.0f} / {p:.0f} / {c:.0f} us |")
        text = section(rows, auto_n, cores, scaling_note(per_process, needs, cores))
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
