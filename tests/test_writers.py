"""One writer at a time (issue 16, item 1): reloads started together, a
`watch` reloading meanwhile, and a run or render against the same config
directory serialise on its lock; the pair the links show always resolves,
the pool serves after every round, and no writer removes the generation
another made current."""
import fcntl
import os
import re
import signal
import subprocess
import threading
import time

from utils import BIN, STATIC, base_env, entrypoint, free_port, process_env
from utils import Pool, new_user

ROUNDS = 50


def resolves(config_dir):
    """Both names show a file through their links, as pgbouncer opens them."""
    return all((config_dir / n).is_file() and (config_dir / n).read_text()
               for n in ("pgbouncer.ini", "userlist.txt"))


def hold_lock(config_dir):
    """The directory's lock, as a writer in progress holds it."""
    fd = os.open(config_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def generations(config_dir):
    return sorted(p.name for p in config_dir.iterdir() if p.name.startswith(".pgbe-") and
                  p.name != ".pgbe-current")


def test_two_reloads_at_once_and_a_watch_keep_the_pair_and_the_pool(pg, config_dir, secret_dir,
                                                                     running):
    pool = Pool(pg, config_dir, secret_dir, running)
    size_file = secret_dir / "pool_size"
    size_file.write_text("5")
    os.chmod(size_file, 0o600)
    watch = running(["watch", "--config-dir", str(config_dir), "--interval", "1"],
                    dict(pool.env, PGBOUNCER_DEFAULT_POOL_SIZE_FILE=str(size_file)))
    assert watch.wait_for("watch: "), watch.output()
    failures = []
    for i in range(ROUNDS):
        results = [None, None]

        def reload(k):
            results[k] = entrypoint(["reload", "--config-dir", str(config_dir)],
                                    dict(pool.env, PGBOUNCER_DEFAULT_POOL_SIZE=str(10 + 2 * i + k)))
        threads = [threading.Thread(target=reload, args=(k,)) for k in (0, 1)]
        size_file.write_text(str(20 + i))  # the watch reloads in the same moment
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k, r in enumerate(results):
            if r.returncode != 0 or "stays paused" in r.stderr:
                failures.append(f"round {i} reload {k}: {r.returncode} {r.stderr}")
        if not resolves(config_dir):
            failures.append(f"round {i}: the pair does not resolve: {generations(config_dir)}")
        q = pool.query(pool.password)
        if q.stdout.strip() != "1":
            failures.append(f"round {i}: the pool does not serve: {q.stderr}")
        if failures:
            break
    assert not failures, "\n".join(failures) + "\n" + watch.output()
    assert "stays paused" not in watch.output()
    # one generation is left: the current one
    assert len(generations(config_dir)) == 1, generations(config_dir)


def test_a_second_writer_waits_for_the_first_then_gives_up_with_73(pg, config_dir, secret_dir,
                                                                   running):
    """A writer that holds the lock (here: flock from the shell, as a
    reload in progress would) makes the next wait for it, then end 73 at its
    deadline with nothing changed."""
    pool = Pool(pg, config_dir, secret_dir, running)
    before = (config_dir / "pgbouncer.ini").read_text()
    holder = hold_lock(config_dir)
    try:
        t = time.monotonic()
        r = entrypoint(["reload", "--config-dir", str(config_dir), "--wait-timeout", "2"],
                       dict(pool.env, PGBOUNCER_DEFAULT_POOL_SIZE="33"))
        took = time.monotonic() - t
    finally:
        os.close(holder)
    assert r.returncode == 73, r.stderr
    assert "waiting for it" in r.stderr and "still writes" in r.stderr, r.stderr
    assert took >= 2.0, took
    assert (config_dir / "pgbouncer.ini").read_text() == before
    # once it is free, the same reload goes through
    r = entrypoint(["reload", "--config-dir", str(config_dir)],
                   dict(pool.env, PGBOUNCER_DEFAULT_POOL_SIZE="33"))
    assert r.returncode == 0, r.stderr
    assert "default_pool_size = 33" in (config_dir / "pgbouncer.ini").read_text()


def test_render_waits_for_a_writer_and_sigterm_ends_the_wait(pg, config_dir):
    user = new_user(pg, "pw-lock")
    env = base_env(pg, user, "pw-lock", user, free_port())
    assert entrypoint(["render", "--config-dir", str(config_dir)], env).returncode == 0
    holder = hold_lock(config_dir)
    try:
        p = subprocess.Popen([str(BIN), "render", "--config-dir", str(config_dir)],
                             env=process_env(env), stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert p.poll() is None, p.stderr.read()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
    finally:
        os.close(holder)
    assert rc == 128 + 15, p.stderr.read()


def test_reload_never_resumes_a_pause_it_did_not_make(pg, config_dir, secret_dir, running):
    """PAUSE/RESUME pairs belong to whoever paused: an operator's PAUSE (or
    a drain's, on pgbouncer before 1.23) survives a reload that wanted a
    PAUSE of its own (a changed SCRAM secret on pgbouncer before 1.24)."""
    pool = Pool(pg, config_dir, secret_dir, running)

    def console(cmd):
        return entrypoint(["console", "-c", cmd, "--config-dir", str(config_dir)], pool.env)

    assert console("PAUSE").returncode == 0
    try:
        pool.pg.sql(f"ALTER ROLE {pool.user} PASSWORD 'new-Pa55'")
        pool.put("new-Pa55")
        r = pool.reload()
        # (1.18 has no SHOW STATE: a second PAUSE says whether it is paused)
        again = console("PAUSE")
        assert again.returncode == 64 and "already suspended/paused" in again.stderr, \
            again.stderr + r.stderr
        if not STATIC:  # 1.18 wants the PAUSE for this change; 1.24 does not
            assert "refused PAUSE" in r.stderr, r.stderr
    finally:
        assert console("RESUME").returncode == 0
