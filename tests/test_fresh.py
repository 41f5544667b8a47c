"""Fresh-machine tier: the README's commands in a pristine Debian 12 container
(the debootstrap rootfs of scripts/debian-rootfs.sh: no compiler, no musl, no
PostgreSQL, nothing of ours), from a copy of the tree as a clone has it.

While another package manager holds dpkg's lock (as unattended-upgrades does
on a new machine's first boot), `make demo` runs first, cold: it must wait for
the lock, build, log in through the pool and stop.  Then the README's build
and the fast tier (`make`, `make unit`), `--version` naming every linked
component, the SBOM agreeing with it, and a change of CFLAGS rebuilding the
binary (and changing it back restoring the same bytes).

The downloaded source packages (build/src) are copied in from the host's
cache: the tier proves the order of install and build, not the mirror.
PGBE_FRESH_REV=REV runs it on that commit's tree instead (`git archive`),
e.g. to show that it fails on a commit before the fix."""
import json
import os
import re
import shutil
import subprocess
import tarfile
import io

import pytest

from utils import ROOT, expected_sbom_versions, reported_versions
from test_docker import docker_available, sh

IMAGE = "pgbe-debian:bookworm"
VERSION = re.search(r'PGBE_VERSION "(.*)"', (ROOT / "src/base/version.h").read_text()).group(1)

if not docker_available():
    print("\n*** FRESH-MACHINE TIER SKIPPED: `docker info` failed ***\n")
    pytest.skip("FRESH-MACHINE TIER SKIPPED: docker info failed", allow_module_level=True)

# Runs in the container as root, in /src.  A perl one-liner (perl-base is in
# every Debian) holds dpkg's frontend lock the way apt does (an fcntl write
# lock) for the first 20 seconds.  Each step's wall time goes to out/times.
SCRIPT = r"""
set -eu
mkdir -p out
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null
perl -e 'use Fcntl; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die;
	my $l = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0);
	fcntl($f, F_SETLK, $l) or die "lock: $!";
	open(my $r, ">", "out/locked"); close $r; sleep 20' &
for _ in $(seq 100); do [ -e out/locked ] && break; sleep 0.1; done
[ -e out/locked ] || { echo "could not take dpkg's lock" >&2; exit 1; }
step() {
	name=$1; shift
	start=$EPOCHREALTIME
	"$@" >"out/$name.log" 2>&1 || { echo "$name: exit $?" >out/failed; tail -40 "out/$name.log"; exit 1; }
	awk -v n="$name" -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print n, b - a }' >>out/times
}
# no terminal: the demo logs in through the pool once, then stops
step demo timeout 900 make demo </dev/null
step build make
step unit make unit
build/pgbouncer-entrypoint --version >out/version
awk '$1 == "version" { print $2 }' build/deps-musl-amd64/components.d/musl >out/musl-built
python3 scripts/sbom.py out/sbom.json --image init --arch amd64 --version VERSION \
	--revision fresh --epoch 0 --components build/deps-musl-amd64/components \
	--bin build/pgbouncer-entrypoint --symbols build/pgbouncer-entrypoint.unstripped
sha256sum <build/pgbouncer-entrypoint >out/sha-default
step cflags make CFLAGS=-O1
sha256sum <build/pgbouncer-entrypoint >out/sha-O1
step back make
sha256sum <build/pgbouncer-entrypoint >out/sha-back
""".replace("VERSION", VERSION)


def tree(dest):
    """The project as a fresh clone has it: the working tree's files (edits
    included), or PGBE_FRESH_REV's."""
    rev = os.environ.get("PGBE_FRESH_REV")
    dest.mkdir()
    if rev:
        data = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True,
                              capture_output=True).stdout
        tarfile.open(fileobj=io.BytesIO(data)).extractall(dest)
        return
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout
    for f in filter(None, files.split("\0")):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    sh(str(ROOT / "scripts/debian-rootfs.sh"), IMAGE, timeout=1200)
    src = tmp_path_factory.mktemp("fresh") / "src"
    tree(src)
    if (ROOT / "build/src").is_dir():
        shutil.copytree(ROOT / "build/src", src / "build/src", symlinks=True)
    p = subprocess.run(["docker", "run", "--rm", "--label", "pgbe-test=fresh", "-v",
                        f"{src}:/src", "-w", "/src", IMAGE, "bash", "-c", SCRIPT],
                       capture_output=True, text=True, timeout=1500)
    out = src / "out"
    times = {}
    if (out / "times").exists():
        times = {k: float(v) for k, v in
                 (l.split() for l in (out / "times").read_text().splitlines())}
    line = "fresh machine, cold: " + ", ".join(f"make {k} {v:.0f} s" for k, v in times.items())
    print("\n" + line)
    # tests/run prints it after the tier: the measured cold times of README
    (ROOT / "build/fresh-machine-times").write_text(line + "\n")
    yield {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr, "out": out,
           "times": times}
    # files the container made are root's; the tmp tree goes with pytest's
    shutil.rmtree(src, ignore_errors=True)


def log(fresh, name):
    path = fresh["out"] / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def test_make_demo_waits_for_the_dpkg_lock_then_builds_and_logs_in_through_the_pool(fresh):
    demo = log(fresh, "demo")
    assert (fresh["out"] / "times").exists() and "demo" in fresh["times"], \
        fresh["stdout"][-3000:] + fresh["stderr"][-3000:] + demo[-3000:]
    # said that it waits, and on what; then went on
    assert re.search(r"waiting up to 600 s for another package manager: .*lock", demo), demo
    assert "through the pool: app on PostgreSQL 15" in demo, demo
    assert "Not a terminal: stopping both" in demo


def test_readme_build_and_fast_tier_pass_after_the_demo(fresh):
    assert fresh["rc"] == 0, fresh["stdout"][-3000:] + fresh["stderr"][-3000:]
    assert {"build", "unit"} <= set(fresh["times"])
    assert re.search(r"^unit: \d+ passed, 0 failed", log(fresh, "unit"), re.M), log(fresh, "unit")


def test_version_names_every_linked_component_musl_included(fresh):
    lines = (fresh["out"] / "version").read_text().splitlines()
    musl = (fresh["out"] / "musl-built").read_text().strip()
    assert lines[0] == f"pgbouncer-entrypoint {VERSION}"
    assert re.fullmatch(r"OpenSSL 3\.\d+\.\d+ \(Debian \S+, \d+ patches\)", lines[1]), lines
    assert re.fullmatch(r"libpq \d+\.\d+ \(Debian \S+, \d+ patches(, \d+ skipped)?\)", lines[2]), lines
    # the musl the build made from Debian's source, with its patches
    assert musl and re.fullmatch(rf"musl {re.escape(musl.split('-')[0])} "
                                 rf"\(Debian {re.escape(musl)}, \d+ patches\)", lines[3]), (lines, musl)


def test_sbom_agrees_with_what_the_binary_reports(fresh):
    reported = reported_versions((fresh["out"] / "version").read_text().splitlines())
    packages = {p["name"]: p for p in json.loads((fresh["out"] / "sbom.json").read_text())["packages"]}
    for name, version in expected_sbom_versions(reported).items():
        assert packages[name]["versionInfo"] == version, (name, reported)


def test_a_change_of_cflags_rebuilds_and_changing_back_gives_the_same_bytes(fresh):
    out = fresh["out"]
    default, o1, back = ((out / f"sha-{n}").read_text() for n in ("default", "O1", "back"))
    assert o1 != default, log(fresh, "cflags")
    assert back == default, log(fresh, "back")
    assert "build inputs:" in log(fresh, "cflags")
