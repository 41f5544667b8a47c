"""Registry tier: `make push` to a real registry (Debian's docker-registry, the
CNCF Distribution registry, on a loopback port with its own storage), the
local images removed, and everything a user does pulls from it: the compose
examples, the multi-platform index, and the arm64 image run under
qemu-aarch64-static against the loopback PostgreSQL.  `make push SIGN_KEY=`
signs and attests both indexes, and a user's `cosign verify` and
`cosign verify-attestation` against that registry pass, and fail for another
key and for an image put under a signed tag.
Skipped, loudly, without a Docker engine (see test_docker.py)."""
import base64
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import types
import urllib.request

import pytest

from utils import (ROOT, as_run_user, expected_sbom_versions, free_port, psql, reported_versions,
                      run_user_ids, wait_port)
from test_docker import (COMPOSE, COMPOSE_EXAMPLES, VERSION, compose_example_serves, docker,
                         images, sh)  # noqa: F401  (images is a fixture)

CRANE = str(ROOT / "build/tools/crane")
COSIGN = ROOT / "build/tools/cosign"
QEMU = shutil.which("qemu-aarch64-static") or "/usr/bin/qemu-aarch64-static"
REGISTRY_BIN = "/usr/bin/docker-registry"
LOCAL_TAGS = ["latest", "init", VERSION, f"{VERSION}-init"]


@pytest.fixture(scope="module")
def registry(images):
    """docker-registry on 127.0.0.1:PORT (the engine pulls from loopback
    registries over plain HTTP), with everything in a temp dir."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-registry-"))
    port = free_port()
    (d / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {d / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n")
    log = open(d / "registry.log", "w")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(d / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        assert wait_port(port, 30), (d / "registry.log").read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=10) as r:
            assert r.status == 200
        yield f"127.0.0.1:{port}/pgbe"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def pushed(registry):
    """make push, then no local image of ours left: what follows pulls."""
    p = sh("make", "-s", "push", f"REGISTRY={registry}", cwd=ROOT, timeout=1800)
    assert f"{registry}/pgbouncer-entrypoint:{VERSION}@sha256:" in p.stdout, p.stdout
    for t in LOCAL_TAGS:
        docker("rmi", f"pgbouncer-entrypoint:{t}")
    yield f"{registry}/pgbouncer-entrypoint"
    # leave the local images as `make image` does, for whatever runs next
    for t in LOCAL_TAGS:
        docker("rmi", f"{registry}/pgbouncer-entrypoint:{t}", check=False)
    sh(str(ROOT / "scripts/build-images.sh"), VERSION, cwd=ROOT)


def crane(*args, **kw):
    return sh(CRANE, *args, **kw)


@pytest.mark.skipif(not COMPOSE, reason="docker-compose not installed")
@pytest.mark.parametrize("example,web", COMPOSE_EXAMPLES, ids=["prod", "init", "watch"])
def test_compose_example_pulls_from_the_registry_and_serves(pushed, example, web):
    for t in (VERSION, f"{VERSION}-init"):
        docker("rmi", f"{pushed}:{t}", check=False)
    compose_example_serves(example, web, {}, pushed)
    assert docker("image", "inspect", f"{pushed}:{VERSION}", check=False).returncode == 0


@pytest.mark.parametrize("tag", [VERSION, "latest", f"{VERSION}-init", "init"])
def test_index_lists_both_platforms_and_each_config_is_complete(pushed, tag):
    index = json.loads(crane("manifest", f"{pushed}:{tag}").stdout)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    platforms = sorted(f"{m['platform']['os']}/{m['platform']['architecture']}"
                       for m in index["manifests"])
    assert platforms == ["linux/amd64", "linux/arm64"]
    revision = sh("git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    for platform in platforms:
        config = json.loads(crane("config", "--platform", platform, f"{pushed}:{tag}").stdout)
        assert config["architecture"] == platform.split("/")[1]
        c = config["config"]
        assert c["Entrypoint"] == ["/pgbouncer-entrypoint"] and c["User"] == "70:70"
        labels = c["Labels"]
        assert labels["org.opencontainers.image.version"] == VERSION
        assert labels["org.opencontainers.image.revision"] == revision
        assert labels["org.opencontainers.image.created"] == config["created"]
        if "init" in tag:
            assert c["Cmd"] == ["init"] and "Healthcheck" not in c
        else:
            assert c["Cmd"] == ["run"] and c["StopSignal"] == "SIGINT"
            assert c["Healthcheck"]["Test"] == ["CMD", "/pgbouncer-entrypoint", "health"]


@pytest.fixture(scope="module")
def arm64_root(pushed):
    """The arm64 pgbouncer image, pulled back from the registry and unpacked."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-arm64-"))
    os.chmod(d, 0o755)
    export = d / "fs.tar"
    with export.open("wb") as f:
        subprocess.run([CRANE, "export", "--platform", "linux/arm64", f"{pushed}:{VERSION}", "-"],
                       stdout=f, check=True, timeout=300)
    with tarfile.open(export) as t:
        t.extractall(d / "root")
    export.unlink()
    yield d / "root"
    shutil.rmtree(d, ignore_errors=True)


def qemu(*args, env=None, **kw):
    return subprocess.run([QEMU] + [str(a) for a in args], capture_output=True, text=True,
                          env=env or {"PATH": "/usr/bin:/bin"}, timeout=kw.pop("timeout", 300),
                          **kw)


def test_arm64_image_is_aarch64_and_the_built_entrypoint(arm64_root):
    ep = arm64_root / "pgbouncer-entrypoint"
    out = sh("file", str(ep), str(arm64_root / "usr/bin/pgbouncer")).stdout
    assert out.count("ARM aarch64") == 2 and out.count("statically linked") == 2, out
    # the unit tests below ran the modules of exactly this binary
    assert ep.read_bytes() == (ROOT / "build/arm64/pgbouncer-entrypoint").read_bytes()


def test_arm64_unit_tests_pass_under_qemu(arm64_root):
    r = qemu(ROOT / "build/arm64/unit-tests", ROOT / "tests/data", cwd=ROOT)
    assert r.returncode == 0 and re.search(r"unit: \d+ passed, 0 failed", r.stdout), \
        r.stdout + r.stderr


def test_arm64_entrypoint_prints_its_versions(arm64_root):
    r = qemu(arm64_root / "pgbouncer-entrypoint", "--version")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"pgbouncer-entrypoint {VERSION}"
    assert [l.split()[0] for l in lines[1:]] == ["OpenSSL", "libpq", "musl"]


def test_arm64_entrypoint_renders(arm64_root, tmp_path):
    env = {"DB_HOST": "db.example", "DB_NAME": "app", "DB_USER": "app", "DB_PASSWORD": "s3cret",
           "PATH": "/usr/bin:/bin"}
    r = qemu(arm64_root / "pgbouncer-entrypoint", "render", "--config-dir", tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    ini = (tmp_path / "pgbouncer.ini").read_text()
    assert "db.example" in ini and "s3cret" not in ini
    assert (tmp_path / "userlist.txt").stat().st_mode & 0o777 == 0o600


def test_arm64_pgbouncer_serves_a_client_login_to_postgres(arm64_root, pg, workdir):
    """The arm64 entrypoint waits for the loopback PostgreSQL with a real
    login, then execs the arm64 pgbouncer (also under qemu); psql logs in
    through it."""
    pg.add_user("arm", "arm-Pass-1", db="armdb")
    cfg = pathlib.Path(tempfile.mkdtemp(prefix="cfg-arm64-", dir=workdir))
    uid, gid = run_user_ids()
    os.chown(cfg, uid, gid)
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "DB_HOST": pg.host, "DB_PORT": str(pg.port),
           "DB_NAME": "armdb", "DB_USER": "arm", "DB_PASSWORD": "arm-Pass-1",
           "LISTEN_ADDR": "127.0.0.1", "LISTEN_PORT": str(port),
           "PGBOUNCER_UNIX_SOCKET_DIR": "", "SERVER_TLS_SSLMODE": "disable"}
    # qemu-aarch64-static is the COMMAND run execs: an x86_64 program that
    # runs the image's arm64 pgbouncer
    cmd = as_run_user([QEMU, arm64_root / "pgbouncer-entrypoint", "run", "--config-dir", cfg,
                       "--wait-timeout", "60", "--", QEMU, arm64_root / "usr/bin/pgbouncer",
                       cfg / "pgbouncer.ini"])
    log = open(cfg.parent / f"arm64-{port}.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_port(port, 120), (cfg.parent / f"arm64-{port}.log").read_text()
        deadline = time.monotonic() + 60
        while True:
            r = psql(port, "arm", "arm-Pass-1", "armdb", "select current_user || '@' || "
                     "current_database() || ' ' || version()")
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert r.returncode == 0 and r.stdout.startswith("arm@armdb PostgreSQL 15"), r.stderr
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    text = (cfg.parent / f"arm64-{port}.log").read_text()
    assert "arm-Pass-1" not in text


def test_sbom_in_the_pulled_image_names_every_linked_component(arm64_root):
    sbom = json.loads((arm64_root / "usr/share/doc/pgbouncer-entrypoint/sbom.spdx.json")
                      .read_text())
    assert sbom["spdxVersion"] == "SPDX-2.3"
    names = {p["name"]: p["versionInfo"] for p in sbom["packages"]}
    ours = qemu(arm64_root / "pgbouncer-entrypoint", "--version").stdout.splitlines()
    theirs = qemu(arm64_root / "usr/bin/pgbouncer", "--version")
    pgb = dict(l.split(None, 1) for l in (theirs.stdout + theirs.stderr).splitlines() if l)
    expect = expected_sbom_versions(reported_versions(ours))
    expect.update({"pgbouncer": pgb["PgBouncer"], "libevent": pgb["libevent"]})
    for name, version in expect.items():
        assert name in names, f"{name} missing from the SBOM"
        assert names[name].startswith(version), (name, names[name], version)
    assert "ca-certificates" in names


# ---- signed images (issue 19) ------------------------------------------------

SIGNED = "signed"                     # the tag make push SIGN_KEY= pushes here
KEY_PASSWORD = "key-Pass 19 'x\"y"    # quotes and a space: it must reach cosign whole
SPDX = "https://spdx.dev/Document"    # cosign's predicate type for --type spdxjson
ARCHES = ["amd64", "arm64"]
SBOM_PATH = "usr/share/doc/pgbouncer-entrypoint/sbom.spdx.json"


@pytest.fixture(scope="module")
def cosign_home():
    """cosign offline, as the registry tier must be: its TUF cache in a temp
    dir (HOME may be unwritable), and an empty trusted root for the
    verifications, so that the key pair is all they trust and no Rekor,
    Fulcio or TUF mirror is asked (cosign verify fetches TUF's trusted root
    unless it is given one)."""
    assert COSIGN.is_file(), "build/tools/cosign missing: scripts/install-tools.sh cosign"
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-cosign-"))
    (d / "trusted_root.json").write_text(
        json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cosign_env(home, **env):
    return dict(os.environ, TUF_ROOT=str(home / "tuf"), **env)


def cosign(home, *args, check=False, **env):
    return sh(str(COSIGN), *[str(a) for a in args], check=check, env=cosign_env(home, **env),
              timeout=300)


def key_pair(home, name, password):
    """A new cosign key pair: (private key, public key)."""
    d = home / name
    d.mkdir()
    cosign(home, "generate-key-pair", "--output-key-prefix", d / "cosign", check=True,
           COSIGN_PASSWORD=password)
    return d / "cosign.key", d / "cosign.pub"


def verify(home, pub, ref):
    """What docs/images.md tells a user to run for a key-pair signature."""
    return cosign(home, "verify", "--key", pub, "--insecure-ignore-tlog",
                  "--trusted-root", home / "trusted_root.json", ref)


def verify_attestation(home, pub, ref):
    return cosign(home, "verify-attestation", "--type", "spdxjson", "--key", pub,
                  "--insecure-ignore-tlog", "--trusted-root", home / "trusted_root.json", ref)


def statements(r):
    """verify-attestation's output, one DSSE envelope a line -> in-toto statements."""
    return [json.loads(base64.b64decode(json.loads(l)["payload"]))
            for l in r.stdout.splitlines() if l.strip()]


def sbom_in_image(ref):
    """The SBOM file inside the pushed image REF (a platform manifest)."""
    export = subprocess.run([CRANE, "export", ref, "-"], capture_output=True, check=True,
                            timeout=300).stdout
    with tarfile.open(fileobj=io.BytesIO(export)) as t:
        return json.load(t.extractfile(SBOM_PATH))


def platform_digest(ref, arch):
    return crane("digest", "--platform", f"linux/{arch}", ref).stdout.strip()


@pytest.fixture(scope="module")
def signed(registry, cosign_home):
    """make push TAG=signed SIGN_KEY=... with a new key pair, its password in
    COSIGN_PASSWORD as a release job would have it."""
    key, pub = key_pair(cosign_home, "release", KEY_PASSWORD)
    p = sh("make", "-s", "push", f"REGISTRY={registry}", f"TAG={SIGNED}", f"SIGN_KEY={key}",
           cwd=ROOT, timeout=1800, env=cosign_env(cosign_home, COSIGN_PASSWORD=KEY_PASSWORD))
    repo = f"{registry}/pgbouncer-entrypoint"
    digests = dict(re.findall(rf"^pushed {re.escape(repo)}:(\S+)@(sha256:[0-9a-f]{{64}})$",
                              p.stdout, re.M))
    assert sorted(digests) == [SIGNED, f"{SIGNED}-init"], p.stdout
    yield types.SimpleNamespace(repo=repo, key=key, pub=pub, digests=digests, push=p)


def test_make_push_with_sign_key_says_what_it_signed_and_attested(signed):
    out = signed.push.stdout
    for tag, index in signed.digests.items():
        assert f"signed {signed.repo}@{index} and its platform manifests\n" in out, out
        for arch in ARCHES:
            manifest = platform_digest(f"{signed.repo}@{index}", arch)
            assert (f"attested {signed.repo}@{index} and {signed.repo}@{manifest} (linux/{arch}) "
                    f"with the SPDX SBOM of linux/{arch}\n") in out, out
    assert KEY_PASSWORD not in out + signed.push.stderr


@pytest.mark.parametrize("tag", [SIGNED, f"{SIGNED}-init"])
def test_cosign_verify_passes_for_the_index_its_tag_and_each_platform(signed, cosign_home, tag):
    index = signed.digests[tag]
    for ref in (f"{signed.repo}@{index}", f"{signed.repo}:{tag}"):
        r = verify(cosign_home, signed.pub, ref)
        assert r.returncode == 0, r.stderr
        assert "The signatures were verified against the specified public key" in r.stderr
        claims = json.loads(r.stdout)
        assert {c["critical"]["image"]["docker-manifest-digest"] for c in claims} == {index}
    # signed with --recursive: a platform manifest's digest verifies too
    for arch in ARCHES:
        manifest = platform_digest(f"{signed.repo}@{index}", arch)
        r = verify(cosign_home, signed.pub, f"{signed.repo}@{manifest}")
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("tag", [SIGNED, f"{SIGNED}-init"])
def test_cosign_verify_attestation_gives_the_sbom_each_platform_carries(signed, cosign_home,
                                                                         tag):
    index = signed.digests[tag]
    r = verify_attestation(cosign_home, signed.pub, f"{signed.repo}@{index}")
    assert r.returncode == 0, r.stderr
    on_index = statements(r)
    assert [s["predicateType"] for s in on_index] == [SPDX] * len(ARCHES), on_index
    assert all(s["subject"][0]["digest"]["sha256"] == index.split(":")[1] for s in on_index)
    # the Debian versions the binaries were built from, the same pins on both
    # platforms (test_sbom_in_the_pulled_image_... checks arm64's own)
    ours = sh(str(ROOT / "build/pgbouncer-entrypoint"), "--version").stdout.splitlines()
    expect = expected_sbom_versions(reported_versions(ours))
    also = [] if "init" in tag else ["pgbouncer", "libevent", "ca-certificates"]
    for arch in ARCHES:
        manifest = platform_digest(f"{signed.repo}@{index}", arch)
        sbom = sbom_in_image(f"{signed.repo}@{manifest}")
        assert sbom["name"].endswith(f" linux/{arch}")
        # the index carries every platform's SBOM, the platform its own,
        # each equal to the file inside that platform's image
        assert sum(s["predicate"] == sbom for s in on_index) == 1, (arch, on_index)
        r = verify_attestation(cosign_home, signed.pub, f"{signed.repo}@{manifest}")
        assert r.returncode == 0, r.stderr
        assert [s["predicate"] for s in statements(r)] == [sbom]
        names = {p["name"]: p["versionInfo"] for p in sbom["packages"]}
        for name, version in expect.items():
            assert name in names, f"{name} missing from the attested SBOM of linux/{arch}"
            assert names[name].startswith(version), (name, names[name], version)
        assert set(also) <= set(names), (also, names)


def test_verification_with_another_public_key_fails(signed, cosign_home):
    _, other = key_pair(cosign_home, "other", "another password")
    ref = f"{signed.repo}@{signed.digests[SIGNED]}"
    r = verify(cosign_home, other, ref)
    assert r.returncode != 0 and "no matching signatures" in r.stderr, r.stderr
    r = verify_attestation(cosign_home, other, ref)
    assert r.returncode != 0 and "no matching attestations" in r.stderr, r.stderr


def test_an_image_pushed_under_a_signed_tag_fails_verification(signed, cosign_home, tmp_path):
    """What someone with push rights but not the key can do: put another image
    under the tag a user verifies.  Here the signed amd64 image plus a layer
    that replaces /pgbouncer-entrypoint."""
    tag = f"{signed.repo}:tampered"
    crane("copy", f"{signed.repo}@{signed.digests[SIGNED]}", tag)
    r = verify(cosign_home, signed.pub, tag)
    assert r.returncode == 0, r.stderr  # so far the tag names the signed index
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as t:
        data = b"#!/bin/sh\necho not ours\n"
        info = tarfile.TarInfo("pgbouncer-entrypoint")
        info.size, info.mode = len(data), 0o755
        t.addfile(info, io.BytesIO(data))
    crane("append", "-b", f"{signed.repo}@{platform_digest(tag, 'amd64')}", "-f", str(layer),
          "-t", tag)
    tampered = crane("digest", tag).stdout.strip()
    assert tampered not in signed.digests.values()
    r = verify(cosign_home, signed.pub, tag)
    assert r.returncode != 0 and "no signatures found" in r.stderr, r.stderr
    r = verify_attestation(cosign_home, signed.pub, tag)
    assert r.returncode != 0 and "no matching attestations" in r.stderr, r.stderr


def test_make_push_with_a_sign_key_that_is_not_there_stops_before_pushing(registry,
                                                                          cosign_home):
    missing = cosign_home / "no-such-dir/cosign.key"
    p = sh("make", "-s", "push", f"REGISTRY={registry}", "TAG=nokey", f"SIGN_KEY={missing}",
           cwd=ROOT, timeout=1800, check=False, env=cosign_env(cosign_home))
    assert p.returncode != 0
    assert (f'push: SIGN_KEY must name a readable cosign private key (cosign generate-key-pair), '
            f'got "{missing}"') in p.stderr, p.stderr
    assert "pushed" not in p.stdout
    r = crane("digest", f"{registry}/pgbouncer-entrypoint:nokey", check=False)
    assert r.returncode != 0, r.stdout


def test_make_push_with_the_wrong_cosign_password_stops_before_pushing(signed, registry,
                                                                       cosign_home):
    p = sh("make", "-s", "push", f"REGISTRY={registry}", "TAG=wrongpass",
           f"SIGN_KEY={signed.key}", cwd=ROOT, timeout=1800, check=False,
           env=cosign_env(cosign_home, COSIGN_PASSWORD="wrong-Pass-7"))
    assert p.returncode != 0
    assert f'push: COSIGN_PASSWORD is not the password of SIGN_KEY "{signed.key}"\n' in p.stderr, \
        p.stderr
    assert "pushed" not in p.stdout
    assert "wrong-Pass-7" not in p.stdout + p.stderr
    r = crane("digest", f"{registry}/pgbouncer-entrypoint:wrongpass", check=False)
    assert r.returncode != 0, r.stdout
