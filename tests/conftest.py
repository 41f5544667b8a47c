"""Fixtures: a real PostgreSQL (Debian's package, initdb'd per session on a
free loopback port, scram-sha-256 passwords), pgbouncer started from what the
binary under test wrote, the binary running in the background, a pool on a
password file.  Helpers are in utils.py; the tiers (pytest.ini) are given
here, by file."""
import os
import pathlib
import shutil
import sys
import tempfile

import pytest

from utils import (OUTPUT, PASSWORDS, PGBOUNCER, Bouncer, Pool, Postgres, Running, Session,
                   audit_leaks, make_tls_files, run_user_ids)


def pytest_sessionfinish(session, exitstatus):
    leaks = audit_leaks(PASSWORDS, OUTPUT)
    if leaks:
        print(f"\nSECRETS AUDIT FAILED: {len(leaks)} test password(s) appear in what "
              f"pgbouncer-entrypoint wrote: {leaks!r}", file=sys.stderr)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def workdir():
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(workdir):
    p = Postgres(workdir / "scram")
    p.start()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def pg_md5(workdir):
    p = Postgres(workdir / "md5", encryption="md5")
    p.start()
    yield p
    p.stop()


@pytest.fixture
def config_dir(workdir, request):
    d = pathlib.Path(tempfile.mkdtemp(prefix="cfg-", dir=workdir))
    os.chmod(d, 0o755)
    if os.geteuid() == 0:
        uid, gid = run_user_ids()
        os.chown(d, uid, gid)
    return d


@pytest.fixture
def bouncers():
    started = []

    def start(config_dir, port, binary=PGBOUNCER):
        b = Bouncer(config_dir, port)
        b.start(binary)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture(scope="session")
def pg_tls(workdir):
    p = Postgres(workdir / "tls")
    tls = make_tls_files(workdir / "tls-files")
    p.extra_conf = (f"ssl = on\nssl_cert_file = '{tls}/server.crt'\n"
                    f"ssl_key_file = '{tls}/server.key'\n")
    p.hba_extra = ("hostssl all all 127.0.0.1/32 scram-sha-256\n"
                   "hostssl all all ::1/128 scram-sha-256\n")
    p.ca_file = tls / "ca.crt"
    p.start()
    yield p
    p.stop()


# ---- the tiers (pytest.ini) ------------------------------------------------

TIER_OF_FILE = {
    "test_cli.py": "unit",
    "test_usage.py": "unit",
    "test_docker.py": "docker",
    "test_fresh.py": "docker",
    "test_release.py": "docker",
    "test_registry.py": "registry",
    "test_chart.py": "chart",
}


# a tier that builds images or whole machines: minutes per test, not seconds
LONG_TIERS = {"docker": 2400, "registry": 2400}


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = TIER_OF_FILE.get(item.path.name, "integration")
        item.add_marker(getattr(pytest.mark, tier))
        if "arm64" in item.name:
            item.add_marker(pytest.mark.arm64)
        if tier in LONG_TIERS and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(LONG_TIERS[tier]))


@pytest.fixture
def running():
    started = []

    def start(args, env):
        r = Running(args, env)
        started.append(r)
        return r

    yield start
    for r in reversed(started):
        r.stop()


@pytest.fixture
def secret_dir(workdir):
    d = pathlib.Path(tempfile.mkdtemp(prefix="secrets-", dir=workdir))
    os.chmod(d, 0o700)  # root only: run, reload and watch read it before dropping
    return d


@pytest.fixture
def pool(pg, config_dir, secret_dir, running):
    p = Pool(pg, config_dir, secret_dir, running)
    p.session = Session(p, p.password)
    assert p.session.ask()
    yield p
    p.session.close()
