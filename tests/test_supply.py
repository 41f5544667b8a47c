"""Supply chain: the image's static pgbouncer is built from Debian's patched
source, so what Debian's security patches fix is fixed in it.  Each test sends
what an attacker would, from a client, and fails on a pgbouncer built from
the upstream tarball alone (PGBE_STATIC_PGBOUNCER=PATH runs them against
another binary, e.g. an older build)."""
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from utils import ROOT, _BINDIR, base_env, entrypoint, free_port, psql

SOURCE = os.environ.get("PGBE_STATIC_PGBOUNCER", str(ROOT / "build/pgbouncer"))
if not os.path.exists(SOURCE):
    pytest.fail(f"{SOURCE} is missing: make build/pgbouncer", pytrace=False)
# a copy the run user can execute, beside (not over) conftest's copies
PGBOUNCER = _BINDIR / "pgbouncer-under-supply-test"
shutil.copy2(SOURCE, PGBOUNCER)
os.chmod(PGBOUNCER, 0o755)


@pytest.fixture(scope="module")
def roles(pg):
    pg.add_user("supply_app", "supply-app-pw", db="supply_app")
    pg.add_user("supply_stat", "supply-stat-pw", db="supply_stat")


@pytest.fixture
def pool(pg, roles, config_dir, bouncers):
    """The static pgbouncer on what `init` wrote: supply_app (admin) and
    supply_stat (stats_users) are both users of the pool."""
    port = free_port()
    urls = (f"postgresql://supply_app:supply-app-pw@127.0.0.1:{pg.port}/supply_app "
            f"postgresql://supply_stat:supply-stat-pw@127.0.0.1:{pg.port}/supply_stat")
    env = base_env(pg, "", "", "", port, DATABASE_URLS=urls, ADMIN_USERS="supply_app",
                   STATS_USERS="supply_stat")
    for k in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"):
        env.pop(k)
    r = entrypoint(["init", "--config-dir", str(config_dir), "--wait-timeout", "10"], env)
    assert r.returncode == 0, r.stderr
    return bouncers(config_dir, port, binary=PGBOUNCER)


def message(sock):
    """One backend message: (type, body)."""
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        if not chunk:
            return None, b""
        head += chunk
    kind, length = head[:1], struct.unpack("!I", head[1:])[0]
    body = b""
    while len(body) < length - 4:
        chunk = sock.recv(length - 4 - len(body))
        if not chunk:
            break
        body += chunk
    return kind, body


def test_sasl_initial_response_with_a_wrapping_length_leaves_pgbouncer_serving(pool):
    """CVE-2026-6664: before any login, a SASLInitialResponse whose length
    field is 0xFFFFFFFF wrapped pgbouncer's bounds check (mbuf_get_bytes) and
    crashed the process: PID 1 of the image, so the container."""
    with socket.create_connection(("127.0.0.1", pool.port), timeout=5) as s:
        params = b"user\0nobody-at-all\0database\0supply_app\0\0"
        s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
        kind, body = message(s)
        assert kind == b"R" and struct.unpack("!I", body[:4])[0] == 10, (kind, body)  # SASL
        mech = b"SCRAM-SHA-256\0"
        s.sendall(b"p" + struct.pack("!I", 4 + len(mech) + 4) + mech + b"\xff\xff\xff\xff")
        time.sleep(1)
        assert pool.proc.poll() is None, "pgbouncer died:\n" + pool.log.read_text()[-2000:]
    r = psql(pool.port, "supply_app", "supply-app-pw", "supply_app", "select 'still serving'")
    assert r.stdout.strip() == "still serving", r.stderr + pool.log.read_text()[-2000:]


def test_kill_client_from_a_stats_user_is_refused(pool):
    """CVE-2026-6667: KILL_CLIENT needs admin rights; a stats_users user could
    disconnect any client, an admin's console session included."""
    env = dict(os.environ, PGPASSWORD="supply-app-pw", PGCONNECT_TIMEOUT="5")
    victim = subprocess.Popen(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(pool.port), "-U",
                               "supply_app", "-d", "pgbouncer"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        clients = ""
        for _ in range(50):
            r = subprocess.run(["psql", "-X", "--csv", "-h", "127.0.0.1", "-p", str(pool.port),
                                "-U", "supply_stat", "-d", "pgbouncer", "-c", "SHOW CLIENTS"],
                               env=dict(env, PGPASSWORD="supply-stat-pw"), capture_output=True,
                               text=True)
            assert r.returncode == 0, r.stderr
            rows = [l.split(",") for l in r.stdout.splitlines()]
            head, rows = rows[0], rows[1:]
            theirs = [row for row in rows if row[head.index("user")] == "supply_app"]
            if theirs:
                clients = theirs[0][head.index("id")]
                break
            time.sleep(0.1)
        assert clients, "the admin's console session never showed up:\n" + r.stdout
        r = psql(pool.port, "supply_stat", "supply-stat-pw", "pgbouncer", f"KILL_CLIENT {clients}")
        assert r.returncode != 0 and "admin access needed" in r.stderr, r.stdout + r.stderr
        # the admin's session is still there and answers
        out, err = victim.communicate("SHOW VERSION;\n", timeout=10)
        assert victim.returncode == 0 and "PgBouncer" in out, out + err
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def pins_with(tmp_path, name, version):
    """scripts/deps.pins with NAME pinned at VERSION instead."""
    lines = []
    for line in (ROOT / "scripts/deps.pins").read_text().splitlines():
        f = line.split()
        if f and f[0] == name:
            line = f"{f[0]} {f[1]} {version} {f[3]}"
        lines.append(line)
    path = tmp_path / "pins"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_pin_that_does_not_download_stops_the_build_and_older_is_built_only_loudly(tmp_path):
    """No silent fallback: musl pinned at a version the mirror does not have
    stops the build with a message naming the pin and the way out; with
    ALLOW_OLDER_DEPS=1 an older version is built, and the build log, the
    record that --version and the SBOM read say so."""
    prefix = tmp_path / "deps"
    env = dict(os.environ, DEPS_PINS=str(pins_with(tmp_path, "musl", "1.2.99-1")))
    cmd = [str(ROOT / "scripts/build-deps.sh"), str(prefix), "musl-gcc", "only", "musl"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0, r.stderr
    assert "musl 1.2.99-1 (pins) did not download" in r.stderr and "ALLOW_OLDER_DEPS=1" in r.stderr
    assert not (prefix / ".musl.done").exists() and not (prefix / "components").exists()
    r = subprocess.run(cmd, env=dict(env, ALLOW_OLDER_DEPS="1"), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "WARNING: ALLOW_OLDER_DEPS=1: building musl" in r.stderr
    assert "OLDER than the pin 1.2.99-1" in r.stderr
    record = (prefix / "components.d/musl").read_text()
    assert "fallback 1.2.99-1" in record
    about = subprocess.run([str(ROOT / "scripts/deps-about.sh"), str(prefix), "musl"],
                           capture_output=True, text=True).stdout
    assert "OLDER than the pin 1.2.99-1" in about, about


def test_deps_check_reports_every_pin():
    r = subprocess.run([str(ROOT / "scripts/deps-check.sh")], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines()[1:]]
    pinned = [l.split()[:3] for l in (ROOT / "scripts/deps.pins").read_text().splitlines()
              if l.strip() and not l.startswith("#")]
    for name, pkg, version in pinned:
        assert [name, pkg, version] in [row[:3] for row in rows], (name, r.stdout)
