"""make bench: what the pool is worth, what it costs, and what the entrypoint
costs, in medians and ratios measured in this one run.  Prints one table and
writes it to bench/results.md.  Asserts nothing: numbers, not tests.

Everything runs on loopback, as the unprivileged postgres account; every
server, proxy and temporary directory this starts is stopped or removed on
exit.  BENCH_SECONDS (per pgbench run, default 6) and BENCH_REPS (runs per
variant, interleaved, default 5) scale the whole to about ten minutes;
BENCH_RUNS the entrypoint timings (default 15).  BENCH_MORE_PGBOUNCERS adds
builds to the musl-vs-glibc comparison."""
import json
import os
import pathlib
import platform
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
sys.path.insert(0, str(HERE))
from utils import (BIN, ROOT, Postgres, as_run_user,  # noqa: E402
                      base_env, free_port, make_tls_files, process_env, run_user_ids,
                      wait_port)
import faults  # noqa: E402
import wait_latency  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
REPS = int(os.environ.get("BENCH_REPS", "5"))
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
LINK_MS = 5                     # one way
CLIENTS = 8
MANY = 500                      # the max_connections test
MANY_QUERIES = 20
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
USER, DB, PASSWORD = "bench", "bench", "bench-pw-Zq7"
BINARIES = {"musl": ROOT / "build" / "pgbouncer",
            "glibc": ROOT / "build" / "deps-host" / "bin" / "pgbouncer"}
# BENCH_MORE_PGBOUNCERS="name=/path,...": more builds to compare with musl
# (e.g. one without mimalloc)
for _spec in filter(None, os.environ.get("BENCH_MORE_PGBOUNCERS", "").split(",")):
    BINARIES[_spec.split("=", 1)[0]] = pathlib.Path(_spec.split("=", 1)[1])


def others():
    """The builds the image's musl pgbouncer is compared with."""
    return [f for f in bins if f != "musl"]

rows = []                       # (workload, variant, value, unit, ratio, target, cpu)
cpu_us = {}                     # variant -> pgbouncer CPU per transaction, last workload
faults_per_txn = {}             # variant -> pgbouncer minor page faults per transaction
cleanups = []


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def row(workload, variant, value, unit, ratio="", target="", key=None):
    """KEY: the variant whose pgbouncer CPU per transaction goes with it."""
    cpu = (f"{cpu_us[key]:.0f} us, {faults_per_txn[key]:.3f} page faults"
           if key in cpu_us else "")
    rows.append((workload, variant, value, unit, ratio, target, cpu))


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- servers

class Pool:
    """One pgbouncer on a config the entrypoint rendered (`init`, which logs in
    to the upstream first).  FORM = (userlist, settings): the userlist text to
    put in place of what init wrote (None: keep init's), and settings for init
    (the plaintext option)."""

    def __init__(self, work, name, binary, upstream_port, form=(None, {}), **settings):
        userlist, extra = form
        settings = dict(settings, **extra)
        self.name, self.port = name, free_port()
        self.dir = work / f"cfg-{name}"
        self.dir.mkdir()
        uid, gid = run_user_ids()
        os.chown(self.dir, uid, gid)
        env = base_env(type("U", (), {"host": "127.0.0.1", "port": upstream_port})(),
                       USER, PASSWORD, DB, self.port, PGBOUNCER_POOL_MODE="transaction",
                       PGBOUNCER_LOG_CONNECTIONS="0", PGBOUNCER_LOG_DISCONNECTIONS="0",
                       PGBOUNCER_LOG_STATS="0", PGBOUNCER_MAX_CLIENT_CONN="700",
                       PGBOUNCER_DEFAULT_POOL_SIZE="20", **settings)
        p = subprocess.run([str(BIN), "init", "--config-dir", str(self.dir)],
                           env=process_env(env), capture_output=True, text=True, timeout=90)
        if p.returncode:
            raise RuntimeError(f"init for {name} failed: {p.stderr}")
        self.written = (self.dir / "userlist.txt").read_text()
        if extra and "SCRAM-SHA-256$" in self.written:
            raise RuntimeError(f"{name}: init wrote a secret where plaintext was asked")
        if userlist is not None:
            ul = self.dir / "userlist.txt"
            ul.write_text(userlist)
            os.chown(ul, uid, gid)
            os.chmod(ul, 0o600)
        self.log = open(work / f"pgbouncer-{name}.log", "w")
        self.proc = subprocess.Popen(as_run_user([binary, self.dir / "pgbouncer.ini"]),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        cleanups.append(self.stop)
        if not wait_port(self.port):
            raise RuntimeError(f"pgbouncer {name} did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_proxy(target_port):
    """The link: a delaying proxy, which needs no kernel support."""
    port = free_port()
    p = subprocess.Popen([sys.executable, str(HERE / "delay_proxy.py"), str(port),
                          "127.0.0.1", str(target_port), str(LINK_MS)],
                         stdout=subprocess.PIPE, text=True)
    cleanups.append(lambda: (p.terminate(), p.wait(10)))
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("delay proxy did not start")
    return port


def runnable(path, work, flavour):
    """A copy the postgres account can execute (the checkout may be closed to it)."""
    d = work / "bin" / flavour
    d.mkdir(parents=True)
    os.chmod(d.parent, 0o755)
    os.chmod(d, 0o755)
    shutil.copy2(path, d / "pgbouncer")
    return d / "pgbouncer"


def netem_available():
    """tc netem in a namespace of our own; False when the kernel lacks it."""
    ns = f"pgbe-bench-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode:
        return False
    try:
        return subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo",
                               "root", "netem", "delay", "1ms"],
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# ---------------------------------------------------------------- pgbench

def pgbench_cmd(port, *args):
    return as_run_user([PGBENCH, "-n", "-S", "-h", "127.0.0.1", "-p", str(port), "-U", USER]
                       + [str(a) for a in args] + [DB])


def pgbench_env(sslmode):
    # HOME: root's ~/.postgresql is closed to the postgres account
    return {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "PGPASSWORD": PASSWORD,
            "PGSSLMODE": sslmode, "PGCONNECT_TIMEOUT": "10"}


def pgbench(port, *args, sslmode="disable", seconds=SECONDS):
    return subprocess.run(pgbench_cmd(port, *args, "-T", seconds), env=pgbench_env(sslmode),
                          capture_output=True, text=True, timeout=seconds + 120)


def tps(p):
    m = re.search(r"^tps = ([\d.]+)", p.stdout, re.M)
    if not m:
        raise RuntimeError("pgbench failed:\n" + p.stdout + p.stderr)
    return float(m.group(1))


def cpu_ns(pid):
    """CPU time PID has used (pgbouncer has one thread)."""
    return int(pathlib.Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def minflt(pid):
    """Minor page faults of PID: memory the allocator gave back and took again."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[7])


def interleaved(variants, args):
    """VARIANTS: {name: (port, sslmode, Pool or None)}; REPS rounds, each
    variant once per round, so drift hits all alike.  Returns {name: median
    tps} and sets cpu_us[name]: median pgbouncer CPU per transaction, which
    load from other processes on the machine disturbs less than tps, and
    faults_per_txn[name]: minor page faults per transaction (the allocator)."""
    out = {n: [] for n in variants}
    cpu = {n: [] for n in variants}
    faults = {n: [] for n in variants}
    for r in range(REPS):
        for name, (port, sslmode, pool) in variants.items():
            before = (cpu_ns(pool.proc.pid), minflt(pool.proc.pid)) if pool else (0, 0)
            p = pgbench(port, *args, sslmode=sslmode)
            out[name].append(tps(p))
            done = int(re.search(r"actually processed: (\d+)", p.stdout).group(1))
            if pool and done:
                cpu[name].append((cpu_ns(pool.proc.pid) - before[0]) / 1000 / done)
                faults[name].append((minflt(pool.proc.pid) - before[1]) / done)
            log(f"{name} rep {r + 1}: {out[name][-1]:.1f} tps"
                + (f", pgbouncer {cpu[name][-1]:.1f} us/txn" if cpu[name] else ""))
    cpu_us.clear()
    cpu_us.update({n: median(v) for n, v in cpu.items() if v})
    faults_per_txn.clear()
    faults_per_txn.update({n: median(v) for n, v in faults.items() if v})
    return {n: median(v) for n, v in out.items()}


# ---------------------------------------------------------------- workloads

def userlist_forms(pg, written):
    """(learned, plaintext, source): the two userlist forms as Pool FORMs.
    When `init` writes the server's own SCRAM secret (it did in WRITTEN), both
    are the entrypoint's own output, the plaintext one by its
    PGBOUNCER_USERLIST_PLAINTEXT; before that, the secret is read from
    pg_authid and the plaintext userlist is init's."""
    secret = pg.sql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{USER}'")
    if not secret.startswith("SCRAM-SHA-256$"):
        raise RuntimeError("the server does not store a SCRAM secret")
    if "SCRAM-SHA-256$" in written:
        if secret not in written:
            raise RuntimeError("init wrote a SCRAM secret that is not the server's")
        return ((None, {}), (None, {"PGBOUNCER_USERLIST_PLAINTEXT": "1"}),
                "written by `pgbouncer-entrypoint init` (plaintext: its "
                "PGBOUNCER_USERLIST_PLAINTEXT=1)")
    return ((f'"{USER}" "{secret}"\n', {}), (None, {}),
            "read from pg_authid (init still writes plaintext)")


def compare(w, res, key, label):
    """Rows for the builds the musl one is compared with, on variant KEY
    ("musl ..." in RES): tps ratio, and pgbouncer CPU per transaction."""
    for f in others():
        other = key.replace("musl", f, 1)
        text = f"musl/{f} {res[key] / res[other]:.3f}x"
        if key in cpu_us and other in cpu_us:
            text += f" (CPU/txn {cpu_us[key] / cpu_us[other]:.2f}x)"
        row(w, label.replace("musl", f), res[other], "tps", text,
            ">= 0.95x" if f == "glibc" else "", other)


def bench_logins(work, pg, plain, learned):
    log("pooled logins, loopback")
    variants = {"direct": (pg.port, "disable", None)}
    for flavour, binary in bins.items():
        for kind, userlist in (("learned", learned), ("plaintext", plain)):
            pool = Pool(work, f"lo-{flavour}-{kind}", binary, pg.port, userlist)
            variants[f"{flavour} {kind}"] = (pool.port, "disable", pool)
    res = interleaved(variants, ["-C", "-c", CLIENTS, "-j", 2])
    w = f"pooled logins, loopback: pgbench -C -S -c{CLIENTS}"
    row(w, "direct to PostgreSQL", res["direct"], "tps")
    for kind in ("plaintext", "learned"):
        key = f"musl {kind}"
        row(w, f"pool (musl), {kind} userlist", res[key], "tps",
            f"{res[key] / res['direct']:.2f}x direct", "", key)
    row(w, "learned / plaintext (musl)", None, "",
        f"{res['musl learned'] / res['musl plaintext']:.2f}x", ">= 1.2x")
    for kind in ("plaintext", "learned"):
        compare(w, res, f"musl {kind}", f"pool (musl), {kind} userlist")
    for _, _, pool in variants.values():
        if pool:
            pool.stop()
    return variants["musl learned"][2].written


def bench_link(work, pg, plain, learned):
    log("pooled logins across the link")
    proxy = start_proxy(pg.port)
    tls = {"PGBOUNCER_SERVER_TLS_SSLMODE": "require"}
    variants = {"direct": (proxy, "require", None)}
    for kind, userlist in (("plaintext", plain), ("learned", learned)):
        pool = Pool(work, f"link-{kind}", bins["musl"], proxy, userlist, **tls)
        variants[kind] = (pool.port, "disable", pool)
    res = interleaved(variants, ["-C", "-c", CLIENTS, "-j", 2])
    w = (f"pooled logins across a {LINK_MS} ms-each-way link, upstream TLS: "
         f"pgbench -C -S -c{CLIENTS}")
    row(w, "direct to PostgreSQL (TLS)", res["direct"], "tps")
    for n in ("plaintext", "learned"):
        row(w, f"pool (musl), {n} userlist", res[n], "tps",
            f"{res[n] / res['direct']:.2f}x direct", ">= 8x" if n == "learned" else "", n)
    row(w, "learned / plaintext", None, "", f"{res['learned'] / res['plaintext']:.2f}x",
        ">= 2x")
    for _, _, pool in variants.values():
        if pool:
            pool.stop()


def bench_persistent(work, pg, learned, tlsdir):
    log("persistent connections")
    ctls = {"PGBOUNCER_CLIENT_TLS_SSLMODE": "require",
            "PGBOUNCER_CLIENT_TLS_KEY_FILE": str(tlsdir / "server.key"),
            "PGBOUNCER_CLIENT_TLS_CERT_FILE": str(tlsdir / "server.crt")}
    variants = {"direct": (pg.port, "disable", None)}
    for f, b in bins.items():
        pool = Pool(work, f"persist-{f}", b, pg.port, learned)
        variants[f] = (pool.port, "disable", pool)
    for f, b in bins.items():
        pool = Pool(work, f"ctls-{f}", b, pg.port, learned, **ctls)
        variants[f"{f} tls"] = (pool.port, "require", pool)
    res = interleaved(variants, ["-c", CLIENTS, "-j", 2])
    w = f"persistent connections, loopback: pgbench -S -c{CLIENTS}"
    row(w, "direct to PostgreSQL", res["direct"], "tps")
    row(w, "pool (musl)", res["musl"], "tps", f"{res['musl'] / res['direct']:.2f}x direct",
        "", "musl")
    compare(w, res, "musl", "pool (musl)")
    w2 = f"{w}, client TLS (client_tls_sslmode=require)"
    row(w2, "pool (musl)", res["musl tls"], "tps", "", "", "musl tls")
    compare(w2, res, "musl tls", "pool (musl)")
    for _, _, pool in variants.values():
        if pool:
            pool.stop()


def bench_many(work, pg, learned):
    """MANY clients connected at once against max_connections = 100, each
    then running MANY_QUERIES selects (bench/many_clients.py): direct, the
    server refuses most; through the pool all complete."""
    log(f"{MANY} clients, max_connections = 100")
    pool = Pool(work, "many", bins["musl"], pg.port, learned)
    w = (f"{MANY} clients connected at once, {MANY_QUERIES} selects each, "
         "PostgreSQL max_connections = 100")
    for name, port in (("direct to PostgreSQL", pg.port), ("pool (musl)", pool.port)):
        p = subprocess.run([sys.executable, str(HERE / "many_clients.py"), str(port), USER, DB,
                            str(MANY), str(MANY_QUERIES)],
                           env=dict(os.environ, PGPASSWORD=PASSWORD), capture_output=True,
                           text=True, timeout=600)
        if p.returncode:
            raise RuntimeError("many_clients.py failed: " + p.stderr)
        r = json.loads(p.stdout)
        log(f"{name}: {r}")
        refused = sum(v for k, v in r["error_kinds"].items()
                      if "too many clients" in k or "connection slots" in k)
        detail = f"{r['errors']} errors ({refused} refused by the server: too many clients)"
        if r["login_ms_median"] is not None:
            detail += (f"; login {r['login_ms_median']:.0f} ms, "
                       f"select {r['query_ms_median']:.1f} ms")
        row(w, name, f"{r['complete']} of {MANY}", "clients complete", detail,
            "all complete" if "pool" in name else "fails")
    pool.stop()


def timed(cmd, env):
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
    dt = (time.perf_counter() - t) * 1000
    if p.returncode:
        raise RuntimeError(f"{cmd[1]} failed: {p.stderr.decode()}")
    return dt


def bench_entrypoint(work, pg):
    log("entrypoint cost")
    w = f"entrypoint, start to exec of /bin/true ({RUNS} runs)"
    for label, extra in (("run --wait-timeout 0 (no login)", ["--wait-timeout", "0"]),
                         ("run (full login to the upstream)", [])):
        times = []
        for i in range(RUNS):
            d = work / f"ep-{len(times)}-{len(extra)}"
            env = process_env(base_env(pg, USER, PASSWORD, DB, free_port()))
            times.append(timed([str(BIN), "run", "--config-dir", str(d)] + extra
                               + ["--", "/bin/true"], env))
        row(w, label, median(times), "ms")


def bench_wait(work):
    log("wait latency")
    d, s = wait_latency.measure(work / "wait")
    w = f"waiting ({wait_latency.RUNS} runs)"
    row(w, "upstream ready -> exec (detection)", median(d), "ms", "", "<= 100 ms")
    row(w, "SIGTERM during the wait -> exit", median(s), "ms")


def bench_faults():
    log("deadline and SIGTERM against a hostile network (bench/faults.py)")
    w = f"hostile network ({faults.RUNS} runs each)"
    faults.main(lambda what, ms: row(w, what, median(ms), "ms", f"max {max(ms):.1f} ms",
                                     "<= 100 ms"))


# ---------------------------------------------------------------- output

def version(binary):
    p = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    return p.stdout.splitlines()[0] if p.stdout else "?"


def machine(bins, learned_source):
    cpu = "?"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    pg = subprocess.run(["/usr/lib/postgresql/15/bin/postgres", "--version"],
                        capture_output=True, text=True).stdout.strip()
    lines = [f"- machine: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}",
             f"- {pg}, pgbench {CLIENTS} clients, {SECONDS} s per run, median of {REPS} runs"
             " per variant, variants interleaved",
             f"- pgbouncer musl (the image's, build/pgbouncer): {version(bins['musl'])}"]
    for f in others():
        where = "build/deps-host, same source" if f == "glibc" else BINARIES[f]
        lines.append(f"- pgbouncer {f} ({where}): {version(bins[f])}")
    lines.append("- pool: transaction mode, default_pool_size 20, rendered by "
                 "`pgbouncer-entrypoint init`")
    lines.append(f"- learned secret: {learned_source}")
    lines.append(f"- link: {LINK_MS} ms each way by a delaying TCP proxy (bench/delay_proxy.py, "
                 "one round trip per new connection, then each chunk delayed; "
                 + ("the kernel has sch_netem, but the netem variant is not written yet)"
                    if netem else "this kernel has no sch_netem for `tc netem`)"))
    return lines


def table():
    out = ["| workload | variant | median | ratio | target | pgbouncer per transaction |",
           "|---|---|---:|---|---|---:|"]
    last = None
    for w, v, val, unit, ratio, target, cpu in rows:
        shown = "" if val is None else (f"{val:.1f} {unit}" if isinstance(val, float)
                                        else f"{val} {unit}")
        out.append(f"| {w if w != last else ''} | {v} | {shown} | {ratio} | {target} | {cpu} |")
        last = w
    return out


netem = False
bins = {}


def main():
    global netem
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    work = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-bench-"))
    os.chmod(work, 0o755)
    started = time.monotonic()
    load = os.getloadavg()[0]
    try:
        netem = netem_available()
        bins.update({f: runnable(b, work, f) for f, b in BINARIES.items() if b.exists()})
        if "glibc" not in bins:
            log("no glibc pgbouncer in build/deps-host: musl-vs-glibc rows skipped")
        tlsdir = make_tls_files(work / "tls")
        pg = Postgres(work / "pg")
        pg.extra_conf = (f"ssl = on\nssl_cert_file = '{tlsdir}/server.crt'\n"
                         f"ssl_key_file = '{tlsdir}/server.key'\nmax_connections = 100\n"
                         "shared_buffers = 64MB\n")
        pg.start()
        cleanups.append(pg.stop)
        pg.add_user(USER, PASSWORD, DB)
        subprocess.run(as_run_user([PGBENCH, "-i", "-q", "-s", "1", "-h", "127.0.0.1",
                                    "-p", str(pg.port), "-U", USER, DB]),
                       env=dict(os.environ, PGPASSWORD=PASSWORD), check=True,
                       capture_output=True, timeout=120)
        probe = Pool(work, "probe", bins["musl"], pg.port)
        probe.stop()
        learned, plain, source = userlist_forms(pg, probe.written)
        log(f"learned secret: {source}")
        bench_logins(work, pg, plain, learned)
        bench_link(work, pg, plain, learned)
        bench_persistent(work, pg, learned, tlsdir)
        bench_many(work, pg, learned)
        bench_entrypoint(work, pg)
        pg.stop()
        bench_wait(work)
        bench_faults()
        head = ["# Benchmarks (`make bench`)", ""] + machine(bins, source) + [
            f"- wall time of this run: {time.monotonic() - started:.0f} s; load average "
            f"(1 min) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            "(other work on the machine disturbs tps most; pgbouncer CPU time and page faults per transaction less)", ""]
        text = "\n".join(head + table()) + "\n"
        print(text)
        (HERE / "results.md").write_text(text)
    finally:
        for c in reversed(cleanups):
            try:
                c()
            except Exception as e:  # keep cleaning up
                log(f"cleanup: {e}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
