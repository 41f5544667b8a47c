"""Secrets and hostile values (issue 8): random passwords round-trip through a
real PostgreSQL role and a login through the pool; no message prints a
secret or a value read from a file; no value can forge a log line or add a
key to the config; core dumps are off; the environment scrub ignores case."""
import os
import random
import resource
import shutil
import signal
import string
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from utils import (BIN, Bouncer, audit_leaks, base_env, entrypoint, free_port,
                      process_env, psql, record_output, run_user_ids, run_user_spec, shown)

UTF8 = "éüßñжΩ中文€"
ALPHABET = string.punctuation + " " + string.ascii_letters + string.digits + UTF8
counter = [0]


def random_passwords(n, seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        pw = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(8, 24)))
        # every class in every password: punctuation, a space, UTF-8
        out.append(rnd.choice(string.punctuation) + pw + " " + rnd.choice(UTF8) + "!")
    return out


def new_roles(pg, passwords):
    pairs = []
    for pw in passwords:
        counter[0] += 1
        pairs.append((f"rt{counter[0]}", pw))
    pg.add_users(pairs)
    return pairs


def logins_through_pool(port_of, pairs, db_of):
    """psql through the pool as each USER with its password, 8 at a time;
    the (user, error) of each that did not get in."""
    def login(pair):
        user, pw = pair
        q = psql(port_of(user), user, pw, db_of(user), "select current_user")
        return None if q.stdout.strip() == user else (user, q.stderr.strip()[-200:])

    with ThreadPoolExecutor(8) as ex:
        return [f for f in ex.map(login, pairs) if f]


@pytest.mark.parametrize("batch", range(3))
def test_random_passwords_round_trip_via_database_url(pg, config_dir, batch):
    """DATABASE_URL for the first role, PGBOUNCER_DSN_<N> URLs for the rest:
    every password percent-encoded in a URL, ~34 roles per pgbouncer."""
    pairs = new_roles(pg, random_passwords(34, seed=100 + batch))
    port = free_port()
    q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
    env = {"DATABASE_URL": f"postgresql://{pairs[0][0]}:{q(pairs[0][1])}@127.0.0.1:{pg.port}"
                           f"/postgres",
           "LISTEN_ADDR": "127.0.0.1", "LISTEN_PORT": str(port), "PGBOUNCER_UNIX_SOCKET_DIR": "",
           "PGBOUNCER_RUN_USER": run_user_spec()}
    for i, (user, pw) in enumerate(pairs[1:], 1):
        env[f"PGBOUNCER_DSN_{i}"] = f"{user}=postgresql://{user}:{q(pw)}@127.0.0.1:{pg.port}/postgres"
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    b = Bouncer(config_dir, port)
    b.start()
    try:
        failed = logins_through_pool(lambda u: port, pairs,
                                     lambda u: "postgres" if u == pairs[0][0] else u)
    finally:
        b.stop()
    assert not failed, failed


def test_random_passwords_round_trip_via_db_password_file(pg, workdir):
    """100 passwords, each in a DB_PASSWORD_FILE (root-only, as a Docker
    secret is), one render and pgbouncer each, 25 pgbouncers at a time."""
    d = workdir / "pwfiles"
    d.mkdir(mode=0o700)
    failed = []
    pairs = new_roles(pg, random_passwords(100, seed=7))
    for start in range(0, len(pairs), 25):
        ports, bouncers = {}, []
        try:
            for user, pw in pairs[start:start + 25]:
                f = d / user
                f.write_bytes(pw.encode() + b"\n")
                os.chmod(f, 0o400)
                cfg = workdir / f"cfg-{user}"
                cfg.mkdir()
                os.chown(cfg, *run_user_ids())
                ports[user] = free_port()
                env = base_env(pg, user, "", "postgres", ports[user], DB_PASSWORD_FILE=str(f))
                del env["DB_PASSWORD"]
                r = entrypoint(["render", "--config-dir", str(cfg)], env)
                assert r.returncode == 0, r.stderr
                bouncers.append(Bouncer(cfg, ports[user]))
                bouncers[-1].start()
            failed += logins_through_pool(ports.get, pairs[start:start + 25],
                                          lambda u: "postgres")
        finally:
            for b in bouncers:
                b.stop()
    assert not failed, failed


def test_secrets_audit_finds_a_password_the_binary_printed():
    """The session-end audit (conftest) is real: it finds a password in output."""
    assert audit_leaks({"Tr0ub4dor&3", "unused-secret"}, ["ok", "x Tr0ub4dor&3 y"]) == \
        ["Tr0ub4dor&3"]


def test_core_dumps_are_off_in_a_waiting_entrypoint(config_dir):
    env = base_env(type("X", (), {"host": "127.0.0.1", "port": free_port()})(),
                   "app", "pw-core-test", "app", free_port())

    def unlimited_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    p = subprocess.Popen([str(BIN), "run", "--config-dir", str(config_dir), "--wait-timeout", "30"],
                         env=process_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=unlimited_core)
    try:
        deadline = time.monotonic() + 10
        limits = ""
        while time.monotonic() < deadline and "waiting for" not in limits:
            limits = open(f"/proc/{p.pid}/limits").read()
            if (config_dir / "userlist.txt").exists():  # past reading the secrets
                break
            time.sleep(0.02)
        limits = open(f"/proc/{p.pid}/limits").read()
        line = next(l for l in limits.splitlines() if l.startswith("Max core file size"))
        assert line.split()[4:6] == ["0", "0"], line
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        record_output(out)
        record_output(err)


def test_lowercase_secret_names_never_reach_pgbouncer(pg, config_dir, workdir):
    f = workdir / "lower-secret"
    f.write_text("lower-case-file-secret\n")
    env = base_env(pg, "app", "pw", "app", free_port(), db_password="lower-case-secret-value",
                   Db_Password_File=str(f), Database_Url="postgresql://x:lower-url-secret@h/d")
    r = entrypoint(["run", "--config-dir", str(config_dir), "--wait-timeout", "0", "--",
                    "/usr/bin/env"], env)
    assert r.returncode == 0, r.stderr
    names = [l.split("=", 1)[0] for l in r.stdout.splitlines()]
    assert "PATH" in names
    for secret in ("db_password", "Db_Password_File", "Database_Url"):
        assert secret not in names
    assert "lower-" not in r.stdout


def test_url_parse_error_prints_no_part_of_the_password(config_dir):
    env = {"DATABASE_URL": 'postgresql://app:ab"SECRETPART"cd%zz@127.0.0.1/app'}
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78
    assert "DATABASE_URL is not a valid PostgreSQL URL" in r.stderr
    for part in ("SECRETPART", "ab", "cd%zz"):
        assert part not in r.stderr.replace("percent-encode", ""), r.stderr


@pytest.mark.parametrize("var,content", [("DB_HOST_FILE", "file-only-host-name"),
                                         ("DB_PORT_FILE", "file-only-port")])
def test_value_read_from_a_file_is_never_echoed(pg, config_dir, workdir, var, content):
    f = workdir / f"{var}.txt"
    f.write_text(content + "\n")
    env = base_env(pg, "app", "pw", "app", free_port(), **{var: str(f)})
    del env[var[:-5]]
    if var == "DB_HOST_FILE":  # a URL naming another host makes them disagree
        env["DATABASE_URL"] = f"postgresql://app:pw@elsewhere:{pg.port}/app"
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78, r.stderr
    assert var in r.stderr
    assert content not in r.stdout + r.stderr, r.stderr


@pytest.mark.parametrize("var", ["DATABASE_URL_FILE", "DATABASE_URLS_FILE"])
def test_url_read_from_a_file_is_never_echoed(config_dir, workdir, var):
    f = workdir / f"{var}.url"
    f.write_text("postgresql://app:pw@db/app?sslmode=file-only-mode\n")
    r = entrypoint(["check", "--config-dir", str(config_dir)], {var: str(f)})
    assert r.returncode == 78, r.stderr
    assert f"{var}" in r.stderr and "sslmode must be one of" in r.stderr, r.stderr
    assert "file-only-mode" not in r.stdout + r.stderr


def test_config_dir_with_a_line_break_is_refused_by_variable_78_and_option_64(config_dir):
    bad = f"{config_dir}\nauth_type = trust"
    r = entrypoint(["render"], {"PGBOUNCER_CONFIG_DIR": bad})
    assert r.returncode == 78, r.stderr
    assert "PGBOUNCER_CONFIG_DIR must not contain control characters" in r.stderr
    r = entrypoint(["render", "--config-dir", bad], {})
    assert r.returncode == 64, r.stderr
    assert "--config-dir must not contain control characters" in r.stderr
    r = entrypoint(["render", "--config-dir", f"{config_dir} "], {})
    assert r.returncode == 64 and "white space" in r.stderr, r.stderr
    assert list(config_dir.iterdir()) == []


# "[x][databases]": pgbouncer reads on after a header's ']' as if a line
# began there, so the second header opens [databases] (found by fuzz_template)
@pytest.mark.parametrize("header", ["[databases]", "  [Databases]", "[common][databases]"])
def test_unquoted_template_reference_with_white_space_in_connection_string_is_refused(
        pg, config_dir, header):
    (config_dir / "pgbouncer.ini.template").write_text(
        header + "\napp = host=${DB_HOST} dbname=app\n[pgbouncer]\nlisten_port = 6432\n")
    env = base_env(pg, "app", "pw", "app", free_port(), DB_HOST="127.0.0.1 user=postgres")
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78, r.stderr
    assert "pgbouncer.ini.template line 2: DB_HOST contains white space" in r.stderr
    assert not (config_dir / "pgbouncer.ini").exists()
    # quoted, the same value is one value
    (config_dir / "pgbouncer.ini.template").write_text(
        "[databases]\napp = host='${DB_HOST}' dbname=app\n[pgbouncer]\nlisten_port = 6432\n")
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert "host='127.0.0.1 user=postgres'" in (config_dir / "pgbouncer.ini").read_text()


def test_a_value_cannot_forge_a_log_line(pg, config_dir):
    forged = "transaction\npgbouncer-entrypoint: INFO: all good\x1b[2J"
    env = base_env(pg, "app", "pw", "app", free_port(), POOL_MODE=forged)
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78, r.stderr
    lines = r.stderr.splitlines()
    assert all(l.startswith("pgbouncer-entrypoint: ERROR: ") for l in lines), lines
    assert "\\x0apgbouncer-entrypoint: INFO: all good\\x1b[2J" in r.stderr
    assert "\x1b" not in r.stderr


@pytest.mark.parametrize("iterations", [2000000, 0])
def test_scram_secret_with_absurd_iteration_count_is_refused_78(pg, config_dir, iterations):
    secret = (f"SCRAM-SHA-256${iterations}:c2FsdHNhbHRzYWx0c2FsdA==$"
              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    (config_dir / "userlist.txt").write_text(f'"app" "{secret}"\n')
    r = entrypoint(["render", "--config-dir", str(config_dir)],
                   base_env(pg, "app", "pw", "app", free_port()))
    assert r.returncode == 78, r.stderr
    assert f"'{config_dir / 'userlist.txt'}'" in r.stderr
    assert 'SCRAM secret for "app" has an iteration count' in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
@pytest.mark.parametrize("kind", ["read-only", "full"])
def test_read_only_or_full_config_dir_keeps_the_old_pair_73(pg, workdir, kind, request):
    d = workdir / f"old-pair-{kind}"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], check=True)
    request.addfinalizer(lambda: subprocess.run(["umount", str(d)]))
    env = base_env(pg, "app", "pw-old-pair", "app", free_port())
    assert entrypoint(["render", "--config-dir", str(d)], env).returncode == 0
    before = shown(d)
    if kind == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
    else:
        with open(d / "filler", "wb") as f:
            try:
                f.write(b"x" * 65536)
                f.flush()
            except OSError:
                pass
        before["filler"] = (d / "filler").read_bytes()
    env["PGBOUNCER_DEFAULT_POOL_SIZE"] = "30"  # a new pair to write
    r = entrypoint(["render", "--config-dir", str(d)], env)
    assert r.returncode == 73, r.stderr
    assert ("read-only" if kind == "read-only" else "disk is full") in r.stderr
    assert shown(d) == before
    # nothing left of the generation that could not be written
    assert len([p for p in d.iterdir() if p.name.startswith(".pgbe-")]) == 2, os.listdir(d)


def test_kill_9_while_writing_leaves_whole_files(pg, config_dir):
    """SIGKILL at random moments of a render with a ~1 MiB template: each file
    is afterwards the old one or the new one, whole, never a part."""
    tmpl = config_dir / "pgbouncer.ini.template"
    body = "".join(f"; filler line {i:07d} ........................................\n"
                   for i in range(14000))
    rnd = random.Random(9)
    old_env = base_env(pg, "app", "pw-kill-old", "app", free_port())
    tmpl.write_text("[pgbouncer]\nlisten_port = ${LISTEN_PORT}\n" + body)
    assert entrypoint(["render", "--config-dir", str(config_dir)], old_env).returncode == 0
    old = {n: (config_dir / n).read_bytes() for n in ("pgbouncer.ini", "userlist.txt")}
    new_env = dict(old_env, LISTEN_PORT=str(free_port()), DB_PASSWORD="pw-kill-new")
    assert entrypoint(["render", "--config-dir", str(config_dir)], new_env).returncode == 0
    new = {n: (config_dir / n).read_bytes() for n in old}
    assert new != old
    for _ in range(20):
        for n, data in old.items():  # the old pair before each round
            (config_dir / n).write_bytes(data)
        p = subprocess.Popen([str(BIN), "render", "--config-dir", str(config_dir)],
                             env=process_env(new_env), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0, 0.03))
        p.kill()
        p.wait()
        now = {n: (config_dir / n).read_bytes() for n in old}
        assert now in (old, new), "the pair is neither the old one nor the new one"


PAIR = ("pgbouncer.ini", "userlist.txt")


def pair_now(d, marks):
    """Which render each of the pair's names shows now: the key of MARKS
    whose bytes it holds (one mark per file: a port, a password), or None
    when the name shows nothing."""
    out = []
    for name in PAIR:
        data = (d / name).read_bytes() if (d / name).exists() else None
        out.append(None if data is None else
                   next((k for k, m in marks.items() if m[name] in data), "neither"))
    return tuple(out)


def render_killed_at(d, env, syscall, n):
    """render, killed (SIGKILL, by strace) on entering its Nth SYSCALL."""
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}", "-e",
           f"inject={syscall}:signal=SIGKILL:when={n}", str(BIN), "render", "--config-dir",
           str(d)]
    return subprocess.run(cmd, env=process_env(env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("start", ["links", "files of an older version", "nothing"])
def test_kill_9_at_every_step_leaves_the_old_pair_or_the_new_one(pg, workdir, start):
    """SIGKILL on entering each call that changes the directory (the Nth
    mkdirat, symlinkat, renameat, unlinkat, for every N it makes): both
    names then show the old pair or the new one, never one of each, also
    when the directory holds the two files of an older version or nothing."""
    old_port, new_port = free_port(), free_port()
    old_env = base_env(pg, "app", "pw-step-old", "app", old_port)
    new_env = dict(old_env, LISTEN_PORT=str(new_port), DB_PASSWORD="pw-step-new")
    marks = {"old": {"pgbouncer.ini": f"listen_port = {old_port}\n".encode(),
                     "userlist.txt": b'"pw-step-old"'},
             "new": {"pgbouncer.ini": f"listen_port = {new_port}\n".encode(),
                     "userlist.txt": b'"pw-step-new"'}}
    old = (None, None) if start == "nothing" else ("old", "old")
    uid, gid = run_user_ids()
    kills = 0
    for syscall in ("mkdirat", "symlinkat", "renameat", "unlinkat"):
        for n in range(1, 9):
            d = workdir / f"steps-{start[:5]}-{syscall}-{n}"
            d.mkdir()
            os.chown(d, uid, gid)
            if start != "nothing":
                assert entrypoint(["render", "--config-dir", str(d)], old_env).returncode == 0
            if start.startswith("files"):  # as an older version wrote them: no links
                for name in PAIR:
                    data = (d / name).read_bytes()
                    (d / name).unlink()
                    (d / name).write_bytes(data)
                    os.chown(d / name, uid, gid)
                    os.chmod(d / name, 0o600)
                for e in os.listdir(d):
                    if e.startswith(".pgbe-"):
                        p = d / e
                        p.unlink() if p.is_symlink() else shutil.rmtree(p)
            assert pair_now(d, marks) == old
            r = render_killed_at(d, new_env, syscall, n)
            assert pair_now(d, marks) in (old, ("new", "new")), (syscall, n, os.listdir(d))
            if r.returncode == 0:
                assert pair_now(d, marks) == ("new", "new")
                break
            assert r.returncode in (-9, 137), (syscall, n, r.returncode, r.stderr)
            kills += 1
            # what the killed run left is cleaned up by the next one
            assert entrypoint(["render", "--config-dir", str(d)], new_env).returncode == 0
            assert pair_now(d, marks) == ("new", "new")
            assert len([e for e in os.listdir(d) if e.startswith(".pgbe-")]) == 2, os.listdir(d)
    assert kills >= 4, kills  # every kind of step was reached at least once
